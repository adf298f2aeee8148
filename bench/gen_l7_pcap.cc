// gen_l7_pcap: writes the synthetic capture of the L7 benchmark (bench/run_l7_bench.sh;
// docs/benchmarks.md, "L7 request logs"): request/response traffic of ONE protocol, correct
// down to the bytes, so that flowscope's parsers (and tshark's dissectors) see real messages.
// Generated at bench time, never committed.
//
//   --protocol http   HTTP/1.1 GET/POST requests with 6-10 headers (some with traceparent,
//                     cookies, bearer tokens), responses 200/404/500 with Content-Length bodies
//                     of a few hundred bytes to a few KB, on port 80
//   --protocol redis  RESP2 commands GET/SET/HGETALL/INCR/LRANGE and their replies (bulk
//                     strings, nil, integers, arrays, simple strings, some errors); a fifth of
//                     the exchanges pipeline 2-10 commands in one segment; port 6379
//   --protocol mysql  the server greeting, HandshakeResponse41 login and OK, then COM_QUERY
//                     SELECT (result sets: column count, column definitions, EOF, text rows,
//                     EOF), INSERT/UPDATE (OK with affected rows), some ERR packets; port 3306
//
// Every connection has a three-way handshake (MSS, SACK, timestamps, window scale), then
// --requests requests, then a FIN close. Sequence and acknowledgement numbers are consistent,
// messages longer than the MSS (1448, Ethernet with TCP timestamps) are segmented, and the
// receiver ACKs every second segment and the last one (a server piggybacks the ACK of a
// request on its response). The tap sits next to the servers: a server's packets follow the
// client's at once, the client's answer comes one RTT later. Frames are whole (snaplen 65535).
//
// Layouts:
//   interleaved  connections start over --ramp-seconds and run their exchanges with think
//                times in between (exponential, mean --think-ms): many overlap, as in front of
//                a busy server. The throughput figure.
//   concurrent   all connections open first (over --ramp-seconds), then every connection does
//                its exchanges in rounds (a shuffled order per round), then all close: the
//                --flows connections are open at once. The memory figure.
//
// Deterministic: the same options give the same file, byte for byte. The summary on stdout
// (key=value lines) counts what was generated: requests, responses, errors, packets, bytes.
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <numeric>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

namespace flowscope::bench {
namespace {

constexpr uint64_t kUs = 1000;
constexpr uint64_t kMs = 1000 * kUs;
constexpr uint64_t kSec = 1000 * kMs;
constexpr uint64_t kEpochNs = 1'700'000'000 * kSec;  // 2023-11-14, the trace's first second
constexpr uint32_t kMss = 1448;                      // 1500 - IPv4 - TCP - timestamp option

// splitmix64: small, fast, and identical everywhere (the std:: distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  uint64_t Below(uint64_t n) { return Next() % n; }
  uint64_t Between(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }  // inclusive
  bool Chance(double p) { return Uniform() < p; }
  double Exponential(double mean) { return -mean * std::log(1.0 - Uniform()); }
  double LogUniform(double lo, double hi) { return lo * std::exp(std::log(hi / lo) * Uniform()); }
  // Log-normal with the given median, clamped to [lo, hi].
  uint32_t LogNormal(double median, double sigma, uint32_t lo, uint32_t hi) {
    double u1 = 1.0 - Uniform();
    double u2 = Uniform();
    double n = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
    double v = median * std::exp(sigma * n);
    return static_cast<uint32_t>(std::clamp(v, static_cast<double>(lo), static_cast<double>(hi)));
  }
  template <typename T, size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Below(N)];
  }

 private:
  uint64_t state_;
};

uint64_t Mix(uint64_t a, uint64_t b) { return Rng(a * 0x9e3779b97f4a7c15ull ^ b).Next(); }

// For printf's %llu.
unsigned long long U(uint64_t v) { return v; }

enum class Protocol : uint8_t { kHttp, kRedis, kMysql };
enum class Layout : uint8_t { kInterleaved, kConcurrent };

struct GenConfig {
  Protocol protocol = Protocol::kHttp;
  Layout layout = Layout::kInterleaved;
  std::string out;
  uint64_t flows = 2000;
  uint32_t requests = 250;  // per connection (Redis: commands, pipelined ones included)
  uint64_t seed = 1;
  double ramp_seconds = 1.0;
  double think_ms = 20.0;
  uint32_t clients = 2000;  // client hosts
  uint32_t servers = 16;
  uint16_t port = 0;  // 0: the protocol's
};

// ---- Bytes ---------------------------------------------------------------------------------

void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Ones' complement sum of `n` bytes (RFC 1071), folded later.
uint32_t SumBytes(const uint8_t* p, uint32_t n, uint32_t sum) {
  for (; n >= 2; p += 2, n -= 2) sum += (static_cast<uint32_t>(p[0]) << 8) | p[1];
  if (n == 1) sum += static_cast<uint32_t>(p[0]) << 8;
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void Append(std::string* s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Append(std::string* s, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  s->append(buf, static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof(buf)) - 1)));
}

std::string Hex(Rng& rng, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (char& c : s) c = kDigits[rng.Below(16)];
  return s;
}

// Printable filler (no CR/LF), deterministic per position.
void AppendFiller(std::string* s, uint32_t n, uint64_t salt) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
  for (uint32_t i = 0; i < n; ++i) {
    s->push_back(kAlphabet[(Mix(salt, i / 8) >> ((i % 8) * 6)) & 63]);
  }
}

// ---- Exchanges -----------------------------------------------------------------------------

// One side's message (or pipelined messages) of an exchange.
struct Turn {
  bool from_client = true;
  // Client: think/processing time after the previous turn reached it. Server: time from the
  // request's last byte to the response's first (the application's latency).
  uint64_t delay_ns = 0;
  std::string data;
};

struct Exchange {
  std::vector<Turn> turns;
  uint32_t requests = 0;  // request messages (what tshark counts and flowscope should log)
  uint32_t responses = 0;
  uint32_t errors = 0;     // responses that report an error (HTTP 4xx/5xx, Redis -ERR, MySQL ERR)
  uint32_t logins = 0;     // MySQL: the login request (counted in `requests` too)
  uint32_t pipelined = 0;  // Redis: requests sent in a pipeline of two or more
  uint32_t segments = 0;   // filled by the flow
};

Turn& AddTurn(Exchange* ex, bool from_client, uint64_t delay_ns) {
  Turn& t = ex->turns.emplace_back();
  t.from_client = from_client;
  t.delay_ns = delay_ns;
  return t;
}

// What a connection's protocol generator knows about it.
struct Conn {
  uint64_t id = 0;
  uint32_t requests_done = 0;
  uint32_t requests_total = 0;
  uint32_t mysql_thread_id = 0;
  uint64_t mysql_last_insert_id = 0;
};

// ---- HTTP/1.1 (RFC 9110, 9112) ---------------------------------------------------------------

std::string HttpDate(uint64_t epoch_ns) {
  time_t secs = static_cast<time_t>(epoch_ns / kSec);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &t);
  return buf;
}

