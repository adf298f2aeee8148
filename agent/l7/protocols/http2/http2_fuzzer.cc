// libFuzzer entry for the HTTP/2 parser, through the engine (layout: fuzz_driver.h).
#include "agent/l7/protocols/http2/fuzz_driver.h"
#include "agent/l7/protocols/http2/http2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flowscope::agent::l7::fuzzing::RunConversation(data, size, {&flowscope::agent::l7::http2::kSpec});
  return 0;
}
