// libFuzzer entry for the tls parser: see agent/l7/testing/stream_fuzz.h.
#include "agent/l7/protocols/tls/tls.h"
#include "agent/l7/testing/stream_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace flowscope::agent::l7;  // NOLINT
  fuzzing::FuzzStreamParser(tls::kSpec, 443, bytes, size);
  return 0;
}
