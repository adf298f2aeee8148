#include "server/storage/backend.h"

#include "absl/strings/str_cat.h"
#ifdef FS_HAVE_SQLITE
#include "server/storage/sqlite/sqlite_backend.h"
#endif
#ifdef FS_HAVE_CLICKHOUSE
#include "server/storage/clickhouse/clickhouse_backend.h"
#endif

namespace flowscope::server::storage {

absl::StatusOr<std::unique_ptr<Backend>> OpenBackend(std::string_view url,
                                                     const BackendOptions& options) {
  if (url == "embedded" || url == "sqlite") {
#ifdef FS_HAVE_SQLITE
    sqlite::SqliteOptions o;
    o.data_dir = options.data_dir;
    return sqlite::OpenSqlite(o);
#else
    return absl::FailedPreconditionError(
        "storage: this build has no embedded backend (FS_STORAGE_BACKENDS lacks sqlite)");
#endif
  }
  if (url.starts_with("clickhouse://")) {
#ifdef FS_HAVE_CLICKHOUSE
    return clickhouse::OpenClickHouse(url, options);
#else
    return absl::FailedPreconditionError(
        absl::StrCat("storage: ", std::string(url),
                     ": this build has no ClickHouse backend (server/storage/clickhouse was "
                     "not built: see FS_STORAGE_BACKENDS and libcurl); use --storage embedded"));
#endif
  }
  return absl::InvalidArgumentError(absl::StrCat("storage: unknown backend \"", std::string(url),
                                                 "\"; use embedded or clickhouse://HOST:8123/DB"));
}

}  // namespace flowscope::server::storage
