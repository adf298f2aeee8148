// The protocol registry: every L7 protocol flowscope parses, in inference order. A protocol is
// added by its folder under agent/l7/protocols/ and one line in agent/l7/protocols/list.h.
#pragma once

#include <string_view>
#include <vector>

#include "agent/l7/parser.h"

namespace flowscope::agent::l7 {

const std::vector<const ProtocolSpec*>& AllProtocols();
// By ProtocolSpec::name ("http", "redis", ...); nullptr if unknown.
const ProtocolSpec* FindProtocol(std::string_view name);

}  // namespace flowscope::agent::l7
