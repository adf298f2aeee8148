// PostgreSQL frontend/backend protocol 3.0: inference, one message per Parse call, request
// fields for the request log, and a walker over backend messages that finds the end of a
// response (ReadyForQuery) without buffering result rows.
//
// Spec: https://www.postgresql.org/docs/current/protocol.html — message flow
// (protocol-flow.html: start-up, simple query, extended query, COPY, SSL/GSS negotiation),
// message formats (protocol-message-formats.html), error and notice fields
// (protocol-error-fields.html), SQLSTATE codes (errcodes-appendix.html).
//
// Message model (see README.md):
//   - request = one frontend unit: a StartupMessage; a simple Query ('Q'); a FunctionCall
//     ('F'); Terminate ('X', no response); or an extended-query batch: Parse/Bind/Describe/
//     Execute/Close messages up to and including Sync ('S') or Flush ('H'). request_type is
//     DeepFlow's name of the unit's first message ("simple query", "parse", "bind", ...).
//     Password/SASL messages and COPY data are consumed without a log (`ignore`).
//   - response = every backend message up to and including ReadyForQuery ('Z'); for the
//     start-up, up to 'Z' or the ErrorResponse that refuses the session; for a batch ended by
//     Flush, the complete messages available. Beyond max_parse_bytes the parser keeps walking
//     message headers in later calls (`ignore` messages with exact skips) until the 'Z'.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/l7/l7_config.h"
#include "agent/l7/parser.h"

namespace flowscope::agent::l7::postgresql {

extern const ProtocolSpec kSpec;

InferResult Infer(const InferInput& in);

// DeepFlow's names of frontend message types ("simple query", "parse", ...); "" if unknown.
std::string_view FrontendTypeName(char type);
// Response status of an SQLSTATE, by class as DeepFlow maps them (client errors: 03, 0A, 0B,
// 0F, 0L, 0P, 20, 22, 23, 26, 2F, 34, 3D, 3F, 42 and 40001/40003/40P01; the rest server errors).
L7ResponseStatus SqlStateStatus(std::string_view sqlstate);
// Rows counted in a CommandComplete tag ("INSERT 0 3" → 3, "UPDATE 2" → 2, "SELECT 1" → 1,
// also MOVE, FETCH, COPY, MERGE); false for tags that count nothing ("CREATE TABLE").
bool TagRows(std::string_view tag, uint64_t* rows);

class PostgresqlParser final : public Parser {
 public:
  // `config` must outlive the parser (the engine owns both).
  explicit PostgresqlParser(const L7Config& config) : config_(&config) {}

  ParseResult Parse(const ParseInput& in, L7Message* out) override;
  size_t FindBoundary(Direction dir, std::string_view data) override;

  static constexpr size_t kMaxPending = 64;
  static constexpr size_t kMaxStatements = 64;
  static constexpr size_t kMaxStatementName = 64;
  static constexpr size_t kMaxStatementSql = 1024;
  static constexpr uint32_t kMaxMessageLength = 1u << 30;  // the server's own limit (1 GB)

 private:
  enum class Phase : uint8_t { kStart, kStartup, kReady, kOpaque };
  // What ends the response to a request.
  enum class End : uint8_t { kReady, kStartup, kFlush };
  struct Statement {
    std::string name;
    std::string sql;
  };

  ParseResult ParseClient(const ParseInput& in, L7Message* out);
  ParseResult ParseUntyped(const ParseInput& in, L7Message* out);
  ParseResult ParseSimple(const ParseInput& in, char type, uint32_t len, L7Message* out);
  ParseResult ParseBatch(const ParseInput& in, L7Message* out);
  ParseResult SkipFrontend(const ParseInput& in, L7Message* out);
  ParseResult ParseServer(const ParseInput& in, L7Message* out);
  ParseResult SkipBackend(const ParseInput& in, L7Message* out);
  void FillRequestSql(std::string_view sql, L7Message* out) const;
  void RememberStatement(std::string_view name, std::string_view sql);
  void ForgetStatement(std::string_view name);
  const Statement* FindStatement(std::string_view name) const;
  void PushPending(End end);

  const L7Config* config_;
  Phase phase_ = Phase::kStart;
  bool ssl_requested_ = false;  // SSLRequest/GSSENCRequest sent: a one-byte answer comes
  bool startup_seen_ = false;
  std::string version_;  // "3.0" once a StartupMessage was seen
  std::deque<End> pending_;
  std::vector<Statement> statements_;
  bool client_skipping_ = false;  // dropping the rest of a batch cut at the bound, up to Sync
  bool server_skipping_ = false;  // dropping the rest of a response cut at the bound
  End server_end_ = End::kReady;
};

}  // namespace flowscope::agent::l7::postgresql
