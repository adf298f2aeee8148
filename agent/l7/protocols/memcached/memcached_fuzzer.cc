// libFuzzer entry for the memcached parser: see agent/l7/testing/stream_fuzz.h.
#include "agent/l7/protocols/memcached/memcached.h"
#include "agent/l7/testing/stream_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace flowscope::agent::l7;  // NOLINT
  fuzzing::FuzzStreamParser(memcached::kSpec, 11211, bytes, size);
  return 0;
}
