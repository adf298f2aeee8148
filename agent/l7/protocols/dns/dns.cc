#include "agent/l7/protocols/dns/dns.h"

#include <arpa/inet.h>

#include <cstdio>
#include <iterator>
#include <string>

#include "agent/l7/byte_reader.h"

namespace flowscope::agent::l7::dns {
namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeNs = 2;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeSoa = 6;
constexpr uint16_t kTypePtr = 12;
constexpr uint16_t kTypeMx = 15;
constexpr uint16_t kTypeTxt = 16;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kTypeSrv = 33;
constexpr uint16_t kTypeDname = 39;

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qd = 0, an = 0, ns = 0, ar = 0;
  bool qr() const { return (flags & 0x8000) != 0; }
  uint8_t opcode() const { return static_cast<uint8_t>((flags >> 11) & 0xf); }
  uint8_t rcode() const { return static_cast<uint8_t>(flags & 0xf); }
};

bool ReadHeader(std::string_view msg, Header* h) {
  ByteReader r(msg);
  return r.U16Be(&h->id) && r.U16Be(&h->flags) && r.U16Be(&h->qd) && r.U16Be(&h->an) &&
         r.U16Be(&h->ns) && r.U16Be(&h->ar);
}

bool ValidOpcode(uint8_t op) { return op <= 2 || op == 4 || op == 5 || op == 6; }

// Appends one label, printable ASCII as is and every other byte as \DDD (as dig prints it).
void AppendLabel(std::string* out, std::string_view label) {
  for (char ch : label) {
    const auto c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f && c != '.' && c != '\\' && c != ';') {
      out->push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\%03u", c);
      out->append(buf);
    }
  }
}

// Reads the (possibly compressed) name at msg[pos]: `end` is the offset after it in place.
// Pointers must point strictly backwards (so the walk ends) and are counted; the wire length
// is bounded by kMaxNameLength. `out` (if any) gets the dotted name without the final dot.
bool ReadName(std::string_view msg, size_t pos, std::string* out, size_t* end) {
  size_t cur = pos;
  size_t limit = pos;  // a pointer must point before the label that holds it
  bool jumped = false;
  uint32_t jumps = 0;
  size_t wire = 0;
  for (;;) {
    if (cur >= msg.size()) return false;
    const auto b = static_cast<uint8_t>(msg[cur]);
    if (b == 0) {
      if (!jumped) *end = cur + 1;
      return true;
    }
    if ((b & 0xc0) == 0xc0) {
      if (cur + 1 >= msg.size()) return false;
      const size_t ptr = ((b & 0x3fu) << 8) | static_cast<uint8_t>(msg[cur + 1]);
      if (!jumped) *end = cur + 2;
      if (ptr >= limit || ++jumps > kMaxPointerJumps) return false;
      jumped = true;
      cur = ptr;
      limit = ptr;
      continue;
    }
    if ((b & 0xc0) != 0) return false;  // 0x40 and 0x80: extended and reserved label types
    if (cur + 1 + b > msg.size()) return false;
    wire += 1 + b;
    if (wire > kMaxNameLength) return false;
    if (out != nullptr) {
      if (!out->empty()) out->push_back('.');
      AppendLabel(out, msg.substr(cur + 1, b));
    }
    cur += 1 + b;
  }
}

struct Question {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = 0;
};

// A resource record's fixed part; rdata = msg[rdata, rdata + rdlength).
struct Record {
  uint16_t type = 0;
  uint16_t klass = 0;
  uint32_t ttl = 0;
  uint16_t rdlength = 0;
  size_t rdata = 0;
};

bool ReadRecord(std::string_view msg, size_t* pos, Record* rr) {
  size_t p = 0;
  if (!ReadName(msg, *pos, nullptr, &p)) return false;
  ByteReader r(msg.substr(p));
  if (!r.U16Be(&rr->type) || !r.U16Be(&rr->klass) || !r.U32Be(&rr->ttl) ||
      !r.U16Be(&rr->rdlength)) {
    return false;
  }
  rr->rdata = p + 10;
  if (rr->rdata + rr->rdlength > msg.size()) return false;
  *pos = rr->rdata + rr->rdlength;
  return true;
}