// A JSON body of exactly `n` bytes (n >= 40): items, then a padding string.
std::string JsonBody(Rng& rng, uint32_t n, std::string_view request_id) {
  std::string b;
  b.reserve(n);
  Append(&b, "{\"request_id\":\"%.*s\",\"items\":[", static_cast<int>(request_id.size()),
         request_id.data());
  for (int i = 0;; ++i) {
    // One draw per statement: the order in which arguments are evaluated is unspecified, and
    // the file must be the same whatever the compiler.
    const uint64_t id = rng.Below(10'000'000);
    const uint64_t sku = rng.Below(1'000'000);
    const uint64_t qty = rng.Between(1, 9);
    const uint64_t price = rng.Between(1, 499);
    const uint64_t cents = rng.Below(100);
    std::string item;
    Append(&item, "%s{\"id\":%llu,\"sku\":\"SKU-%06llu\",\"qty\":%llu,\"price\":\"%llu.%02llu\"}",
           i == 0 ? "" : ",", U(id), U(sku), U(qty), U(price), U(cents));
    if (b.size() + item.size() + 12 > n) break;
    b += item;
  }
  b += "],\"pad\":\"";
  if (b.size() + 2 > n) b.resize(n >= 2 ? n - 2 : 0);  // tiny n: not valid JSON, still n bytes
  uint32_t pad = n - static_cast<uint32_t>(b.size()) - 2;
  AppendFiller(&b, pad, rng.Next());
  b += "\"}";
  return b;
}

