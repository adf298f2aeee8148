#include "agent/l7/registry.h"

namespace flowscope::agent::l7 {

// Each protocol folder defines flowscope::agent::l7::<name>::kSpec.
#define FS_L7_PROTOCOL(name) \
  namespace name {           \
  extern const ProtocolSpec kSpec; \
  }
#include "agent/l7/protocols/list.h"
#undef FS_L7_PROTOCOL

const std::vector<const ProtocolSpec*>& AllProtocols() {
  static const std::vector<const ProtocolSpec*> kAll = {
#define FS_L7_PROTOCOL(name) &name::kSpec,
#include "agent/l7/protocols/list.h"
#undef FS_L7_PROTOCOL
  };
  return kAll;
}

const ProtocolSpec* FindProtocol(std::string_view name) {
  for (const ProtocolSpec* p : AllProtocols()) {
    if (p->name == name) return p;
  }
  return nullptr;
}

}  // namespace flowscope::agent::l7
