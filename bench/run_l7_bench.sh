#!/usr/bin/env bash
# L7 benchmark (docs/benchmarks.md, "L7 request logs"): request logs per second per core from a
# capture, and memory per 100k concurrent flows, for HTTP/1.1, Redis and MySQL. Per protocol:
#   1. writes a capture of that protocol with gen_l7_pcap (interleaved connections, whole
#      frames) and checks with tshark that it holds exactly the requests the generator wrote,
#   2. replays it on one pinned core through the whole flowscope pipeline with L7 request logs
#      (pcap_replay_bench --mode flowscope: all registered protocols, as `flowscope pcap`) and
#      without (--mode l4only), best and median of N runs after a warm-up,
#   3. writes a second capture whose connections are all open at once (--layout concurrent)
#      and a tiny one, runs both modes once on each, and takes the peak RSS difference per flow,
# then prints markdown tables. Figures are reported, never asserted: the exit status is
# non-zero only when something could not run or tshark disagrees with the generator.
#
# Build first:  cmake --preset release && cmake --build --preset release
# Then:         bench/run_l7_bench.sh [options]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/release
OUT=$ROOT/bench/out
PROTOCOLS="http redis mysql"
FLOWS=2000
REQUESTS=250
MEM_FLOWS=100000
MEM_REQUESTS=2
SEED=1
REPEAT=5
CORE=1
TSHARK=1
KEEP=0

usage() {
  cat <<EOF
usage: $0 [options]
  --protocols "P ..."  protocols to run, of http redis mysql (default "$PROTOCOLS")
  --flows N            connections of the throughput capture (default $FLOWS)
  --requests N         requests per connection of the throughput capture (default $REQUESTS)
  --mem-flows N        connections open at once in the memory capture (default $MEM_FLOWS)
  --mem-requests N     requests per connection of the memory capture (default $MEM_REQUESTS)
  --seed N             generator seed (default $SEED)
  --repeat N           measured runs per mode after one warm-up; best and median (default $REPEAT)
  --core N             CPU every run is pinned to with taskset (default $CORE)
  --no-tshark          skip the tshark check of the captures (it takes ~2 min per protocol)
  --build DIR          build tree with bench/ binaries (default build/release)
  --out DIR            scratch directory for captures and logs (default bench/out, git-ignored)
  --keep               keep the generated captures (default: delete them at the end)
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --protocols) PROTOCOLS=$2; shift 2 ;;
    --flows) FLOWS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --mem-flows) MEM_FLOWS=$2; shift 2 ;;
    --mem-requests) MEM_REQUESTS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --core) CORE=$2; shift 2 ;;
    --no-tshark) TSHARK=0; shift ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_l7_bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

GEN=$BUILD/bench/gen_l7_pcap
BENCH=$BUILD/bench/pcap_replay_bench
for bin in "$GEN" "$BENCH"; do
  if [[ ! -x $bin ]]; then
    echo "run_l7_bench.sh: $bin not found; build first:" >&2
    echo "  cmake --preset release && cmake --build --preset release" >&2
    exit 1
  fi
done
TOOLS=(taskset awk)
if [[ $TSHARK == 1 ]]; then TOOLS+=(tshark); fi
for tool in "${TOOLS[@]}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "run_l7_bench.sh: $tool not found (Debian: apt-get install util-linux gawk tshark)" >&2
    exit 1
  fi
done
if ! taskset -c "$CORE" true 2>/dev/null; then
  echo "run_l7_bench.sh: cannot pin to core $CORE ($(nproc) cores here); use --core N" >&2
  exit 2
fi
for p in $PROTOCOLS; do
  case $p in
    http|redis|mysql) ;;
    *) echo "run_l7_bench.sh: unknown protocol $p (http, redis, mysql)" >&2; exit 2 ;;
  esac
done