void HttpExchange(Rng& rng, Conn& conn, uint64_t now_ns, Exchange* ex) {
  static constexpr const char* kAgents[] = {
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36",
      "curl/7.88.1",
      "okhttp/4.12.0",
      "Go-http-client/1.1",
      "python-requests/2.31.0",
      "Apache-HttpClient/4.5.14 (Java/17.0.9)",
  };
  static constexpr const char* kCategories[] = {"books", "garden", "toys", "audio", "kitchen"};
  static constexpr const char* kWords[] = {"lamp", "usb-c+cable", "chair", "coffee", "desk"};
  const bool post = rng.Chance(0.25);
  std::string path;
  if (post) {
    static constexpr const char* kPosts[] = {"/api/v1/orders", "/api/v1/cart/items",
                                             "/api/v1/events", "/api/v1/sessions"};
    path = rng.Pick(kPosts);
  } else {
    switch (rng.Below(6)) {
      case 0:
        Append(&path, "/api/v1/users/%llu", U(rng.Below(1'000'000)));
        break;
      case 1:
        Append(&path, "/api/v1/orders/%llu/items", U(rng.Below(10'000'000)));
        break;
      case 2: {
        const char* category = rng.Pick(kCategories);
        Append(&path, "/api/v2/products?category=%s&page=%llu", category, U(rng.Between(1, 20)));
        break;
      }
      case 3:
        path = "/api/v1/cart";
        break;
      case 4:
        Append(&path, "/api/v1/search?q=%s&limit=20", rng.Pick(kWords));
        break;
      default:
        Append(&path, "/static/js/app.%s.js", Hex(rng, 8).c_str());
        break;
    }
  }
  std::string request_id = Hex(rng, 8);
  request_id += "-" + Hex(rng, 4);
  request_id += "-4" + Hex(rng, 3);
  request_id += "-a" + Hex(rng, 3);
  request_id += "-" + Hex(rng, 12);
  std::string body;
  if (post) body = JsonBody(rng, rng.LogNormal(250, 0.6, 80, 700), request_id);

  // Request: request line, then 6-10 header fields.
  Turn& req = AddTurn(ex, true, 0);
  std::string& r = req.data;
  Append(&r, "%s %s HTTP/1.1\r\n", post ? "POST" : "GET", path.c_str());
  Append(&r, "Host: api.shop.example.com\r\n");
  Append(&r, "User-Agent: %s\r\n", rng.Pick(kAgents));
  Append(&r, "Accept: %s\r\n", post || rng.Chance(0.7) ? "application/json" : "*/*");
  Append(&r, "Accept-Encoding: gzip, deflate, br\r\n");
  Append(&r, "Connection: keep-alive\r\n");
  Append(&r, "X-Request-ID: %s\r\n", request_id.c_str());
  int headers = 6;
  if (post) {
    Append(&r, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body.size());
    headers += 2;
  }
  const int target = static_cast<int>(rng.Between(6, 10));
  // Optional fields in a fixed order, each with its own chance, up to the target count.
  if (headers < target && rng.Chance(0.5)) {
    const std::string trace_id = Hex(rng, 32);
    Append(&r, "traceparent: 00-%s-%s-01\r\n", trace_id.c_str(), Hex(rng, 16).c_str());
    ++headers;
  }
  if (headers < target && rng.Chance(0.5)) {
    Append(&r, "Authorization: Bearer %s\r\n", Hex(rng, 40).c_str());
    ++headers;
  }
  if (headers < target && rng.Chance(0.5)) {
    Append(&r, "Cookie: session=%s; theme=dark\r\n", Hex(rng, 32).c_str());
    ++headers;
  }
  if (headers < target && rng.Chance(0.6)) {
    Append(&r, "Accept-Language: en-US,en;q=0.9\r\n");
    ++headers;
  }
  if (headers < target) {
    Append(&r, "X-Forwarded-For: 203.0.113.%llu\r\n", U(rng.Between(1, 254)));
    ++headers;
  }
  r += "\r\n";
  r += body;
  ex->requests = 1;

  // Response.
  int status = 200;
  double p = rng.Uniform();
  if (p < (post ? 0.02 : 0.06)) {
    status = 404;
  } else if (p < (post ? 0.07 : 0.09)) {
    status = 500;
  }
  std::string rbody;
  const char* reason = "OK";
  const char* type = "application/json";
  if (status == 200) {
    uint32_t n = rng.LogNormal(900, 0.8, 200, 6000);
    if (path.starts_with("/static/")) {
      type = "application/javascript";
      rbody = "(function(){\"use strict\";var m={};";
      AppendFiller(&rbody, n > rbody.size() + 4 ? n - static_cast<uint32_t>(rbody.size()) - 4 : 0,
                   rng.Next());
      rbody += "})();";
    } else {
      rbody = JsonBody(rng, n, request_id);
    }
  } else if (status == 404) {
    reason = "Not Found";
    rbody = "{\"error\":\"not found\",\"path\":\"" + path + "\",\"detail\":\"";
    AppendFiller(&rbody, static_cast<uint32_t>(rng.Between(100, 300)), rng.Next());
    rbody += "\"}";
  } else {
    reason = "Internal Server Error";
    rbody = "{\"error\":\"internal server error\",\"request_id\":\"" + request_id +
            "\",\"detail\":\"upstream connect error or disconnect/reset before headers: ";
    AppendFiller(&rbody, static_cast<uint32_t>(rng.Between(100, 400)), rng.Next());
    rbody += "\"}";
  }
  const uint64_t latency = static_cast<uint64_t>(rng.LogNormal(2000, 1.0, 100, 200'000)) * kUs;
  Turn& resp = AddTurn(ex, false, latency);
  std::string& s = resp.data;
  Append(&s, "HTTP/1.1 %d %s\r\n", status, reason);
  Append(&s, "Server: nginx/1.22.1\r\n");
  Append(&s, "Date: %s\r\n", HttpDate(kEpochNs + now_ns + latency).c_str());
  Append(&s, "Content-Type: %s\r\n", type);
  Append(&s, "Content-Length: %zu\r\n", rbody.size());
  Append(&s, "Connection: keep-alive\r\n");
  if (status == 200) {
    Append(&s, "Cache-Control: %s\r\n",
           path.starts_with("/static/") ? "public, max-age=31536000, immutable" : "no-cache");
    Append(&s, "ETag: W/\"%s\"\r\n", Hex(rng, 16).c_str());
  }
  Append(&s, "X-Request-ID: %s\r\n", request_id.c_str());
  Append(&s, "Vary: Accept-Encoding\r\n");
  s += "\r\n";
  s += rbody;
  ex->responses = 1;
  ex->errors = status >= 400;
  ++conn.requests_done;
}

// ---- Redis RESP2 (https://redis.io/docs/reference/protocol-spec/) ----------------------------

void RespCommand(std::string* out, std::initializer_list<std::string_view> args) {
  Append(out, "*%zu\r\n", args.size());
  for (std::string_view a : args) {
    Append(out, "$%zu\r\n", a.size());
    out->append(a);
    *out += "\r\n";
  }
}
void RespBulk(std::string* out, std::string_view v) {
  Append(out, "$%zu\r\n", v.size());
  out->append(v);
  *out += "\r\n";
}

std::string RedisValue(Rng& rng, uint32_t n) {
  std::string v = "{\"v\":1,\"data\":\"";
  AppendFiller(&v, n > v.size() + 2 ? n - static_cast<uint32_t>(v.size()) - 2 : 0, rng.Next());
  v += "\"}";
  return v;
}

// One command into `req`, its reply into `resp`; true if the reply is an error.
bool RedisCommand(Rng& rng, std::string* req, std::string* resp) {
  static constexpr const char* kWrongType =
      "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
  double p = rng.Uniform();
  char key[64];
  if (p < 0.40) {  // GET
    std::snprintf(key, sizeof(key), "user:%llu:profile", U(rng.Below(1'000'000)));
    RespCommand(req, {"GET", key});
    double q = rng.Uniform();
    if (q < 0.02) {
      *resp += kWrongType;
      return true;
    }
    if (q < 0.12) {
      *resp += "$-1\r\n";  // nil
    } else {
      RespBulk(resp, RedisValue(rng, rng.LogNormal(300, 0.9, 20, 4000)));
    }
    return false;
  }
  if (p < 0.65) {  // SET, often with an expiry
    std::snprintf(key, sizeof(key), "session:%s", Hex(rng, 24).c_str());
    std::string value = RedisValue(rng, rng.LogNormal(200, 0.8, 20, 1500));
    if (rng.Chance(0.6)) {
      RespCommand(req, {"SET", key, value, "EX", "3600"});
    } else {
      RespCommand(req, {"SET", key, value});
    }
    *resp += "+OK\r\n";
    return false;
  }
  if (p < 0.75) {  // HGETALL
    std::snprintf(key, sizeof(key), "cart:%llu", U(rng.Below(1'000'000)));
    RespCommand(req, {"HGETALL", key});
    if (rng.Chance(0.02)) {
      *resp += kWrongType;
      return true;
    }
    uint32_t fields = rng.Chance(0.05) ? 0 : static_cast<uint32_t>(rng.Between(3, 12));
    Append(resp, "*%u\r\n", fields * 2);
    for (uint32_t i = 0; i < fields; ++i) {
      char field[32];
      std::snprintf(field, sizeof(field), "sku:%06llu", U(rng.Below(1'000'000)));
      RespBulk(resp, field);
      RespBulk(resp, std::to_string(rng.Between(1, 9)));
    }
    return false;
  }
  if (p < 0.90) {  // INCR
    std::snprintf(key, sizeof(key), "counter:page:%llu", U(rng.Below(5000)));
    RespCommand(req, {"INCR", key});
    if (rng.Chance(0.01)) {
      *resp += "-ERR value is not an integer or out of range\r\n";
      return true;
    }
    Append(resp, ":%llu\r\n", U(rng.Between(1, 50'000'000)));
    return false;
  }
  // LRANGE
  std::snprintf(key, sizeof(key), "queue:jobs:%llu", U(rng.Below(64)));
  RespCommand(req, {"LRANGE", key, "0", "9"});
  if (rng.Chance(0.02)) {
    *resp += kWrongType;
    return true;
  }
  uint32_t items = static_cast<uint32_t>(rng.Below(11));
  Append(resp, "*%u\r\n", items);
  for (uint32_t i = 0; i < items; ++i) {
    RespBulk(resp, RedisValue(rng, static_cast<uint32_t>(rng.Between(20, 200))));
  }
  return false;
}

void RedisExchange(Rng& rng, Conn& conn, Exchange* ex) {
  uint32_t left = conn.requests_total - conn.requests_done;
  uint32_t n = 1;
  if (rng.Chance(0.2)) n = static_cast<uint32_t>(rng.Between(2, 10));  // a pipeline
  n = std::min(n, left);
  Turn& req = AddTurn(ex, true, 0);
  std::string resp_data;
  for (uint32_t i = 0; i < n; ++i) ex->errors += RedisCommand(rng, &req.data, &resp_data);
  // Redis answers in tens of microseconds.
  Turn& resp = AddTurn(ex, false, (15 + rng.Below(60) + 5 * n) * kUs);
  resp.data = std::move(resp_data);
  ex->requests = n;
  ex->responses = n;
  ex->pipelined = n > 1 ? n : 0;
  conn.requests_done += n;
}

// ---- MySQL client/server protocol --------------------------------------------------------------
// https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html: Protocol::Handshake
// (v10), Protocol::HandshakeResponse41, COM_QUERY and its text result set, OK, ERR and EOF
// packets. The client is modelled on libmariadb (MariaDB Connector/C, the client of the
// recorded agent/l7/protocols/mysql/testdata): it asks for CLIENT_SESSION_TRACK but not for
// CLIENT_DEPRECATE_EOF, so result sets end their column definitions and rows with EOF packets.

constexpr uint32_t kClientLongFlag = 0x4, kClientConnectWithDb = 0x8, kClientLocalFiles = 0x80,
                   kClientProtocol41 = 0x200, kClientTransactions = 0x2000,
                   kClientSecureConnection = 0x8000, kClientMultiResults = 0x20000,
                   kClientPluginAuth = 0x80000, kClientConnectAttrs = 0x100000,
                   kClientPluginAuthLenenc = 0x200000, kClientMultiStatements = 0x10000,
                   kClientPsMultiResults = 0x40000, kClientSessionTrack = 0x800000;
constexpr uint16_t kServerStatusAutocommit = 0x0002;

void Le16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v));
  s->push_back(static_cast<char>(v >> 8));
}
void Le32(std::string* s, uint32_t v) {
  Le16(s, static_cast<uint16_t>(v));
  Le16(s, static_cast<uint16_t>(v >> 16));
}
void Lenenc(std::string* s, uint64_t v) {
  if (v < 251) {
    s->push_back(static_cast<char>(v));
  } else if (v < 65536) {
    s->push_back(static_cast<char>(0xfc));
    Le16(s, static_cast<uint16_t>(v));
  } else if (v < (1u << 24)) {
    s->push_back(static_cast<char>(0xfd));
    Le16(s, static_cast<uint16_t>(v));
    s->push_back(static_cast<char>(v >> 16));
  } else {
    s->push_back(static_cast<char>(0xfe));
    Le32(s, static_cast<uint32_t>(v));
    Le32(s, static_cast<uint32_t>(v >> 32));
  }
}
void LenencStr(std::string* s, std::string_view v) {
  Lenenc(s, v.size());
  s->append(v);
}
// One packet: 3-byte length, sequence id, payload.
void MyPacket(std::string* out, uint8_t* seq, std::string_view payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  out->push_back(static_cast<char>(n));
  out->push_back(static_cast<char>(n >> 8));
  out->push_back(static_cast<char>(n >> 16));
  out->push_back(static_cast<char>((*seq)++));
  out->append(payload);
}
void MyOk(std::string* out, uint8_t* seq, uint64_t affected, uint64_t insert_id,
          std::string_view info) {
  std::string p(1, '\0');
  Lenenc(&p, affected);
  Lenenc(&p, insert_id);
  Le16(&p, kServerStatusAutocommit);
  Le16(&p, 0);  // warnings
  // With CLIENT_SESSION_TRACK the info is a length-encoded string, present when not empty.
  if (!info.empty()) LenencStr(&p, info);
  MyPacket(out, seq, p);
}
void MyErr(std::string* out, uint8_t* seq, uint16_t code, std::string_view state,
           std::string_view message) {
  std::string p(1, '\xff');
  Le16(&p, code);
  p += '#';
  p.append(state);
  p.append(message);
  MyPacket(out, seq, p);
}
void MyEof(std::string* out, uint8_t* seq) {
  std::string p(1, '\xfe');
  Le16(&p, 0);  // warnings
  Le16(&p, kServerStatusAutocommit);
  MyPacket(out, seq, p);
}