// "TYPE=value TTL=n" for the record types DeepFlow shows; false for the others.
bool FormatRecord(std::string_view msg, const Record& rr, std::string* out) {
  const std::string_view rd = msg.substr(rr.rdata, rr.rdlength);
  std::string value;
  size_t end = 0;
  switch (rr.type) {
    case kTypeA:
    case kTypeAaaa: {
      char buf[INET6_ADDRSTRLEN];
      const int af = rr.type == kTypeA ? AF_INET : AF_INET6;
      if (rd.size() != (rr.type == kTypeA ? 4u : 16u) ||
          inet_ntop(af, rd.data(), buf, sizeof(buf)) == nullptr) {
        return false;
      }
      value = buf;
      break;
    }
    case kTypeNs:
    case kTypeCname:
    case kTypePtr:
    case kTypeDname:
      if (!ReadName(msg, rr.rdata, &value, &end)) return false;
      break;
    case kTypeMx: {
      if (rd.size() < 3) return false;
      const unsigned pref = (static_cast<uint8_t>(rd[0]) << 8) | static_cast<uint8_t>(rd[1]);
      value = std::to_string(pref) + " ";
      std::string name;
      if (!ReadName(msg, rr.rdata + 2, &name, &end)) return false;
      value += name;
      break;
    }
    case kTypeSrv: {
      ByteReader r(rd);
      uint16_t prio = 0, weight = 0, port = 0;
      if (!r.U16Be(&prio) || !r.U16Be(&weight) || !r.U16Be(&port)) return false;
      std::string name;
      if (!ReadName(msg, rr.rdata + 6, &name, &end)) return false;
      value = std::to_string(prio) + " " + std::to_string(weight) + " " + std::to_string(port) +
              " " + name;
      break;
    }
    case kTypeSoa: {
      std::string mname, rname;
      size_t p = 0;
      if (!ReadName(msg, rr.rdata, &mname, &p) || !ReadName(msg, p, &rname, &end)) return false;
      value = mname + " " + rname;
      break;
    }
    case kTypeTxt: {
      // <character-string>s, concatenated.
      size_t i = 0;
      while (i < rd.size()) {
        const size_t n = static_cast<uint8_t>(rd[i]);
        if (i + 1 + n > rd.size()) return false;
        for (char ch : rd.substr(i + 1, n)) {
          const auto c = static_cast<unsigned char>(ch);
          value.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.');
        }
        i += 1 + n;
      }
      break;
    }
    default:
      return false;
  }
  if (!out->empty()) out->push_back(';');
  out->append(TypeName(rr.type));
  out->push_back('=');
  out->append(value);
  out->append(" TTL=");
  out->append(std::to_string(rr.ttl));
  return true;
}

// Parses the question and, for a response, the answers. `msg` may be cut short (a TCP message
// beyond the parse bound, a UDP datagram beyond it): what is visible is used.
bool DecodeMessage(std::string_view msg, bool complete, L7Message* out) {
  Header h;
  if (!ReadHeader(msg, &h) || !ValidOpcode(h.opcode())) return false;
  out->is_request = !h.qr();
  out->has_pair_id = true;
  out->pair_id = h.id;
  out->has_request_id = true;
  out->request_id = h.id;
  out->attributes.emplace_back("opcode", std::string(OpcodeName(h.opcode())));
  size_t pos = kHeaderSize;
  for (uint32_t i = 0; i < h.qd && i < kMaxRecords; ++i) {
    Question q;
    size_t end = 0;
    if (!ReadName(msg, pos, i == 0 ? &q.name : nullptr, &end)) {
      if (!complete && i > 0) break;
      return false;
    }
    ByteReader r(msg.substr(end));
    if (!r.U16Be(&q.type) || !r.U16Be(&q.klass)) {
      if (!complete && i > 0) break;
      return false;
    }
    pos = end + 4;
    if (i == 0) {
      out->request_type = TypeName(q.type);
      out->request_resource = q.name;
      out->endpoint = q.name;
      if (q.type == kTypeA || q.type == kTypeAaaa) out->request_domain = q.name;
    }
  }
  if (h.qr()) {
    const uint8_t rcode = h.rcode();
    out->has_code = true;
    out->code = rcode;
    out->status = rcode == 0                   ? L7ResponseStatus::kOk
                  : (rcode == 1 || rcode == 3) ? L7ResponseStatus::kClientError
                                               : L7ResponseStatus::kServerError;
    for (uint32_t i = 0; i < h.an && i < kMaxRecords; ++i) {
      Record rr;
      if (!ReadRecord(msg, &pos, &rr)) {
        if (!complete) break;
        return false;
      }
      if (out->result.size() < kMaxResultBytes) FormatRecord(msg, rr, &out->result);
    }
    if (out->result.size() > kMaxResultBytes) out->result.resize(kMaxResultBytes);
  }
  return true;
}

