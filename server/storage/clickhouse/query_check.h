// The client-side half of "Query runs reads only": one statement, starting with SELECT, WITH,
// SHOW, DESCRIBE/DESC or EXISTS. The server-side half is the readonly=1 setting sent with every
// query, which also refuses SETTINGS clauses that try to lift it.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace flowscope::server::storage::clickhouse {

// The statement without trailing `;`, whitespace and comments, ready to get a FORMAT clause
// appended; or InvalidArgument naming what was refused.
absl::StatusOr<std::string_view> CheckReadOnlySql(std::string_view sql);

}  // namespace flowscope::server::storage::clickhouse