mkdir -p "$OUT"
PIN=(taskset -c "$CORE")
CAPTURES=()
cleanup() {
  if [[ $KEEP == 0 && ${#CAPTURES[@]} -gt 0 ]]; then rm -f "${CAPTURES[@]}"; fi
}
trap cleanup EXIT

# value KEY FILE: the value of KEY in key=value words of FILE (first match; empty if none).
value() {
  awk -v k="$1" '{
    for (i = 1; i <= NF; i++) {
      n = index($i, "=")
      if (n > 0 && substr($i, 1, n - 1) == k) { print substr($i, n + 1); exit }
    }
  }' "$2"
}

# tshark_requests PROTOCOL FILE: the requests tshark finds (a frame can hold several).
tshark_requests() {
  case $1 in
    http)
      tshark -r "$2" -d tcp.port==80,http --disable-protocol json -Y http.request \
        -T fields -e http.request.method 2>/dev/null |
        awk -F'\t' '$1 != "" { n += split($1, a, ",") } END { print n + 0 }'
      ;;
    redis)
      # Commands are the client's top-level arrays (of bulk strings). tshark 4.0's RESP
      # dissector shows a command cut by a segment boundary twice in two cases, and the second
      # showing is the one counted: (1) partially in its first frame, flagged
      # resp.reassembled_in_next_frame, and whole in the next; (2) cut right after its header
      # ("*2\r\n"): an array without elements at the end of a frame (not flagged), and whole in
      # the next. (A command cut before its last element is shown once, partially, and the rest
      # as a lone bulk string: counted once.)
      tshark -r "$2" -d tcp.port==6379,resp -Y 'tcp.dstport == 6379 && resp' \
        -T fields -e resp.array.length -e resp.bulk_string.length \
        -e resp.reassembled_in_next_frame 2>/dev/null |
        awk -F'\t' '{
          na = $1 == "" ? 0 : split($1, a, ",")
          nb = $2 == "" ? 0 : split($2, b, ",")
          n += na
          if ($3 != "") { n--; next }
          rem = nb
          for (i = 1; i < na; i++) rem -= a[i]
          if (na > 0 && a[na] > 0 && rem <= 0) n--
        } END { print n + 0 }'
      ;;
    mysql)
      # COM_* commands plus the login request (HandshakeResponse41, which names the user).
      tshark -r "$2" -d tcp.port==3306,mysql -Y 'mysql.command || mysql.user' \
        -T fields -e mysql.command -e mysql.user 2>/dev/null |
        awk -F'\t' '$1 != "" { n += split($1, a, ",") } $2 != "" { n += split($2, b, ",") }
          END { print n + 0 }'
      ;;
  esac
}

# bench MODE FILE TAG REPEAT WARMUP: runs pcap_replay_bench, leaves its RESULT line in TAG.txt.
bench() {
  echo "== $1 on $(basename "$2") (core $CORE, $5 warm-up + $4 runs)" >&2
  "${PIN[@]}" "$BENCH" --mode "$1" --repeat "$4" --warmup "$5" "$2" | tee "$OUT/$3.log" >&2
  grep '^RESULT ' "$OUT/$3.log" >"$OUT/$3.txt"
}

REGISTERED=$("$BENCH" --list-l7-protocols | tr '\n' ' ')
echo "== registered L7 protocols: ${REGISTERED:-none}" >&2
FAILED=0

for p in $PROTOCOLS; do
  NAME=l7_${p}_f${FLOWS}_r${REQUESTS}_seed${SEED}
  F=$OUT/$NAME.pcap
  CAPTURES+=("$F")
  echo "== generating $F" >&2
  "$GEN" --protocol "$p" --out "$F" --flows "$FLOWS" --requests "$REQUESTS" --seed "$SEED" \
    >"$OUT/$p.gen.txt"
  tr '\n' ' ' <"$OUT/$p.gen.txt" >&2
  echo >&2
  GEN_REQ=$(value requests "$OUT/$p.gen.txt")
  if [[ $TSHARK == 1 ]]; then
    echo "== tshark: counting the requests in $(basename "$F")" >&2
    TS_REQ=$(tshark_requests "$p" "$F")
    if [[ $TS_REQ == "$GEN_REQ" ]]; then
      echo "   tshark $TS_REQ, generator $GEN_REQ: agree" >&2
    else
      echo "   tshark $TS_REQ, generator $GEN_REQ: DIFFER" >&2
      FAILED=1
    fi
  else
    TS_REQ="(not run)"
  fi
  echo "$TS_REQ" >"$OUT/$p.tshark.txt"
  cat "$F" >/dev/null  # page cache
  bench flowscope "$F" "${p}_l7" "$REPEAT" 1
  bench l4only "$F" "${p}_l4" "$REPEAT" 1
  rm -f "$F"  # the memory captures need the disk space

  # Memory: peak RSS with every connection open at once, minus the peak of a tiny capture
  # (binary, libraries, buffers), per connection. One run, no warm-up, so that the peak is
  # this run's.
  MF=$OUT/l7_${p}_concurrent_f${MEM_FLOWS}_r${MEM_REQUESTS}_seed${SEED}.pcap
  TF=$OUT/l7_${p}_concurrent_f10_r${MEM_REQUESTS}_seed${SEED}.pcap
  CAPTURES+=("$MF" "$TF")
  echo "== generating $MF" >&2
  "$GEN" --protocol "$p" --layout concurrent --out "$MF" --flows "$MEM_FLOWS" \
    --requests "$MEM_REQUESTS" --seed "$SEED" >"$OUT/$p.mem.gen.txt"
  tr '\n' ' ' <"$OUT/$p.mem.gen.txt" >&2
  echo >&2
  "$GEN" --protocol "$p" --layout concurrent --out "$TF" --flows 10 \
    --requests "$MEM_REQUESTS" --seed "$SEED" >"$OUT/$p.tiny.gen.txt"
  for mode in flowscope l4only; do
    bench "$mode" "$MF" "${p}_mem_$mode" 1 0
    bench "$mode" "$TF" "${p}_tiny_$mode" 1 0
  done
  rm -f "$MF" "$TF"
done

# ---- Tables ---------------------------------------------------------------------------------
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '(no commit)')

