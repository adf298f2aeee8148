// libFuzzer entry: ClickHouse replies are untrusted input to ParseTsvWithNamesAndTypes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/storage/clickhouse/tsv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto r = flowscope::server::storage::clickhouse::ParseTsvWithNamesAndTypes(body, "UTC");
  (void)r;
  return 0;
}