struct Column {
  const char* name;
  uint8_t type;  // MYSQL_TYPE_*
  uint32_t length;
};
constexpr uint8_t kTypeTiny = 0x01, kTypeLonglong = 0x08, kTypeDatetime = 0x0c,
                  kTypeNewDecimal = 0xf6, kTypeVarString = 0xfd;

void MyColumnDef(std::string* out, uint8_t* seq, std::string_view table, const Column& c) {
  std::string p;
  LenencStr(&p, "def");
  LenencStr(&p, "shop");
  LenencStr(&p, table);
  LenencStr(&p, table);
  LenencStr(&p, c.name);
  LenencStr(&p, c.name);
  p.push_back(0x0c);  // length of the fixed fields
  const bool text = c.type == kTypeVarString;
  Le16(&p, text ? 255 : 63);  // utf8mb4_0900_ai_ci or binary
  Le32(&p, c.length);
  p.push_back(static_cast<char>(c.type));
  Le16(&p, c.type == kTypeLonglong && c.name[0] == 'i' && c.name[1] == 'd' ? 0x4203 : 0x1001);
  p.push_back(c.type == kTypeNewDecimal ? 2 : 0);
  Le16(&p, 0);  // filler
  MyPacket(out, seq, p);
}

std::string MyValue(Rng& rng, const Column& c, uint64_t row_id) {
  char buf[96];
  switch (c.type) {
    case kTypeTiny:
      return std::to_string(rng.Below(4));
    case kTypeLonglong:
      return std::to_string(c.name[0] == 'i' ? row_id : rng.Below(1'000'000));
    case kTypeDatetime: {
      const uint64_t month = rng.Between(1, 11);
      const uint64_t day = rng.Between(1, 28);
      const uint64_t hour = rng.Below(24);
      const uint64_t minute = rng.Below(60);
      const uint64_t second = rng.Below(60);
      std::snprintf(buf, sizeof(buf), "2023-%02llu-%02llu %02llu:%02llu:%02llu", U(month), U(day),
                    U(hour), U(minute), U(second));
      return buf;
    }
    case kTypeNewDecimal: {
      const uint64_t units = rng.Between(1, 999);
      std::snprintf(buf, sizeof(buf), "%llu.%02llu", U(units), U(rng.Below(100)));
      return buf;
    }
    default: {
      std::string s;
      if (std::strcmp(c.name, "email") == 0) {
        Append(&s, "user%llu@example.com", U(row_id));
      } else if (std::strcmp(c.name, "status") == 0) {
        static constexpr const char* kStatus[] = {"new", "paid", "shipped", "cancelled"};
        s = rng.Pick(kStatus);
      } else {
        s = std::string(c.name) + " ";
        AppendFiller(&s, static_cast<uint32_t>(rng.Between(8, 40)), rng.Next());
      }
      return s;
    }
  }
}

void MyResultSet(Rng& rng, std::string* out, uint8_t* seq, std::string_view table,
                 const std::vector<Column>& cols, uint32_t rows) {
  std::string p;
  Lenenc(&p, cols.size());
  MyPacket(out, seq, p);
  for (const Column& c : cols) MyColumnDef(out, seq, table, c);
  MyEof(out, seq);
  for (uint32_t r = 0; r < rows; ++r) {
    std::string row;
    uint64_t row_id = rng.Between(1, 10'000'000);
    for (const Column& c : cols) {
      if (rng.Chance(0.03) && c.name[0] != 'i') {
        row.push_back(static_cast<char>(0xfb));  // NULL
      } else {
        LenencStr(&row, MyValue(rng, c, row_id));
      }
    }
    MyPacket(out, seq, row);
  }
  MyEof(out, seq);
}

// Greeting, login and OK: the connection's opening exchange.
void MysqlOpen(Rng& rng, Conn& conn, Exchange* ex) {
  static constexpr char kPrintable[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%&()*+,-./:;<=>?@[]^_{|}~";
  auto scramble = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(kPrintable[rng.Below(sizeof(kPrintable) - 1)]);
    return s;
  };
  conn.mysql_thread_id = static_cast<uint32_t>(rng.Between(1000, 4'000'000));
  conn.mysql_last_insert_id = rng.Between(1'000'000, 9'000'000);
  const uint32_t server_caps = 0xdfffffff & ~0x0800u;  // all but CLIENT_SSL (and bit 29)
  {
    Turn& t = AddTurn(ex, false, (30 + rng.Below(70)) * kUs);
    std::string p;
    p.push_back(10);  // protocol version
    p.append("8.0.36");
    p.push_back('\0');
    Le32(&p, conn.mysql_thread_id);
    p.append(scramble(8));
    p.push_back('\0');
    Le16(&p, static_cast<uint16_t>(server_caps));
    p.push_back(static_cast<char>(255));  // utf8mb4_0900_ai_ci
    Le16(&p, kServerStatusAutocommit);
    Le16(&p, static_cast<uint16_t>(server_caps >> 16));
    p.push_back(21);  // auth plugin data length
    p.append(10, '\0');
    p.append(scramble(12));
    p.push_back('\0');
    p.append("mysql_native_password");
    p.push_back('\0');
    uint8_t seq = 0;
    MyPacket(&t.data, &seq, p);
  }
  {
    Turn& t = AddTurn(ex, true, (40 + rng.Below(80)) * kUs);
    const uint32_t caps = kClientLongFlag | kClientConnectWithDb | kClientLocalFiles |
                          kClientProtocol41 | kClientTransactions | kClientSecureConnection |
                          kClientMultiStatements | kClientMultiResults | kClientPsMultiResults |
                          kClientPluginAuth | kClientConnectAttrs | kClientPluginAuthLenenc |
                          kClientSessionTrack;
    std::string p;
    Le32(&p, caps);
    Le32(&p, 1 << 24);  // max packet size
    p.push_back(45);    // utf8mb4_general_ci
    p.append(23, '\0');
    char user[32];
    std::snprintf(user, sizeof(user), "svc_orders_%llu", U(conn.id % 8));
    p.append(user);
    p.push_back('\0');
    std::string auth;
    for (int i = 0; i < 20; ++i) auth.push_back(static_cast<char>(rng.Next()));
    LenencStr(&p, auth);
    p.append("shop");
    p.push_back('\0');
    p.append("mysql_native_password");
    p.push_back('\0');
    std::string attrs;
    LenencStr(&attrs, "_os");
    LenencStr(&attrs, "Linux");
    LenencStr(&attrs, "_client_name");
    LenencStr(&attrs, "libmariadb");
    LenencStr(&attrs, "_pid");
    LenencStr(&attrs, std::to_string(rng.Between(100, 99999)));
    LenencStr(&attrs, "_client_version");
    LenencStr(&attrs, "3.3.8");
    LenencStr(&attrs, "_platform");
    LenencStr(&attrs, "x86_64");
    Lenenc(&p, attrs.size());
    p += attrs;
    uint8_t seq = 1;
    MyPacket(&t.data, &seq, p);
  }
  {
    Turn& t = AddTurn(ex, false, (150 + rng.Below(400)) * kUs);  // password check
    uint8_t seq = 2;
    MyOk(&t.data, &seq, 0, 0, "");
  }
  ex->requests = 1;
  ex->responses = 1;
  ex->logins = 1;
}

