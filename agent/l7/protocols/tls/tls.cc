#include "agent/l7/protocols/tls/tls.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "agent/l7/byte_reader.h"

namespace flowscope::agent::l7::tls {
namespace {

constexpr uint8_t kChangeCipherSpec = 20;
constexpr uint8_t kAlert = 21;
constexpr uint8_t kHandshake = 22;
constexpr uint8_t kHeartbeat = 24;
constexpr uint8_t kClientHello = 1;
constexpr uint8_t kServerHello = 2;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtSupportedVersions = 43;

// SHA-256("HelloRetryRequest"): the random of a ServerHello that is a HelloRetryRequest.
constexpr unsigned char kRetryRandom[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

struct RecordHeader {
  uint8_t type = 0;
  uint16_t version = 0;
  uint16_t length = 0;
};

bool ValidRecordType(uint8_t t) { return t >= kChangeCipherSpec && t <= kHeartbeat; }

// What of a record header is visible must be plausible.
bool PlausibleHeaderPrefix(std::string_view d) {
  if (!d.empty() && !ValidRecordType(static_cast<uint8_t>(d[0]))) return false;
  if (d.size() > 1 && d[1] != 3) return false;
  if (d.size() > 2 && static_cast<uint8_t>(d[2]) > 4) return false;
  return true;
}

bool ReadRecordHeader(std::string_view d, RecordHeader* h) {
  ByteReader r(d);
  if (!r.U8(&h->type) || !r.U16Be(&h->version) || !r.U16Be(&h->length)) return false;
  return ValidRecordType(h->type) && (h->version >> 8) == 3 && (h->version & 0xff) <= 4 &&
         h->length <= kMaxRecordLength;
}

bool IsGrease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// Printable bytes of a name or protocol id ('.' for others), bounded.
void AppendPrintable(std::string* out, std::string_view s, size_t max) {
  for (char ch : s.substr(0, max)) {
    const auto c = static_cast<unsigned char>(ch);
    out->push_back(c > 0x20 && c < 0x7f ? static_cast<char>(c) : '.');
  }
}

using Hello = HelloInfo;

void ParseExtension(uint16_t type, std::string_view data, bool client, Hello* h) {
  ByteReader r(data);
  if (type == kExtServerName && client) {
    uint16_t list = 0;
    if (!r.U16Be(&list)) return;
    while (!r.empty()) {
      uint8_t name_type = 0;
      uint16_t len = 0;
      std::string_view name;
      if (!r.U8(&name_type) || !r.U16Be(&len) || !r.Bytes(len, &name)) return;
      if (name_type == 0 && h->sni.empty()) AppendPrintable(&h->sni, name, kMaxNameBytes);
    }
  } else if (type == kExtAlpn) {
    uint16_t list = 0;
    if (!r.U16Be(&list)) return;
    while (!r.empty()) {
      uint8_t len = 0;
      std::string_view proto;
      if (!r.U8(&len) || !r.Bytes(len, &proto)) return;
      if (h->alpn.size() + proto.size() + 1 > kMaxAlpnBytes) return;
      if (!h->alpn.empty()) h->alpn.push_back(',');
      AppendPrintable(&h->alpn, proto, kMaxAlpnBytes);
    }
  } else if (type == kExtSupportedVersions) {
    if (!client) {
      uint16_t v = 0;
      if (r.U16Be(&v)) h->max_version = v;
      return;
    }
    uint8_t len = 0;
    if (!r.U8(&len)) return;
    for (uint8_t i = 0; i + 1 < len; i += 2) {
      uint16_t v = 0;
      if (!r.U16Be(&v)) return;
      if (!IsGrease(v)) h->max_version = std::max(h->max_version, v);
    }
  }
}

enum class Fixed : uint8_t { kBad, kNoExtensions, kExtensions };

// The fixed part of a Client/ServerHello (after the 4-byte handshake header; `hello` may be
// cut). On kExtensions, the extensions block starts at hello[*ext_off] and is *ext_len long.
Fixed ParseHelloFixed(std::string_view hello, bool client, Hello* h, size_t* ext_off,
                      uint16_t* ext_len) {
  ByteReader r(hello);
  std::string_view random, skip;
  uint8_t sid_len = 0;
  if (!r.U16Be(&h->legacy_version) || !r.Bytes(32, &random) || !r.U8(&sid_len) || sid_len > 32 ||
      !r.Bytes(sid_len, &skip)) {
    return Fixed::kBad;
  }
  if (client) {
    uint16_t suites = 0;
    uint8_t comp = 0;
    if (!r.U16Be(&suites) || (suites & 1) != 0 || !r.Skip(suites) || !r.U8(&comp) ||
        !r.Skip(comp)) {
      return Fixed::kNoExtensions;  // cut inside the fixed part
    }
  } else {
    uint8_t comp = 0;
    if (!r.U16Be(&h->cipher) || !r.U8(&comp)) return Fixed::kBad;
    h->retry = std::memcmp(random.data(), kRetryRandom, 32) == 0;
  }
  if (!r.U16Be(ext_len)) return Fixed::kNoExtensions;
  *ext_off = r.offset();
  return Fixed::kExtensions;
}

enum class ExtWalk : uint8_t { kDone, kCut };

// Reads extensions from d[*pos] while `*left` bytes of the block remain. kCut: stopped at
// *pos because an extension is not all visible; an extension the log does not use is then
// consumed as far as visible and `*skip` says how much of it follows (a wanted one — SNI,
// ALPN, supported_versions, all small — is left for a call that sees it whole).
ExtWalk WalkExtensions(std::string_view d, size_t* pos, uint32_t* left, bool client, Hello* h,
                       uint64_t* skip) {
  while (*left > 0) {
    if (*left < 4) {
      *left = 0;  // a malformed tail: nothing more to read
      return ExtWalk::kDone;
    }
    if (d.size() < *pos + 4) return ExtWalk::kCut;
    const uint16_t type = static_cast<uint16_t>((static_cast<uint8_t>(d[*pos]) << 8) |
                                                static_cast<uint8_t>(d[*pos + 1]));
    const uint16_t len = static_cast<uint16_t>((static_cast<uint8_t>(d[*pos + 2]) << 8) |
                                               static_cast<uint8_t>(d[*pos + 3]));
    if (4u + len > *left) {
      *left = 0;  // a length that lies about the block: stop reading
      return ExtWalk::kDone;
    }
    if (*pos + 4 + len <= d.size()) {
      ParseExtension(type, d.substr(*pos + 4, len), client, h);
      *pos += 4 + len;
      *left -= 4 + len;
      continue;
    }
    const bool wanted =
        (type == kExtServerName || type == kExtAlpn || type == kExtSupportedVersions) && len <= 512;
    if (!wanted) {
      *skip = *pos + 4 + len - d.size();
      *left -= 4 + len;
      *pos = d.size();
    }
    return ExtWalk::kCut;
  }
  return ExtWalk::kDone;
}

InferResult Infer(const InferInput& in) {
  if (in.is_udp || in.dir != Direction::kClientToServer) return InferResult::kNo;
  const std::string_view d = in.data;
  RecordHeader rh;
  if (d.size() < 11 || !ReadRecordHeader(d, &rh) || rh.type != kHandshake || rh.version > 0x0303 ||
      rh.length < 4 + 38) {
    return InferResult::kNo;
  }
  ByteReader r(d.substr(kRecordHeaderSize));
  uint8_t hs_type = 0;
  uint32_t hs_len = 0;
  uint8_t b0 = 0, b1 = 0, b2 = 0;
  uint16_t client_version = 0;
  if (!r.U8(&hs_type) || !r.U8(&b0) || !r.U8(&b1) || !r.U8(&b2) || !r.U16Be(&client_version)) {
    return InferResult::kNo;
  }
  hs_len = (uint32_t{b0} << 16) | (uint32_t{b1} << 8) | b2;
  if (hs_type != kClientHello || hs_len < 38 || hs_len > (1u << 17) || (client_version >> 8) != 3 ||
      (client_version & 0xff) > 4) {
    return InferResult::kNo;
  }
  // Where visible: a session id of at most 32 bytes and an even, non-empty suite list.
  std::string_view random;
  uint8_t sid_len = 0;
  if (r.Bytes(32, &random) && r.U8(&sid_len)) {
    if (sid_len > 32) return InferResult::kNo;
    uint16_t suites = 0;
    if (r.Skip(sid_len) && r.U16Be(&suites) && (suites == 0 || (suites & 1) != 0)) {
      return InferResult::kNo;
    }
  }
  return InferResult::kYes;
}

std::unique_ptr<Parser> MakeParser(const L7Config&) { return std::make_unique<TlsParser>(); }

}  // namespace

std::string VersionName(uint16_t v) {
  switch (v) {
    case 0x0300:
      return "SSL 3.0";
    case 0x0301:
      return "TLS 1.0";
    case 0x0302:
      return "TLS 1.1";
    case 0x0303:
      return "TLS 1.2";
    case 0x0304:
      return "TLS 1.3";
    default: {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "0x%04X", v);
      return buf;
    }
  }
}

std::string CipherSuiteName(uint16_t suite) {
  struct Entry {
    uint16_t id;
    std::string_view name;
  };
  static constexpr Entry kSuites[] = {
      {0x1301, "TLS_AES_128_GCM_SHA256"},
      {0x1302, "TLS_AES_256_GCM_SHA384"},
      {0x1303, "TLS_CHACHA20_POLY1305_SHA256"},
      {0x1304, "TLS_AES_128_CCM_SHA256"},
      {0x1305, "TLS_AES_128_CCM_8_SHA256"},
      {0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
      {0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
      {0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
      {0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
      {0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
      {0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
      {0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
      {0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
      {0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"},
      {0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
      {0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"},
      {0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"},
      {0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"},
      {0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"},
      {0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"},
      {0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"},
      {0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"},
      {0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"},
      {0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"},
      {0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"},
      {0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"},
      {0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"},
      {0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"},
      {0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"},
      {0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"},
      {0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"},
      {0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"},
      {0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"},
      {0x0005, "TLS_RSA_WITH_RC4_128_SHA"},
      {0x0004, "TLS_RSA_WITH_RC4_128_MD5"},
  };
  for (const Entry& e : kSuites) {
    if (e.id == suite) return std::string(e.name);
  }
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%04X", suite);
  return buf;
}

std::string_view AlertName(uint8_t d) {
  switch (d) {
    case 0:
      return "close_notify";
    case 10:
      return "unexpected_message";
    case 20:
      return "bad_record_mac";
    case 21:
      return "decryption_failed";
    case 22:
      return "record_overflow";
    case 30:
      return "decompression_failure";
    case 40:
      return "handshake_failure";
    case 41:
      return "no_certificate";
    case 42:
      return "bad_certificate";
    case 43:
      return "unsupported_certificate";
    case 44:
      return "certificate_revoked";
    case 45:
      return "certificate_expired";
    case 46:
      return "certificate_unknown";
    case 47:
      return "illegal_parameter";
    case 48:
      return "unknown_ca";
    case 49:
      return "access_denied";
    case 50:
      return "decode_error";
    case 51:
      return "decrypt_error";
    case 60:
      return "export_restriction";
    case 70:
      return "protocol_version";
    case 71:
      return "insufficient_security";
    case 80:
      return "internal_error";
    case 86:
      return "inappropriate_fallback";
    case 90:
      return "user_canceled";
    case 100:
      return "no_renegotiation";
    case 109:
      return "missing_extension";
    case 110:
      return "unsupported_extension";
    case 111:
      return "certificate_unobtainable";
    case 112:
      return "unrecognized_name";
    case 113:
      return "bad_certificate_status_response";
    case 114:
      return "bad_certificate_hash_value";
    case 115:
      return "unknown_psk_identity";
    case 116:
      return "certificate_required";
    case 120:
      return "no_application_protocol";
    default:
      return "";
  }
}

ParseResult TlsParser::Parse(const ParseInput& in, L7Message* out) {
  if (pending_[static_cast<int>(in.dir)].active) return ContinueHello(in, out);
  const std::string_view d = in.data;
  if (!PlausibleHeaderPrefix(d.substr(0, kRecordHeaderSize))) return ParseResult::Invalid();
  RecordHeader rh;
  if (d.size() < kRecordHeaderSize) {
    return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  }
  if (!ReadRecordHeader(d, &rh)) return ParseResult::Invalid();
  const size_t total = kRecordHeaderSize + rh.length;
  const std::string_view body = d.substr(kRecordHeaderSize, rh.length);
  const bool client = in.dir == Direction::kClientToServer;
  const auto consumed = static_cast<uint32_t>(std::min(total, d.size()));
  const uint64_t skip = total - consumed;

  if (rh.type == kHandshake && body.empty() && rh.length > 0) {
    // The handshake type decides whether this record is logged.
    return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  }
  const bool hello_record =
      rh.type == kHandshake && !body.empty() &&
      (client ? body[0] == kClientHello && (!client_hello_seen_ || retry_requested_)
              : body[0] == kServerHello && !server_hello_seen_);
  const bool alert_record = rh.type == kAlert && rh.length == 2 && !client;  // plaintext
  if (!hello_record && !alert_record) {
    // Certificates, key exchange, change_cipher_spec, encrypted records: nothing to log.
    out->ignore = true;
    out->is_request = client;
    return ParseResult::Ok(consumed, skip);
  }
  if (alert_record) {
    if (body.size() < 2) return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
    const auto level = static_cast<uint8_t>(body[0]);
    const auto desc = static_cast<uint8_t>(body[1]);
    if (level != 1 && level != 2) return ParseResult::Invalid();
    out->is_request = false;
    out->has_code = true;
    out->code = desc;
    const std::string_view name = AlertName(desc);
    out->exception = name.empty() ? "alert " + std::to_string(desc) : std::string(name);
    out->status = level == 2 ? L7ResponseStatus::kServerError : L7ResponseStatus::kOk;
    out->length = rh.length;
    return ParseResult::Ok(consumed, skip);
  }
  // A hello: wait until the handshake message is visible (it may be followed by others in
  // the same record, e.g. Certificate), or the bound is reached.
  uint32_t hs_len = 0;
  if (body.size() >= 4) {
    hs_len = (uint32_t{static_cast<uint8_t>(body[1])} << 16) |
             (uint32_t{static_cast<uint8_t>(body[2])} << 8) | static_cast<uint8_t>(body[3]);
  }
  if ((body.size() < 4 || body.size() < 4 + uint64_t{hs_len}) && body.size() < rh.length &&
      !in.at_limit) {
    return ParseResult::NeedMore();
  }
  Hello h;
  h.length = hs_len;
  const std::string_view hello = body.substr(std::min<size_t>(4, body.size()), hs_len);
  size_t ext_off = 0;
  uint16_t ext_len = 0;
  const Fixed fixed = ParseHelloFixed(hello, client, &h, &ext_off, &ext_len);
  if (fixed == Fixed::kBad) return ParseResult::Invalid();
  if (fixed == Fixed::kExtensions) {
    size_t pos = kRecordHeaderSize + 4 + ext_off;
    uint32_t ext_left = static_cast<uint32_t>(std::min<uint64_t>(ext_len, hs_len - ext_off));
    uint64_t ext_skip = 0;
    const ExtWalk w = WalkExtensions(d.substr(0, total), &pos, &ext_left, client, &h, &ext_skip);
    if (w == ExtWalk::kCut && pos + ext_skip < total) {
      Pending& p = pending_[static_cast<int>(in.dir)];
      p.active = true;
      p.hello = std::move(h);
      p.first_ns = in.timestamp_ns;
      p.ext_left = ext_left;
      p.record_left = total - pos - ext_skip;
      out->ignore = true;
      out->is_request = client;
      return ParseResult::Ok(static_cast<uint32_t>(pos), ext_skip);
    }
  }
  FillHello(h, client, out);
  return ParseResult::Ok(consumed, skip);
}

ParseResult TlsParser::ContinueHello(const ParseInput& in, L7Message* out) {
  const bool client = in.dir == Direction::kClientToServer;
  Pending& p = pending_[static_cast<int>(in.dir)];
  const std::string_view d = in.data.substr(0, p.record_left);
  size_t pos = 0;
  uint64_t ext_skip = 0;
  const ExtWalk w = WalkExtensions(d, &pos, &p.ext_left, client, &p.hello, &ext_skip);
  if (w == ExtWalk::kCut && pos == 0 && ext_skip == 0) {
    if (!in.at_limit && d.size() < p.record_left) return ParseResult::NeedMore();
    pos = d.size();  // nothing more can be read: report what is known
    p.ext_left = 0;
  }
  ext_skip = std::min<uint64_t>(ext_skip, p.record_left - pos);
  p.record_left -= pos + ext_skip;
  if (w == ExtWalk::kDone || p.ext_left == 0 || p.record_left == 0) {
    FillHello(p.hello, client, out);
    out->timestamp_ns = p.first_ns;
    const uint64_t rest = ext_skip + p.record_left;  // the record after the extensions
    p = Pending{};
    return ParseResult::Ok(static_cast<uint32_t>(pos), rest);
  }
  out->ignore = true;
  out->is_request = client;
  return ParseResult::Ok(static_cast<uint32_t>(pos), ext_skip);
}

void TlsParser::FillHello(const HelloInfo& h, bool client, L7Message* out) {
  out->length = h.length;
  if (client) {
    client_hello_seen_ = true;
    retry_requested_ = false;
    out->is_request = true;
    out->request_type = "ClientHello";
    out->request_domain = h.sni;
    out->request_resource = h.sni;
    out->attributes.emplace_back("tls_version",
                                 VersionName(std::max(h.legacy_version, h.max_version)));
    if (!h.alpn.empty()) out->attributes.emplace_back("alpn", h.alpn);
  } else {
    out->is_request = false;
    out->status = L7ResponseStatus::kOk;
    out->version = VersionName(h.max_version != 0 ? h.max_version : h.legacy_version);
    out->result = CipherSuiteName(h.cipher);
    if (!h.alpn.empty()) out->attributes.emplace_back("alpn_selected", h.alpn);
    if (h.retry) {
      retry_requested_ = true;
      out->attributes.emplace_back("hello_retry_request", "true");
    } else {
      server_hello_seen_ = true;
    }
  }
}

size_t TlsParser::FindBoundary(Direction dir, std::string_view data) {
  pending_[static_cast<int>(dir)] = Pending{};
  for (size_t p = 0; p + kRecordHeaderSize <= data.size(); ++p) {
    RecordHeader rh;
    if (ReadRecordHeader(data.substr(p), &rh) && rh.version >= 0x0300) return p;
  }
  return data.size();
}

const ProtocolSpec kSpec{
    .id = L7Protocol::kTls,
    .name = "tls",
    .over_tcp = true,
    .over_udp = false,
    .default_ports = {443, 6443, 8443},
    .infer = &Infer,
    .make_parser = &MakeParser,
};

}  // namespace flowscope::agent::l7::tls
