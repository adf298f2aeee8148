// MySQL client/server protocol (also MariaDB): inference, one message per Parse call, request
// fields for the request log, and a packet walker that finds the end of result sets without
// buffering them.
//
// Spec: https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
//   packets: page_protocol_basic_packets.html; connection phase (HandshakeV10,
//   HandshakeResponse41, SSLRequest, AuthSwitchRequest): page_protocol_connection_phase.html;
//   commands: page_protocol_command_phase.html; OK/ERR/EOF: page_protocol_basic_response_packets
//   .html; text result sets: page_protocol_com_query_response_text_resultset.html; prepared
//   statements: page_protocol_command_phase_ps.html. MariaDB additions:
//   https://mariadb.com/kb/en/result-set-packets/ (metadata cache byte in the column count).
//
// Message model (see README.md): a request is one command packet (seq 0) or the login packet
// (HandshakeResponse41, seq 1). A response is everything the server sends for it: a single
// OK/ERR/EOF packet, or a whole result set (column count, definitions, rows, terminator, and
// further result sets while SERVER_MORE_RESULTS_EXISTS is set), or COM_STMT_PREPARE_OK with its
// parameter and column definitions. Only the first max_parse_bytes are shown; the parser then
// keeps walking packet headers in later calls (returned as `ignore` messages with exact skips)
// until the terminator, so a result set of any size costs no buffering.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::mysql {

extern const ProtocolSpec kSpec;

// Command bytes (page_protocol_command_phase.html); names as DeepFlow logs them.
inline constexpr uint8_t kComQuit = 0x01;
inline constexpr uint8_t kComInitDb = 0x02;
inline constexpr uint8_t kComQuery = 0x03;
inline constexpr uint8_t kComFieldList = 0x04;
inline constexpr uint8_t kComStatistics = 0x09;
inline constexpr uint8_t kComPing = 0x0e;
inline constexpr uint8_t kComChangeUser = 0x11;
inline constexpr uint8_t kComStmtPrepare = 0x16;
inline constexpr uint8_t kComStmtExecute = 0x17;
inline constexpr uint8_t kComStmtSendLongData = 0x18;
inline constexpr uint8_t kComStmtClose = 0x19;
inline constexpr uint8_t kComStmtReset = 0x1a;
inline constexpr uint8_t kComStmtFetch = 0x1c;
inline constexpr uint8_t kComResetConnection = 0x1f;
// Not a command byte: marks the login (HandshakeResponse41) in the pending queue.
inline constexpr uint8_t kLogin = 0xff;

// "COM_QUERY", ...; "" for bytes that are not commands.
std::string_view CommandName(uint8_t command);

InferResult Infer(const InferInput& in);

class MysqlParser final : public Parser {
 public:
  // `config` must outlive the parser (the engine owns both).
  explicit MysqlParser(const L7Config& config) : config_(&config) {}

  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;

  // Bounds of the per-flow state.
  static constexpr size_t kMaxPending = 64;
  static constexpr size_t kMaxStatements = 64;
  static constexpr size_t kMaxStatementSql = 1024;

  // Where a walk through the packets of one response is.
  struct Walk {
    enum class Phase : uint8_t {
      kFirst,        // the next packet starts a result (OK, ERR, column count, ...)
      kDefs,         // column definitions, then EOF (unless CLIENT_DEPRECATE_EOF) or rows
      kRows,         // rows until EOF/OK (0xfe) or ERR
      kPrepParams,   // COM_STMT_PREPARE_OK parameter definitions
      kPrepColumns,  // COM_STMT_PREPARE_OK column definitions
      kFieldList,    // COM_FIELD_LIST: definitions until EOF
    };
    Phase phase = Phase::kFirst;
    uint8_t command = 0;     // the request this responds to (0: unknown)
    uint32_t defs_left = 0;  // definitions still expected in kDefs / kPrep*
    uint16_t prep_columns = 0;
    bool long_packet = false;  // the previous packet was 0xffffff bytes: this one continues it
    bool seq_known = false;
    uint8_t next_seq = 0;
  };
  // What the walk learnt about the response (only the first message's walk fills a message).
  struct Summary {
    bool error = false;
    uint16_t error_code = 0;
    std::string error_message;
    bool ok_seen = false;
    uint64_t affected_rows = 0;
    bool has_statement_id = false;
    uint32_t statement_id = 0;
  };

 private:
  enum class Phase : uint8_t { kUnknown, kGreeted, kAuth, kCommand, kOpaque };
  struct Pending {
    uint8_t command = 0;
    bool dml = false;
    std::string sql;  // COM_STMT_PREPARE: remembered with the statement id of its answer
  };
  struct Statement {
    uint32_t id = 0;
    bool dml = false;
    std::string sql;
  };
  enum class StepResult : uint8_t { kContinue, kEnd, kUnclear, kForeign, kInvalid };
  struct WalkOutcome {
    uint32_t consumed = 0;
    uint64_t skip = 0;
    bool done = false;
    bool invalid = false;
    bool complete_if_no_more = false;
  };

  ParseResult ParseClient(const ParseInput& in, L7Message* out);
  ParseResult ParseServer(const ParseInput& in, L7Message* out);
  ParseResult ParseLogin(const ParseInput& in, uint32_t len, L7Message* out);
  ParseResult ParseResponseStart(const ParseInput& in, L7Message* out);
  ParseResult ParseAuthResult(const ParseInput& in, L7Message* out);
  ParseResult Continue(const ParseInput& in, L7Message* out);
  // Consumes packets that belong to no message (auth exchange, stray continuation packets)
  // up to the next packet whose sequence id is `stop_seq` (none when negative).
  ParseResult IgnorePackets(const ParseInput& in, int stop_seq, L7Message* out);
  StepResult Step(Walk* w, uint8_t seq, uint32_t len, std::string_view payload, bool complete,
                  Summary* sum) const;
  WalkOutcome RunWalk(std::string_view data, bool at_limit, Walk* w, Summary* sum) const;
  void FillRequestSql(std::string_view sql, L7Message* out);
  void FillResponse(const Summary& sum, uint8_t command, bool dml, uint64_t length,
                    L7Message* out) const;
  const Statement* FindStatement(uint32_t id) const;
  void ForgetStatement(uint32_t id);
  void PushPending(Pending p);
  bool DeprecateEof() const { return caps_known_ && (client_caps_ & server_caps_ & (1u << 24)); }

  const L7Config* config_;
  Phase phase_ = Phase::kUnknown;
  bool greeted_ = false;
  bool caps_known_ = false;
  uint32_t client_caps_ = 0;
  uint32_t server_caps_ = 0xffffffff;  // until a greeting says otherwise
  std::deque<Pending> pending_;
  std::vector<Statement> statements_;
  // A response whose first bytes were reported, still being walked (server direction).
  bool continuing_ = false;
  Walk cont_;
};

}  // namespace flowscope::agent::l7::mysql
