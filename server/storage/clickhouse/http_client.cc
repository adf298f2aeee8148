#include "server/storage/clickhouse/http_client.h"

#include <curl/curl.h>
#include <zlib.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace flowscope::server::storage::clickhouse {

namespace {

constexpr size_t kMaxIdleHandles = 8;
constexpr std::chrono::milliseconds kMaxConnectTimeout{5000};

struct Sink {
  std::string* body;
  bool overflow = false;
};

size_t Write(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t len = size * n;
  if (sink->body->size() + len > HttpClient::kMaxReplyBytes) {
    sink->overflow = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  sink->body->append(data, len);
  return len;
}

}  // namespace

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

absl::StatusOr<std::string> Gzip(std::string_view in) {
  z_stream zs{};
  // windowBits 15 + 16: gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("clickhouse: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, in.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("clickhouse: deflate: ", rc));
  out.resize(produced);
  return out;
}

HttpClient::HttpClient(std::string base_url, std::string user, std::string password)
    : base_url_(std::move(base_url)), user_(std::move(user)), password_(std::move(password)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpClient::~HttpClient() {
  absl::MutexLock lock(&mu_);
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::TakeHandle() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void HttpClient::GiveBack(void* handle) {
  absl::MutexLock lock(&mu_);
  if (idle_.size() < kMaxIdleHandles) {
    idle_.push_back(handle);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(handle));
  }
}

HttpStats HttpClient::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::StatusOr<HttpReply> HttpClient::Post(
    const std::vector<std::pair<std::string, std::string>>& params, std::string_view body,
    std::chrono::milliseconds timeout) {
  std::string url = base_url_;
  char sep = '?';
  for (const auto& [k, v] : params) {
    absl::StrAppend(&url, std::string(1, sep), UrlEncode(k), "=", UrlEncode(v));
    sep = '&';
  }
  std::string compressed;
  bool gzip = body.size() >= kGzipMinBytes;
  if (gzip) {
    auto z = Gzip(body);
    if (!z.ok()) return z.status();
    compressed = *std::move(z);
    body = compressed;
  }

  CURL* h = static_cast<CURL*>(TakeHandle());
  if (h == nullptr) return absl::ResourceExhaustedError("clickhouse: curl_easy_init failed");
  // Reset keeps the handle's live connections, so the next request reuses them.
  curl_easy_reset(h);
  char errbuf[CURL_ERROR_SIZE] = {0};
  HttpReply reply;
  Sink sink{&reply.body};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  if (gzip) headers = curl_slist_append(headers, "Content-Encoding: gzip");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(timeout, kMaxConnectTimeout).count()));
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!user_.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, user_.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, password_.c_str());
  }
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  if (rc == CURLE_OK) {
    GiveBack(h);
  } else {
    curl_easy_cleanup(h);  // its connection is in an unknown state
  }
  {
    absl::MutexLock lock(&mu_);
    ++stats_.requests;
    if (rc == CURLE_OK) stats_.bytes_sent += body.size();
  }
  if (rc == CURLE_OK) return reply;

  std::string what = absl::StrCat(curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
  std::string msg = absl::StrCat("clickhouse: ", base_url_, ": ", what);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(
          absl::StrCat(msg, " (timeout ", timeout.count(), " ms)"));
    case CURLE_WRITE_ERROR:
      if (sink.overflow) {
        return absl::ResourceExhaustedError(
            absl::StrCat("clickhouse: reply larger than ", kMaxReplyBytes, " bytes"));
      }
      return absl::InternalError(msg);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(msg);
    default:
      // Refused, reset, unreachable, DNS: the server is not there now; retrying later may work.
      return absl::UnavailableError(msg);
  }
}

}  // namespace flowscope::server::storage::clickhouse
