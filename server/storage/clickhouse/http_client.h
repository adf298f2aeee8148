// A small HTTP/1.1 POST client for ClickHouse's HTTP interface, over libcurl.
//
// Handles are pooled: a request takes an idle handle (keeping its live connection: keep-alive)
// or makes one, and gives it back after. Safe for concurrent use. Bodies of at least
// kGzipMinBytes go gzip-compressed (Content-Encoding: gzip, level 1). Every request has a total
// timeout and a connect timeout, and the reply body is bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace flowscope::server::storage::clickhouse {

struct HttpReply {
  long status = 0;  // HTTP status code
  std::string body;
};

struct HttpStats {
  uint64_t requests = 0;
  uint64_t bytes_sent = 0;  // request bodies as sent (after gzip)
};

class HttpClient {
 public:
  static constexpr size_t kGzipMinBytes = 4096;
  static constexpr size_t kMaxReplyBytes = 256 << 20;

  // `base_url` is "http://host:port/"; user may be empty (ClickHouse's `default`).
  HttpClient(std::string base_url, std::string user, std::string password);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to base_url?k1=v1&k2=v2 (values URL-encoded). Transport failures are errors
  // (Unavailable for refused/unreachable, DeadlineExceeded for timeouts); any HTTP status is a
  // reply.
  absl::StatusOr<HttpReply> Post(const std::vector<std::pair<std::string, std::string>>& params,
                                 std::string_view body, std::chrono::milliseconds timeout);

  HttpStats Stats() const;
  const std::string& base_url() const { return base_url_; }

 private:
  void* TakeHandle();
  void GiveBack(void* handle);

  const std::string base_url_;
  const std::string user_;
  const std::string password_;
  mutable absl::Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);  // CURL*
  HttpStats stats_ ABSL_GUARDED_BY(mu_);
};

// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
std::string UrlEncode(std::string_view s);

// Gzip (RFC 1952) of `in` at level 1.
absl::StatusOr<std::string> Gzip(std::string_view in);

}  // namespace flowscope::server::storage::clickhouse