# per100k P MODE: bytes per flow and MB per 100k flows of mode MODE for protocol P.
per100k() {
  awk -v peak="$(value max_rss_kb "$OUT/$1_mem_$2.txt")" \
      -v tiny="$(value max_rss_kb "$OUT/$1_tiny_$2.txt")" -v n="$MEM_FLOWS" 'BEGIN {
    b = (peak - tiny) * 1024 / n
    printf "%.0f B/flow, %.1f MB", b, b * 100000 / 1e6 }'
}

echo
echo "### L7 request logs, one core (taskset -c $CORE)"
echo
echo "- throughput captures: $FLOWS connections x $REQUESTS requests (interleaved, seed $SEED);" \
  "memory captures: $MEM_FLOWS connections open at once x $MEM_REQUESTS requests"
echo "- machine: $(nproc) cores, $CPU_MODEL, kernel $(uname -r)"
echo "- flowscope $REV, $(date -u +%Y-%m-%d); registered L7 protocols: ${REGISTERED:-none};" \
  "$REPEAT runs after a warm-up, best wall clock and least CPU time"
echo
echo "| protocol | requests (generator / tshark) | request logs | packets | wall s (best) |" \
  "wall s (median) | CPU s | wall / CPU | request logs/s (wall) | request logs/s (CPU) |" \
  "packets/s (wall) | memory per 100k concurrent flows, L7 on | L7 off |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for p in $PROTOCOLS; do
  R=$OUT/${p}_l7.txt
  awk -v p="$p" -v g="$(value requests "$OUT/$p.gen.txt")" -v t="$(cat "$OUT/$p.tshark.txt")" \
      -v logs="$(value l7_logs "$R")" -v pk="$(value packets "$R")" \
      -v best="$(value best_s "$R")" -v med="$(value median_s "$R")" \
      -v bcpu="$(value best_cpu_s "$R")" -v cpu="$(value min_cpu_s "$R")" \
      -v on="$(per100k "$p" flowscope)" -v off="$(per100k "$p" l4only)" 'BEGIN {
    printf "| %s | %d / %s | %d | %d | %.3f | %.3f | %.3f | %.2f |", p, g, t, logs, pk, best, med,
      cpu, best / bcpu
    printf " %.0f | %.0f | %.0f | %s | %s |\n", logs / best, logs / cpu, pk / best, on, off }'
done
echo
echo "L7 share and the engine's counters (L4 only = the same pipeline with the L7 engine off):"
echo
echo "| protocol | L4 only: wall s (best) | CPU s | packets/s (CPU) | L7 on: packets/s (CPU) |" \
  "L7 CPU per request log | L7 share of CPU | flows inferred / unknown | sessions |" \
  "error rows | timeouts | invalid | resyncs | peak RSS L7 on / off (memory capture) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for p in $PROTOCOLS; do
  R=$OUT/${p}_l7.txt
  L=$OUT/${p}_l4.txt
  awk -v p="$p" -v lbest="$(value best_s "$L")" -v lcpu="$(value min_cpu_s "$L")" \
      -v cpu="$(value min_cpu_s "$R")" -v pk="$(value packets "$R")" \
      -v logs="$(value l7_logs "$R")" -v inf="$(value l7_flows_inferred "$R")" \
      -v unk="$(value l7_flows_unknown "$R")" -v ses="$(value l7_sessions "$R")" \
      -v err="$(value l7_error_logs "$R")" -v to="$(value l7_timeouts "$R")" \
      -v inv="$(value l7_invalid "$R")" -v rs="$(value l7_resyncs "$R")" \
      -v mon="$(value max_rss_kb "$OUT/${p}_mem_flowscope.txt")" \
      -v moff="$(value max_rss_kb "$OUT/${p}_mem_l4only.txt")" 'BEGIN {
    per = logs > 0 ? sprintf("%.0f ns", (cpu - lcpu) / logs * 1e9) : "-"
    printf "| %s | %.3f | %.3f | %.0f | %.0f | %s | %.0f %% | %d / %d | %d | %d | %d | %d |",
      p, lbest, lcpu, pk / lcpu, pk / cpu, per, (cpu - lcpu) / cpu * 100, inf, unk, ses, err,
      to, inv
    printf " %d | %.0f / %.0f MB |\n", rs, mon / 1024, moff / 1024 }'
done
echo
echo "- generator: $(for p in $PROTOCOLS; do
  printf '%s %s requests, %s error responses, %s packets, %s wire bytes, %s s of trace; ' \
    "$p" "$(value requests "$OUT/$p.gen.txt")" "$(value error_responses "$OUT/$p.gen.txt")" \
    "$(value packets "$OUT/$p.gen.txt")" "$(value wire_bytes "$OUT/$p.gen.txt")" \
    "$(value trace_seconds "$OUT/$p.gen.txt")"
done)"
echo "- a run is trustworthy when wall / CPU is near 1; above ~1.2 the core was shared"
if [[ $FAILED != 0 ]]; then
  echo "run_l7_bench.sh: tshark and the generator disagree on a capture (see above)" >&2
  exit 1
fi
