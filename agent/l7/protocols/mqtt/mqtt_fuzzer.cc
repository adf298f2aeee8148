// libFuzzer entry for the mqtt parser: records of both directions fed in order to one parser
// (a CONNECT sets the protocol level); see FuzzRecordParser in agent/l7/testing/stream_fuzz.h.
#include "agent/l7/protocols/mqtt/mqtt.h"
#include "agent/l7/testing/stream_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  return flowscope::agent::l7::fuzzing::FuzzRecordParser(flowscope::agent::l7::mqtt::kSpec,
                                                          1883, bytes, size);
}
