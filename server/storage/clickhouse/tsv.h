// Reads ClickHouse's TSVWithNamesAndTypes replies into QueryResult values.
//
// The reply is untrusted input: any malformed byte sequence gives an error, never a crash.
// Values by ClickHouse type (Nullable and LowCardinality unwrapped; \N → std::monostate):
//   UInt*            → uint64_t          Int*             → int64_t
//   Float*           → double            DateTime[('tz')] → uint64_t seconds since the epoch
//   Array(...)       → vector<string> of the elements' text (strings unquoted)
//   IPv4, IPv6       → IpAddr
//   everything else (String, FixedString, Date, Enum, Decimal, UUID, Tuple ...) → the unescaped
//   text as std::string (FixedString keeps its trailing zero bytes).
// DateTime text is local time in the server's timezone unless the type names one.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/storage/backend.h"

namespace flowscope::server::storage::clickhouse {

// Parses `body`; `server_timezone` is the server's timezone() (an IANA name).
absl::StatusOr<QueryResult> ParseTsvWithNamesAndTypes(std::string_view body,
                                                      std::string_view server_timezone);

// TabSeparated unescaping of one field (\t \n \\ \' \0 \xHH ...). False on a dangling escape.
bool UnescapeTsv(std::string_view field, std::string* out);

}  // namespace flowscope::server::storage::clickhouse