void MysqlExchange(Rng& rng, Conn& conn, Exchange* ex) {
  static const std::vector<Column> kUsers = {{"id", kTypeLonglong, 20},
                                             {"name", kTypeVarString, 1020},
                                             {"email", kTypeVarString, 1020},
                                             {"status", kTypeVarString, 80},
                                             {"created_at", kTypeDatetime, 19}};
  static const std::vector<Column> kOrders = {{"id", kTypeLonglong, 20},
                                              {"user_id", kTypeLonglong, 20},
                                              {"total", kTypeNewDecimal, 12},
                                              {"status", kTypeVarString, 80},
                                              {"created_at", kTypeDatetime, 19}};
  static const std::vector<Column> kProducts = {
      {"id", kTypeLonglong, 20},      {"sku", kTypeVarString, 256}, {"title", kTypeVarString, 1020},
      {"price", kTypeNewDecimal, 12}, {"stock", kTypeLonglong, 20}, {"active", kTypeTiny, 1}};
  static const std::vector<Column> kCount = {{"COUNT(*)", kTypeLonglong, 21}};
  Turn& req = AddTurn(ex, true, 0);
  std::string q(1, '\x03');  // COM_QUERY
  std::string resp;
  uint8_t seq = 1;
  uint64_t latency_us = 0;
  double p = rng.Uniform();
  if (p < 0.60) {  // SELECT with a result set
    switch (rng.Below(4)) {
      case 0:
        Append(&q, "SELECT id, name, email, status, created_at FROM users WHERE id = %llu",
               U(rng.Between(1, 1'000'000)));
        MyResultSet(rng, &resp, &seq, "users", kUsers, rng.Chance(0.1) ? 0 : 1);
        latency_us = rng.LogNormal(250, 0.6, 60, 20'000);
        break;
      case 1:
        Append(&q,
               "SELECT id, user_id, total, status, created_at FROM orders WHERE user_id = %llu "
               "ORDER BY created_at DESC LIMIT 20",
               U(rng.Between(1, 1'000'000)));
        MyResultSet(rng, &resp, &seq, "orders", kOrders, static_cast<uint32_t>(rng.Below(21)));
        latency_us = rng.LogNormal(600, 0.7, 100, 50'000);
        break;
      case 2:
        Append(&q,
               "SELECT id, sku, title, price, stock, active FROM products WHERE category_id = "
               "%llu AND stock > 0 ORDER BY price LIMIT 50",
               U(rng.Between(1, 300)));
        MyResultSet(rng, &resp, &seq, "products", kProducts,
                    static_cast<uint32_t>(rng.Between(5, 30)));
        latency_us = rng.LogNormal(1200, 0.7, 200, 100'000);
        break;
      default:
        Append(&q, "SELECT COUNT(*) FROM orders WHERE status = 'new' AND user_id = %llu",
               U(rng.Between(1, 1'000'000)));
        MyResultSet(rng, &resp, &seq, "", kCount, 1);
        latency_us = rng.LogNormal(400, 0.7, 80, 50'000);
        break;
    }
  } else if (p < 0.75) {  // INSERT
    const uint64_t user = rng.Between(1, 1'000'000);
    const uint64_t units = rng.Between(1, 999);
    Append(&q,
           "INSERT INTO orders (user_id, total, status, created_at) VALUES (%llu, %llu.%02llu, "
           "'new', NOW())",
           U(user), U(units), U(rng.Below(100)));
    latency_us = rng.LogNormal(800, 0.6, 150, 50'000);
    if (rng.Chance(0.02)) {
      std::string msg;
      Append(&msg, "Duplicate entry '%llu' for key 'orders.PRIMARY'", U(conn.mysql_last_insert_id));
      MyErr(&resp, &seq, 1062, "23000", msg);
      ex->errors = 1;
    } else {
      MyOk(&resp, &seq, 1, ++conn.mysql_last_insert_id, "");
    }
  } else if (p < 0.95) {  // UPDATE
    uint64_t matched = rng.Chance(0.9) ? 1 : rng.Below(4);
    uint64_t changed = matched > 0 && rng.Chance(0.9) ? matched : 0;
    if (rng.Chance(0.5)) {
      const uint64_t qty = rng.Between(1, 3);
      Append(&q, "UPDATE products SET stock = stock - %llu WHERE id = %llu", U(qty),
             U(rng.Between(1, 200'000)));
    } else {
      Append(&q, "UPDATE users SET last_login = NOW() WHERE id = %llu",
             U(rng.Between(1, 1'000'000)));
    }
    std::string info;
    Append(&info, "Rows matched: %llu  Changed: %llu  Warnings: 0", U(matched), U(changed));
    MyOk(&resp, &seq, changed, 0, info);
    latency_us = rng.LogNormal(700, 0.6, 150, 50'000);
  } else if (p < 0.975) {  // a table that does not exist
    Append(&q, "SELECT token, expires_at FROM user_sessions WHERE user_id = %llu",
           U(rng.Between(1, 1'000'000)));
    MyErr(&resp, &seq, 1146, "42S02", "Table 'shop.user_sessions' doesn't exist");
    ex->errors = 1;
    latency_us = rng.LogNormal(120, 0.5, 40, 5000);
  } else {  // a syntax error
    Append(&q, "SELECT * FORM users WHERE id = %llu", U(rng.Between(1, 1000)));
    MyErr(&resp, &seq, 1064, "42000",
          "You have an error in your SQL syntax; check the manual that corresponds to your "
          "MySQL server version for the right syntax to use near 'FORM users' at line 1");
    ex->errors = 1;
    latency_us = rng.LogNormal(100, 0.5, 40, 5000);
  }
  uint8_t qseq = 0;
  MyPacket(&req.data, &qseq, q);
  Turn& r = AddTurn(ex, false, latency_us * kUs);
  r.data = std::move(resp);
  ex->requests = 1;
  ex->responses = 1;
  ++conn.requests_done;
}

// ---- Pcap output ---------------------------------------------------------------------------

class PcapWriter {
 public:
  ~PcapWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }
  bool Open(const std::string& path) {
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) return false;
    buffer_.resize(4 << 20);
    std::setvbuf(file_, buffer_.data(), _IOFBF, buffer_.size());
    uint8_t h[24];
    uint32_t magic = 0xa1b2c3d4;  // microsecond timestamps, host byte order
    uint16_t major = 2, minor = 4;
    uint32_t zero = 0, snap = 65535, link = 1;  // DLT_EN10MB
    std::memcpy(h, &magic, 4);
    std::memcpy(h + 4, &major, 2);
    std::memcpy(h + 6, &minor, 2);
    std::memcpy(h + 8, &zero, 4);
    std::memcpy(h + 12, &zero, 4);
    std::memcpy(h + 16, &snap, 4);
    std::memcpy(h + 20, &link, 4);
    return std::fwrite(h, sizeof(h), 1, file_) == 1;
  }
  void Write(uint64_t t_ns, const uint8_t* data, uint32_t len) {
    uint32_t rec[4] = {static_cast<uint32_t>(t_ns / kSec),
                       static_cast<uint32_t>((t_ns % kSec) / kUs), len, len};
    std::fwrite(rec, sizeof(rec), 1, file_);
    std::fwrite(data, len, 1, file_);
    bytes_ += sizeof(rec) + len;
  }
  bool Close() {
    bool ok = std::fflush(file_) == 0 && std::ferror(file_) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    return ok;
  }
  uint64_t bytes() const { return bytes_ + 24; }

 private:
  FILE* file_ = nullptr;
  std::vector<char> buffer_;
  uint64_t bytes_ = 0;
};

// ---- Connections -----------------------------------------------------------------------------

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10;

// One packet of a connection's current phase, before it becomes bytes.
struct Pkt {
  uint64_t t_ns;
  uint32_t seq, ack;
  uint32_t off, len;  // payload bytes in the phase's buffer
  uint8_t flags;
  bool from_client;
};

struct Side {
  uint32_t ip = 0;
  uint16_t port = 0;
  uint8_t mac[6] = {};
  uint8_t ttl = 64;
  uint16_t ip_id = 0;
  uint32_t seq = 0;      // next sequence number to send
  uint32_t ts_base = 0;  // TCP timestamp clock at trace time 0 (1 ms ticks)
};

enum class Phase : uint8_t { kOpen, kExchange, kClose, kDone };

struct GenStats {
  uint64_t packets = 0;
  uint64_t wire_bytes = 0;
  uint64_t requests = 0;
  uint64_t responses = 0;
  uint64_t errors = 0;
  uint64_t logins = 0;
  uint64_t pipelined = 0;
  uint64_t exchanges = 0;
  uint64_t multi_segment_messages = 0;
  uint64_t open_now = 0;
  uint64_t max_open = 0;
  uint64_t last_ns = 0;
};

class Connection {
 public:
  Connection(const GenConfig& config, uint64_t id, const Side& client, const Side& server,
             uint64_t rtt_ns)
      : config_(config), rng_(Mix(config.seed, 0xc0ull << 40 | id)), rtt_ns_(rtt_ns) {
    conn_.id = id;
    conn_.requests_total = config.requests;
    c_ = client;
    s_ = server;
    c_.seq = static_cast<uint32_t>(rng_.Next());
    s_.seq = static_cast<uint32_t>(rng_.Next());
    c_.ip_id = static_cast<uint16_t>(rng_.Next());
    s_.ip_id = static_cast<uint16_t>(rng_.Next());
    c_.ts_base = static_cast<uint32_t>(rng_.Next());
    s_.ts_base = static_cast<uint32_t>(rng_.Next());
  }

  Phase phase() const { return phase_; }
  uint32_t exchanges_done() const { return exchanges_done_; }
  bool HasPacket() const { return pos_ < pkts_.size(); }
  uint64_t PacketTime() const { return pkts_[pos_].t_ns; }
  // The earliest start of the next phase (the client can send again), think time included.
  uint64_t ReadyTime() const { return ready_ns_ + gap_ns_; }

  // Builds the packets of the next phase starting at `start_ns`; returns its exchange.
  Exchange BuildPhase(uint64_t start_ns) {
    pkts_.clear();
    pos_ = 0;
    payload_.clear();
    Exchange ex;
    uint64_t t = start_ns;
    switch (phase_) {
      case Phase::kOpen: {
        Handshake(start_ns, &t);
        if (config_.protocol == Protocol::kMysql) {
          MysqlOpen(rng_, conn_, &ex);
          RunTurns(&ex, t);
        }
        phase_ = conn_.requests_done < conn_.requests_total ? Phase::kExchange : Phase::kClose;
        break;
      }
      case Phase::kExchange:
        switch (config_.protocol) {
          case Protocol::kHttp:
            HttpExchange(rng_, conn_, start_ns, &ex);
            break;
          case Protocol::kRedis:
            RedisExchange(rng_, conn_, &ex);
            break;
          case Protocol::kMysql:
            MysqlExchange(rng_, conn_, &ex);
            break;
        }
        RunTurns(&ex, start_ns);
        ++exchanges_done_;
        if (conn_.requests_done >= conn_.requests_total) phase_ = Phase::kClose;
        break;
      case Phase::kClose:
        CloseConnection(start_ns);
        phase_ = Phase::kDone;
        break;
      case Phase::kDone:
        break;
    }
    std::stable_sort(pkts_.begin(), pkts_.end(),
                     [](const Pkt& a, const Pkt& b) { return a.t_ns < b.t_ns; });
    for (const Pkt& p : pkts_) ready_ns_ = std::max(ready_ns_, p.t_ns + 1);
    gap_ns_ = config_.layout == Layout::kInterleaved
                  ? 10 * kUs + static_cast<uint64_t>(rng_.Exponential(config_.think_ms * 1e6))
                  : 10 * kUs;
    return ex;
  }

  // Writes the next packet as a frame and consumes it.
  void WriteNext(PcapWriter& out, GenStats* stats) {
    const Pkt& p = pkts_[pos_++];
    uint8_t frame[14 + 20 + 40 + kMss];
    uint32_t n = BuildFrame(p, frame);
    out.Write(kEpochNs + p.t_ns, frame, n);
    ++stats->packets;
    stats->wire_bytes += n;
    stats->last_ns = p.t_ns;
  }

 private:
  void Emit(uint64_t t, bool from_client, uint8_t flags, uint32_t off = 0, uint32_t len = 0) {
    Side& from = from_client ? c_ : s_;
    Side& to = from_client ? s_ : c_;
    Pkt p{t, from.seq, (flags & kAck) ? to.seq : 0, off, len, flags, from_client};
    pkts_.push_back(p);
  }

  void Handshake(uint64_t start, uint64_t* t) {
    Emit(start, true, kSyn);
    c_.seq += 1;
    const uint64_t syn_ack = start + (15 + rng_.Below(45)) * kUs;
    Emit(syn_ack, false, kSyn | kAck);
    s_.seq += 1;
    *t = syn_ack + rtt_ns_;
    Emit(*t, true, kAck);
    ready_ns_ = *t;
  }

  // Sends the turns of an exchange: segments at the MSS, the receiver's ACKs.
  void RunTurns(Exchange* ex, uint64_t start) {
    uint64_t last_seg = start;
    bool last_from_client = true;
    for (size_t k = 0; k < ex->turns.size(); ++k) {
      const Turn& turn = ex->turns[k];
      uint64_t t;
      if (k == 0) {
        // The phase starts when its first byte reaches the tap; a server that speaks first
        // (MySQL's greeting) does so after the handshake's last ACK.
        t = start + (turn.from_client ? 0 : turn.delay_ns);
      } else if (turn.from_client) {
        t = last_seg + (last_from_client ? 0 : rtt_ns_) + turn.delay_ns;
      } else {
        t = last_seg + turn.delay_ns;
      }
      const bool next_by_receiver =
          k + 1 < ex->turns.size() && ex->turns[k + 1].from_client != turn.from_client;
      const uint32_t total = static_cast<uint32_t>(turn.data.size());
      const uint32_t base = static_cast<uint32_t>(payload_.size());
      payload_ += turn.data;
      // Serialisation: the server's 10 Gbit/s link, the client's path at 1 Gbit/s.
      const uint64_t spacing = turn.from_client ? 12 * kUs : 1300;
      Side& from = turn.from_client ? c_ : s_;
      uint32_t unacked = 0;
      uint32_t segs = 0;
      for (uint32_t off = 0; off < total;) {
        uint32_t len = std::min(kMss, total - off);
        bool last = off + len == total;
        Emit(t, turn.from_client, kAck | (last ? kPsh : 0), base + off, len);
        from.seq += len;
        off += len;
        ++segs;
        // The receiver ACKs every second segment at once, and the last one unless its own
        // answer follows (then the answer carries the ACK).
        if (++unacked == 2 || (last && !next_by_receiver)) {
          uint64_t ack_t = turn.from_client ? t + (10 + rng_.Below(20)) * kUs : t + rtt_ns_;
          Emit(ack_t, !turn.from_client, kAck);
          unacked = 0;
        }
        last_seg = t;
        if (!last) t += spacing;
      }
      ex->segments += segs;
      last_from_client = turn.from_client;
    }
    // The next client turn can only start once the last server segment has reached it.
    ready_ns_ = last_seg + (last_from_client ? 0 : rtt_ns_);
  }

  void CloseConnection(uint64_t start) {
    Emit(start, true, kFin | kAck);
    c_.seq += 1;
    const uint64_t fin = start + (20 + rng_.Below(60)) * kUs;
    Emit(fin, false, kFin | kAck);
    s_.seq += 1;
    Emit(fin + rtt_ns_, true, kAck);
  }

  uint32_t TsVal(const Side& side, uint64_t t_ns) const {
    return side.ts_base + static_cast<uint32_t>(t_ns / kMs);
  }

  uint32_t BuildFrame(const Pkt& p, uint8_t* f) {
    Side& from = p.from_client ? c_ : s_;
    Side& to = p.from_client ? s_ : c_;
    const bool syn = (p.flags & kSyn) != 0;
    const uint32_t tcp_len = syn ? 40 : 32;
    const uint32_t ip_len = 20 + tcp_len + p.len;
    // Ethernet.
    std::memcpy(f, to.mac, 6);
    std::memcpy(f + 6, from.mac, 6);
    PutBe16(f + 12, 0x0800);
    // IPv4, DF.
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    PutBe16(ip + 2, static_cast<uint16_t>(ip_len));
    PutBe16(ip + 4, from.ip_id++);
    PutBe16(ip + 6, 0x4000);
    ip[8] = from.ttl;
    ip[9] = 6;
    PutBe16(ip + 10, 0);
    PutBe32(ip + 12, from.ip);
    PutBe32(ip + 16, to.ip);
    PutBe16(ip + 10, Fold(SumBytes(ip, 20, 0)));
    // TCP with options: SYN: MSS, SACK permitted, timestamps, NOP, window scale; else NOP,
    // NOP, timestamps.
    uint8_t* tcp = ip + 20;
    PutBe16(tcp, from.port);
    PutBe16(tcp + 2, to.port);
    PutBe32(tcp + 4, p.seq);
    PutBe32(tcp + 8, p.ack);
    tcp[12] = static_cast<uint8_t>((tcp_len / 4) << 4);
    tcp[13] = p.flags;
    PutBe16(tcp + 14, syn ? (p.from_client ? 64240 : 65160) : (p.from_client ? 502 : 509));
    PutBe16(tcp + 16, 0);
    PutBe16(tcp + 18, 0);
    uint8_t* o = tcp + 20;
    // TSecr: the peer's clock as last seen (a client sees the server's packets half an RTT
    // late, and the tap sees the client's half an RTT later still).
    const uint64_t seen = p.from_client ? (p.t_ns > rtt_ns_ ? p.t_ns - rtt_ns_ : 0) : p.t_ns;
    const uint32_t ts_val = TsVal(from, p.t_ns);
    const uint32_t ts_ecr = (syn && !(p.flags & kAck)) ? 0 : TsVal(to, seen);
    if (syn) {
      const uint8_t opts[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10};
      std::memcpy(o, opts, sizeof(opts));
      PutBe32(o + 8, ts_val);
      PutBe32(o + 12, ts_ecr);
      o[16] = 1;
      o[17] = 3;
      o[18] = 3;
      o[19] = 7;
    } else {
      o[0] = 1;
      o[1] = 1;
      o[2] = 8;
      o[3] = 10;
      PutBe32(o + 4, ts_val);
      PutBe32(o + 8, ts_ecr);
    }
    std::memcpy(tcp + tcp_len, payload_.data() + p.off, p.len);
    // Checksum over the pseudo header and the segment.
    uint32_t sum = SumBytes(ip + 12, 8, 0) + 6 + tcp_len + p.len;
    sum = SumBytes(tcp, tcp_len + p.len, sum);
    PutBe16(tcp + 16, Fold(sum));
    return 14 + ip_len;
  }

  const GenConfig& config_;
  Rng rng_;
  Conn conn_;
  Side c_, s_;
  uint64_t rtt_ns_;
  Phase phase_ = Phase::kOpen;
  uint32_t exchanges_done_ = 0;
  std::vector<Pkt> pkts_;
  size_t pos_ = 0;
  std::string payload_;
  uint64_t ready_ns_ = 0;
  uint64_t gap_ns_ = 0;
};

// ---- Generator -----------------------------------------------------------------------------

class Generator {
 public:
  explicit Generator(const GenConfig& config) : config_(config) {
    const uint64_t n = config_.flows;
    // A per-round shuffle of the connections: slot = (i * stride + round * offset) mod n.
    stride_ = 1'000'003;
    while (std::gcd(stride_, n) != 1) stride_ += 2;
    const uint16_t port = config_.port != 0                      ? config_.port
                          : config_.protocol == Protocol::kHttp  ? 80
                          : config_.protocol == Protocol::kRedis ? 6379
                                                                 : 3306;
    const uint32_t hosts = static_cast<uint32_t>(std::min<uint64_t>(config_.clients, n));
    conns_.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      const uint32_t host = static_cast<uint32_t>(i % hosts);
      Rng hr(Mix(config_.seed, 0x4057ull << 32 | host));
      Side c, s;
      c.ip = (10u << 24) | (64u << 16) | (host + 1);
      c.port = static_cast<uint16_t>(32768 + (i / hosts) % 28000);
      c.ttl = static_cast<uint8_t>(64 - hr.Between(1, 8));
      const uint32_t server = static_cast<uint32_t>(Mix(config_.seed, i) % config_.servers);
      s.ip = (172u << 24) | (16u << 16) | (server + 1);
      s.port = port;
      // The tap sees clients through the router's MAC.
      const uint8_t router[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
      std::memcpy(c.mac, router, 6);
      s.mac[0] = 0x02;
      s.mac[1] = 0x20;
      PutBe32(s.mac + 2, server + 1);
      // Data-centre clients (Redis, MySQL, internal HTTP), and for HTTP a share of internet
      // clients further away.
      double rtt = hr.LogUniform(50e3, 2e6);
      if (config_.protocol == Protocol::kHttp && hr.Chance(0.3)) rtt = hr.LogUniform(5e6, 80e6);
      conns_.emplace_back(config_, i, c, s, static_cast<uint64_t>(rtt));
    }
  }

  bool Run(PcapWriter& out, GenStats* stats) {
    const uint64_t n = config_.flows;
    const uint64_t ramp = static_cast<uint64_t>(config_.ramp_seconds * kSec);
    // (time, connection): the earliest first.
    using Entry = std::pair<uint64_t, uint64_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    Rng rng(Mix(config_.seed, 0x57a27ull));
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t start = ramp * i / n;
      if (config_.layout == Layout::kInterleaved) start += rng.Below(ramp / n + 1);
      heap.push({start, i});
    }
    while (!heap.empty()) {
      auto [t, i] = heap.top();
      heap.pop();
      Connection& c = conns_[i];
      if (!c.HasPacket()) {
        if (c.phase() == Phase::kDone) continue;
        if (c.phase() == Phase::kOpen) {
          ++stats->open_now;
          stats->max_open = std::max(stats->max_open, stats->open_now);
        }
        Exchange ex = c.BuildPhase(t);
        stats->requests += ex.requests;
        stats->responses += ex.responses;
        stats->errors += ex.errors;
        stats->logins += ex.logins;
        stats->pipelined += ex.pipelined;
        stats->exchanges += ex.requests > 0;
        for (const Turn& turn : ex.turns) stats->multi_segment_messages += turn.data.size() > kMss;
        if (!c.HasPacket()) continue;
        heap.push({c.PacketTime(), i});
        continue;
      }
      c.WriteNext(out, stats);
      if (c.HasPacket()) {
        heap.push({c.PacketTime(), i});
      } else if (c.phase() == Phase::kDone) {
        --stats->open_now;
      } else {
        heap.push({std::max(c.ReadyTime(), Scheduled(i, c)), i});
      }
    }
    return true;
  }

 private:
  // When the next phase of connection `i` is due by the layout (0: as soon as it is ready).
  uint64_t Scheduled(uint64_t i, const Connection& c) const {
    if (config_.layout == Layout::kInterleaved) return 0;
    const uint64_t n = config_.flows;
    const uint64_t ramp = static_cast<uint64_t>(config_.ramp_seconds * kSec);
    // Rounds long enough for every connection to finish its exchange in its slot.
    const uint64_t round = std::max<uint64_t>(500 * kMs, n * 10 * kUs);
    const uint64_t base = ramp + 100 * kMs;
    const uint64_t r = c.phase() == Phase::kClose ? MaxRounds() : c.exchanges_done();
    const uint64_t slot = (i * stride_ + r * 7919) % n;
    return base + r * round + (c.phase() == Phase::kClose ? 100 * kMs : 0) +
           slot * (round * 8 / 10) / n;
  }
  // Exchanges per connection: --requests, or fewer when Redis pipelines several commands.
  uint64_t MaxRounds() const { return config_.requests; }

  const GenConfig& config_;
  uint64_t stride_ = 1;
  std::vector<Connection> conns_;
};

int Main(int argc, char** argv) {
  GenConfig config;
  std::string protocol = "http";
  std::string layout = "interleaved";
  CLI::App app{
      "Writes a synthetic Ethernet pcap of request/response traffic of one L7 protocol for "
      "the L7 benchmark (bench/run_l7_bench.sh). Deterministic for a given set of options."};
  app.add_option("--protocol", protocol, "http, redis or mysql")
      ->check(CLI::IsMember({"http", "redis", "mysql"}))
      ->capture_default_str();
  app.add_option("--out", config.out, "pcap file to write")->required();
  app.add_option("--flows", config.flows, "TCP connections")
      ->check(CLI::Range(uint64_t{1}, uint64_t{10'000'000}))
      ->capture_default_str();
  app.add_option("--requests", config.requests,
                 "requests per connection (Redis: commands, pipelined ones included; MySQL: "
                 "queries, the login comes on top)")
      ->check(CLI::Range(0u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--layout", layout,
                 "interleaved: connections overlap and run their exchanges with think times; "
                 "concurrent: all open first, then all exchange, then all close")
      ->check(CLI::IsMember({"interleaved", "concurrent"}))
      ->capture_default_str();
  app.add_option("--seed", config.seed, "random seed")->capture_default_str();
  app.add_option("--ramp-seconds", config.ramp_seconds, "connections start over this time")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_option("--think-ms", config.think_ms,
                 "mean client think time between exchanges (interleaved layout)")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  app.add_option("--clients", config.clients, "client hosts the connections come from")
      ->check(CLI::Range(1u, 4'000'000u))
      ->capture_default_str();
  app.add_option("--servers", config.servers, "server hosts")
      ->check(CLI::Range(1u, 65'000u))
      ->capture_default_str();
  app.add_option("--port", config.port, "server port (0: 80, 6379 or 3306)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  config.protocol = protocol == "http"    ? Protocol::kHttp
                    : protocol == "redis" ? Protocol::kRedis
                                          : Protocol::kMysql;
  config.layout = layout == "concurrent" ? Layout::kConcurrent : Layout::kInterleaved;
  const uint64_t hosts = std::min<uint64_t>(config.clients, config.flows);
  if ((config.flows + hosts - 1) / hosts > 28000) {
    std::fprintf(stderr,
                 "gen_l7_pcap: %llu connections from %llu client hosts need more than 28000 "
                 "ports per host; raise --clients\n",
                 U(config.flows), U(hosts));
    return 2;
  }
  PcapWriter out;
  if (!out.Open(config.out)) {
    std::fprintf(stderr, "gen_l7_pcap: cannot write %s\n", config.out.c_str());
    return 1;
  }
  GenStats stats;
  Generator gen(config);
  gen.Run(out, &stats);
  const uint64_t file_bytes = out.bytes();
  if (!out.Close()) {
    std::fprintf(stderr, "gen_l7_pcap: write error on %s (disk full?)\n", config.out.c_str());
    return 1;
  }
  // key=value lines, read by run_l7_bench.sh.
  std::printf("file=%s\n", config.out.c_str());
  std::printf("protocol=%s\n", protocol.c_str());
  std::printf("layout=%s\n", layout.c_str());
  std::printf("flows=%llu\n", U(config.flows));
  std::printf("requests=%llu\n", U(stats.requests));
  std::printf("responses=%llu\n", U(stats.responses));
  std::printf("error_responses=%llu\n", U(stats.errors));
  std::printf("logins=%llu\n", U(stats.logins));
  std::printf("pipelined_requests=%llu\n", U(stats.pipelined));
  std::printf("exchanges=%llu\n", U(stats.exchanges));
  std::printf("multi_segment_messages=%llu\n", U(stats.multi_segment_messages));
  std::printf("packets=%llu\n", U(stats.packets));
  std::printf("wire_bytes=%llu\n", U(stats.wire_bytes));
  std::printf("file_bytes=%llu\n", U(file_bytes));
  std::printf("trace_seconds=%.3f\n", static_cast<double>(stats.last_ns) / kSec);
  std::printf("max_open_flows=%llu\n", U(stats.max_open));
  return 0;
}

}  // namespace
}  // namespace flowscope::bench

int main(int argc, char** argv) { return flowscope::bench::Main(argc, argv); }
