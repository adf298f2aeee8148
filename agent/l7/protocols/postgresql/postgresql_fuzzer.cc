// libFuzzer entry for the postgresql parser: see agent/l7/testing/engine_like_fuzz.h.
#include "agent/l7/protocols/postgresql/postgresql.h"
#include "agent/l7/testing/engine_like_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flowscope::agent::l7;  // NOLINT
  return fuzzing::FuzzEngineLike<postgresql::PostgresqlParser>(postgresql::Infer, 5432, data, size);
}
