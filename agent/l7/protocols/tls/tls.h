// TLS handshake (TLS 1.0–1.3 record layer, RFC 8446 §5.1; ClientHello/ServerHello §4.1.2–3;
// extensions server_name RFC 6066 §3, ALPN RFC 7301, supported_versions RFC 8446 §4.2.1;
// alerts §6). The ClientHello is the request, the ServerHello (or a plaintext alert) the
// response: the pairing latency is the handshake time. Every other record (certificates,
// key exchange, change_cipher_spec, encrypted handshake and application data, encrypted
// alerts) is consumed as an ignored message, skipped by its length.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::tls {

extern const ProtocolSpec kSpec;

inline constexpr size_t kRecordHeaderSize = 5;
inline constexpr uint32_t kMaxRecordLength = 16384 + 2048;  // TLSCiphertext bound (§5.2)
inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxAlpnBytes = 128;

std::string VersionName(uint16_t version);        // "TLS 1.2", "SSL 3.0", "0x7F1C"
std::string CipherSuiteName(uint16_t suite);      // IANA name, or "0xC0FF"
std::string_view AlertName(uint8_t description);  // "handshake_failure", "" if unknown

// What a Client/ServerHello carries that the log keeps.
struct HelloInfo {
  uint16_t legacy_version = 0;
  uint16_t max_version = 0;  // ClientHello: highest supported_versions; ServerHello: selected
  uint16_t cipher = 0;
  bool retry = false;   // a HelloRetryRequest
  uint32_t length = 0;  // handshake message length
  std::string sni;
  std::string alpn;  // ClientHello: offered, comma separated; ServerHello: selected
};

class TlsParser final : public Parser {
 public:
  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;

 private:
  // A hello longer than the parse bound (a post-quantum key share is ~1.2 KB): its
  // extensions are read in later calls (consumed as ignored messages, big ones skipped by
  // count) and the hello is reported when they end, stamped with its first byte's time.
  struct Pending {
    bool active = false;
    HelloInfo hello;
    uint64_t first_ns = 0;
    uint32_t ext_left = 0;     // bytes of the extensions block still to read
    uint64_t record_left = 0;  // bytes of the record from where the next call starts
  };

  ParseResult ContinueHello(const ParseInput& in, L7Message* out);
  void FillHello(const HelloInfo& h, bool client, L7Message* out);

  Pending pending_[2];  // per direction
  bool client_hello_seen_ = false;
  bool server_hello_seen_ = false;
  bool retry_requested_ = false;  // HelloRetryRequest: a second ClientHello follows
};

}  // namespace flowscope::agent::l7::tls