uint16_t Be16(std::string_view d, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(d[at]) << 8) |
                               static_cast<uint8_t>(d[at + 1]));
}

// A query as a client sends it: strict header and question checks. `msg_size` is the whole
// message's declared size (UDP: the datagram, TCP: the length prefix); `msg` may be shorter.
bool LooksLikeQuery(std::string_view msg, size_t msg_size) {
  Header h;
  if (msg_size < kHeaderSize + 5 || !ReadHeader(msg, &h) || h.qr()) return false;
  const uint8_t op = h.opcode();
  if (!ValidOpcode(op) || op == 6) return false;
  if ((h.flags & 0x0040) != 0 || h.rcode() != 0 || (h.flags & 0x0200) != 0) return false;  // Z, TC
  if (op == 5) {
    // UPDATE: one zone, bounded prerequisite/update/additional sections.
    if (h.qd != 1 || h.an > kMaxRecords || h.ns > kMaxRecords || h.ar > kMaxRecords) {
      return false;
    }
  } else {
    if (h.qd != 1 || h.an > (op == 4 ? 1 : 0) || h.ns != 0 || h.ar > 2) return false;
  }
  size_t end = 0;
  std::string name;
  if (!ReadName(msg, kHeaderSize, &name, &end)) return false;
  if (end + 4 > msg.size()) return false;
  const uint16_t qtype = Be16(msg, end);
  const uint16_t qclass = Be16(msg, end + 2) & 0x7fff;  // mDNS: top bit = unicast response
  if (qtype == 0 ||
      !(qclass == 1 || qclass == 3 || qclass == 4 || qclass == 254 || qclass == 255)) {
    return false;
  }
  // The rest must be exactly the records the header announces, when all of it is visible.
  size_t pos = end + 4;
  const uint32_t records = uint32_t{h.an} + h.ns + h.ar;
  for (uint32_t i = 0; i < records; ++i) {
    Record rr;
    if (!ReadRecord(msg, &pos, &rr)) return msg.size() < msg_size;
  }
  return msg.size() < msg_size || pos == msg_size;
}

InferResult Infer(const InferInput& in) {
  const std::string_view d = in.data;
  if (in.is_udp) return LooksLikeQuery(d, d.size()) ? InferResult::kYes : InferResult::kNo;
  if (d.size() < 2) return InferResult::kNo;
  const size_t len = Be16(d, 0);
  const std::string_view msg = d.substr(2, len);
  return LooksLikeQuery(msg, len) ? InferResult::kYes : InferResult::kNo;
}

std::unique_ptr<Parser> MakeParser(const L7Config& config) {
  return std::make_unique<DnsParser>(config);
}

}  // namespace

