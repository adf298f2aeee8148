// libFuzzer entry for the redis parser: see agent/l7/testing/stream_fuzz.h.
#include "agent/l7/protocols/redis/redis.h"
#include "agent/l7/testing/stream_fuzz.h"

namespace {
void Configure(flowscope::agent::l7::L7Config& c, uint8_t ctl) { c.obfuscate_redis = (ctl & 1) != 0; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace flowscope::agent::l7;  // NOLINT
  fuzzing::FuzzStreamParser(redis::kSpec, 6379, bytes, size, Configure);
  return 0;
}
