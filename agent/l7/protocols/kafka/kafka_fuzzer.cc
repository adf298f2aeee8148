// libFuzzer entry for the kafka parser: records of both directions fed in order to one parser
// (responses meet the requests they answer); see FuzzRecordParser in agent/l7/testing/stream_fuzz.h.
#include "agent/l7/protocols/kafka/kafka.h"
#include "agent/l7/testing/stream_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  return flowscope::agent::l7::fuzzing::FuzzRecordParser(flowscope::agent::l7::kafka::kSpec,
                                                          9092, bytes, size);
}
