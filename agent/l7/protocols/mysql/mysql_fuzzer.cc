// libFuzzer entry for the mysql parser: see agent/l7/testing/engine_like_fuzz.h.
#include "agent/l7/protocols/mysql/mysql.h"
#include "agent/l7/testing/engine_like_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flowscope::agent::l7;  // NOLINT
  return fuzzing::FuzzEngineLike<mysql::MysqlParser>(mysql::Infer, 3306, data, size);
}