std::string TypeName(uint16_t type) {
  static constexpr std::string_view kLow[] = {
      "",       "A",     "NS",     "MD",         "MF",      "CNAME",      "SOA",   "MB",
      "MG",     "MR",    "NULL",   "WKS",        "PTR",     "HINFO",      "MINFO", "MX",
      "TXT",    "RP",    "AFSDB",  "X25",        "ISDN",    "RT",         "NSAP",  "NSAP-PTR",
      "SIG",    "KEY",   "PX",     "GPOS",       "AAAA",    "LOC",        "NXT",   "EID",
      "NIMLOC", "SRV",   "ATMA",   "NAPTR",      "KX",      "CERT",       "A6",    "DNAME",
      "SINK",   "OPT",   "APL",    "DS",         "SSHFP",   "IPSECKEY",   "RRSIG", "NSEC",
      "DNSKEY", "DHCID", "NSEC3",  "NSEC3PARAM", "TLSA",    "SMIMEA",     "",      "HIP",
      "NINFO",  "RKEY",  "TALINK", "CDS",        "CDNSKEY", "OPENPGPKEY", "CSYNC", "ZONEMD",
      "SVCB",   "HTTPS"};
  if (type < std::size(kLow) && !kLow[type].empty()) return std::string(kLow[type]);
  switch (type) {
    case 99:
      return "SPF";
    case 249:
      return "TKEY";
    case 250:
      return "TSIG";
    case 251:
      return "IXFR";
    case 252:
      return "AXFR";
    case 253:
      return "MAILB";
    case 254:
      return "MAILA";
    case 255:
      return "ANY";
    case 256:
      return "URI";
    case 257:
      return "CAA";
    default:
      return "TYPE" + std::to_string(type);
  }
}

std::string_view OpcodeName(uint8_t opcode) {
  switch (opcode) {
    case 0:
      return "QUERY";
    case 1:
      return "IQUERY";
    case 2:
      return "STATUS";
    case 4:
      return "NOTIFY";
    case 5:
      return "UPDATE";
    case 6:
      return "DSO";
    default:
      return "";
  }
}

ParseResult DnsParser::Parse(const ParseInput& in, L7Message* out) {
  const std::string_view d = in.data;
  if (in.is_udp) {
    if (!DecodeMessage(d, d.size() < max_parse_bytes_, out)) return ParseResult::Invalid();
    out->length = static_cast<int64_t>(d.size());
    return ParseResult::Ok(static_cast<uint32_t>(d.size()));
  }
  if (d.size() < 2 + kHeaderSize) {
    if (d.size() >= 2 && Be16(d, 0) < kHeaderSize) return ParseResult::Invalid();
    return in.at_limit ? ParseResult::Invalid() : ParseResult::NeedMore();
  }
  const size_t len = Be16(d, 0);
  if (len < kHeaderSize) return ParseResult::Invalid();
  if (2 + len <= d.size()) {
    if (!DecodeMessage(d.substr(2, len), true, out)) return ParseResult::Invalid();
    out->length = static_cast<int64_t>(len);
    return ParseResult::Ok(static_cast<uint32_t>(2 + len));
  }
  if (!in.at_limit) {
    // Fail early on a header that cannot be right rather than buffering a whole bound.
    Header h;
    if (!ReadHeader(d.substr(2), &h) || !ValidOpcode(h.opcode())) return ParseResult::Invalid();
    return ParseResult::NeedMore();
  }
  if (!DecodeMessage(d.substr(2), false, out)) return ParseResult::Invalid();
  out->length = static_cast<int64_t>(len);
  return ParseResult::Ok(static_cast<uint32_t>(d.size()), 2 + len - d.size());
}

void DnsParser::OnPaired(const L7Message& request, L7Message* response) {
  if (!request.attributes.empty()) response->attributes.clear();
}

size_t DnsParser::FindBoundary(Direction, std::string_view data) {
  // A length prefix followed by a header with one question and bounded counts.
  for (size_t p = 0; p + 2 + kHeaderSize <= data.size(); ++p) {
    const size_t len = Be16(data, p);
    if (len < kHeaderSize + 5) continue;
    Header h;
    if (!ReadHeader(data.substr(p + 2), &h) || !ValidOpcode(h.opcode()) || h.qd != 1 ||
        h.an > kMaxRecords || h.ns > kMaxRecords || h.ar > kMaxRecords) {
      continue;
    }
    size_t end = 0;
    if (ReadName(data.substr(p + 2, len), kHeaderSize, nullptr, &end)) return p;
  }
  return data.size();
}

const ProtocolSpec kSpec{
    .id = L7Protocol::kDns,
    .name = "dns",
    .over_tcp = true,
    .over_udp = true,
    .default_ports = {53, 5353},
    .infer = &Infer,
    .make_parser = &MakeParser,
};

}  // namespace flowscope::agent::l7::dns
