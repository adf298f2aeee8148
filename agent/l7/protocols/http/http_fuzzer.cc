// libFuzzer entry for the HTTP/1 parser (and the HTTP/2 parser it hands h2c upgrades to),
// through the engine (layout: agent/l7/protocols/http2/fuzz_driver.h).
#include "agent/l7/protocols/http/http.h"
#include "agent/l7/protocols/http2/fuzz_driver.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flowscope::agent::l7::fuzzing::RunConversation(data, size, {&flowscope::agent::l7::http::kSpec});
  return 0;
}
