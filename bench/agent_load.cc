// Rate-limited HTTP/1.1 keep-alive client for the eBPF agent benchmarks (bench/agent_cost.sh):
// `--connections` connections to 127.0.0.1:`--port`, one thread each, blocking sockets, each
// sending `GET --path` and reading the whole response (Content-Length) before the next. With
// `--rate` R > 0 the requests are paced on an absolute schedule (R / connections per
// connection per second; a late request is sent at once, no burst beyond one); 0: as fast as
// the server answers. Prints the requests/s reached and latency percentiles; asserts nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"

namespace {

using Clock = std::chrono::steady_clock;

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    std::perror("agent_load: connect");
    std::exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Reads one response: headers, then Content-Length bytes. false on error or close.
bool ReadResponse(int fd, std::string& buf) {
  buf.clear();
  size_t body_at = std::string::npos, need = 0;
  char tmp[16384];
  for (;;) {
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
    if (body_at == std::string::npos) {
      size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      body_at = end + 4;
      size_t cl = buf.find("Content-Length: ");
      if (cl == std::string::npos || cl > end) cl = buf.find("content-length: ");
      need = cl != std::string::npos && cl < end ? std::strtoul(buf.c_str() + cl + 16, nullptr, 10)
                                                 : 0;
    }
    if (buf.size() >= body_at + need) return true;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rate-limited HTTP/1.1 keep-alive load for the eBPF agent benchmarks"};
  int port = 18080, connections = 8;
  double rate = 0, seconds = 10;
  std::string path = "/small.html";
  app.add_option("--port", port, "server port on 127.0.0.1");
  app.add_option("--connections", connections, "keep-alive connections (one thread each)");
  app.add_option("--rate", rate, "requests per second in all (0: as fast as possible)");
  app.add_option("--seconds", seconds, "how long to run");
  app.add_option("--path", path, "request path");
  CLI11_PARSE(app, argc, argv);

  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::atomic<bool> failed{false};
  std::vector<std::vector<uint32_t>> lat_us(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(seconds));
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      int fd = Connect(port);
      std::string buf;
      const auto period = rate > 0 ? std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(connections / rate))
                                   : Clock::duration::zero();
      // Connections start spread over one period, not all at once.
      auto next = t0 + period * c / connections;
      auto& lat = lat_us[static_cast<size_t>(c)];
      lat.reserve(1 << 20);
      for (;;) {
        auto now = Clock::now();
        if (now >= end) break;
        if (rate > 0) {
          if (now < next) {
            std::this_thread::sleep_until(next);
            now = Clock::now();
          }
          next = std::max(next + period, now - period);
        }
        if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size()) ||
            !ReadResponse(fd, buf)) {
          failed = true;
          break;
        }
        lat.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - now).count()));
      }
      close(fd);
    });
  }
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<uint32_t> all;
  for (auto& l : lat_us) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0u : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf("requests %zu seconds %.2f req_per_s %.0f p50_us %u p99_us %u%s\n", all.size(),
              wall, static_cast<double>(all.size()) / wall, pct(0.50), pct(0.99),
              failed ? " (a connection failed)" : "");
  return failed ? 1 : 0;
}
