// libFuzzer entry for the dns parser: see agent/l7/testing/stream_fuzz.h.
#include "agent/l7/protocols/dns/dns.h"
#include "agent/l7/testing/stream_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace flowscope::agent::l7;  // NOLINT
  fuzzing::FuzzStreamParser(dns::kSpec, 53, bytes, size);
  // UDP: one datagram per direction.
  if (size > 1) {
    const std::string_view all(reinterpret_cast<const char*>(bytes) + 1, size - 1);
    dns::kSpec.infer(InferInput{Direction::kClientToServer, all, true, 53});
    if (bytes[0] & 1) {
      auto udp = dns::kSpec.make_parser(L7Config{});
      L7Message m;
      udp->Parse(ParseInput{Direction::kClientToServer, all.substr(0, 1024), true, true}, &m);
      L7Message m2;
      udp->Parse(ParseInput{Direction::kServerToClient, all, true, true}, &m2);
    }
  }
  return 0;
}
