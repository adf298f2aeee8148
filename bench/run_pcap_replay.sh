#!/usr/bin/env bash
# Pcap replay benchmark of the packet path (docs/benchmarks.md, "pcap replay"):
#   1. writes a synthetic capture with gen_flows_pcap (many overlapping TCP flows, DNS, IPv6),
#   2. replays it on one pinned core through libpcap's bare read loop (the ceiling), through
#      read + decode, read + decode + flow map, and the whole flowscope packet path
#      (pcap_replay_bench),
#   3. times `tshark -q -z conv,tcp -r FILE` on the same file (or on a prefix of it when
#      --tshark-packets is given; the flowscope figures are then also taken on that prefix),
#   4. prints one markdown table and checks that flowscope and tshark count the same TCP
#      conversations.
# Figures are reported, never asserted: the exit status is non-zero only when something could
# not run.
#
# Build first:  cmake --preset release && cmake --build --preset release
# Then:         bench/run_pcap_replay.sh [options]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/release
OUT=$ROOT/bench/out
FLOWS=100000
TRACE_SECONDS=60
SEED=1
SNAPLEN=128
REPEAT=7
CORE=1
TSHARK_PACKETS=0
TSHARK_REPEAT=1
KEEP=0

usage() {
  cat <<EOF
usage: $0 [options]
  --flows N           flows started during the trace (default $FLOWS)
  --seconds S         trace duration (default $TRACE_SECONDS)
  --seed N            generator seed (default $SEED)
  --snaplen N         bytes captured per frame, 0 = whole frames (default $SNAPLEN)
  --repeat N          measured runs per mode after one warm-up; best and median (default $REPEAT)
  --core N            CPU every run is pinned to with taskset (default $CORE)
  --tshark-packets N  run tshark (and compare with flowscope) on the first N packets only;
                      0 = the whole file (default $TSHARK_PACKETS)
  --tshark-repeat N   tshark runs, the best counts (default $TSHARK_REPEAT)
  --build DIR         build tree with bench/ binaries (default build/release)
  --out DIR           scratch directory for captures and logs (default bench/out, git-ignored)
  --keep              keep the generated captures (default: delete them at the end)
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --flows) FLOWS=$2; shift 2 ;;
    --seconds) TRACE_SECONDS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --snaplen) SNAPLEN=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --core) CORE=$2; shift 2 ;;
    --tshark-packets) TSHARK_PACKETS=$2; shift 2 ;;
    --tshark-repeat) TSHARK_REPEAT=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_pcap_replay.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

GEN=$BUILD/bench/gen_flows_pcap
BENCH=$BUILD/bench/pcap_replay_bench
for bin in "$GEN" "$BENCH"; do
  if [[ ! -x $bin ]]; then
    echo "run_pcap_replay.sh: $bin not found; build first:" >&2
    echo "  cmake --preset release && cmake --build --preset release" >&2
    exit 1
  fi
done
for tool in taskset tshark awk; do
  if ! command -v "$tool" >/dev/null; then
    echo "run_pcap_replay.sh: $tool not found (Debian: apt-get install util-linux tshark gawk)" >&2
    exit 1
  fi
done
if ! taskset -c "$CORE" true 2>/dev/null; then
  echo "run_pcap_replay.sh: cannot pin to core $CORE ($(nproc) cores here); use --core N" >&2
  exit 2
fi

mkdir -p "$OUT"
PIN=(taskset -c "$CORE")
NAME=flows${FLOWS}_${TRACE_SECONDS}s_seed${SEED}_snap${SNAPLEN}
FULL=$OUT/$NAME.pcap
cleanup() {
  if [[ $KEEP == 0 ]]; then rm -f "$OUT/$NAME".pcap "$OUT/$NAME"_first*.pcap; fi
}
trap cleanup EXIT

# value KEY FILE: the value of KEY in key=value words of FILE (first match).
value() {
  awk -v k="$1" '{
    for (i = 1; i <= NF; i++) {
      n = index($i, "=")
      if (n > 0 && substr($i, 1, n - 1) == k) { print substr($i, n + 1); exit }
    }
  }' "$2"
}

echo "== generating $FULL" >&2
"$GEN" --out "$FULL" --flows "$FLOWS" --seconds "$TRACE_SECONDS" --seed "$SEED" \
  --snaplen "$SNAPLEN" >"$OUT/$NAME.gen.txt"
cat "$OUT/$NAME.gen.txt" >&2
PACKETS=$(value packets "$OUT/$NAME.gen.txt")

# The file tshark and flowscope are compared on.
CMP=$FULL
CMP_GEN=$OUT/$NAME.gen.txt
CMP_LABEL=full
if [[ $TSHARK_PACKETS -gt 0 && $TSHARK_PACKETS -lt $PACKETS ]]; then
  CMP=$OUT/${NAME}_first${TSHARK_PACKETS}.pcap
  CMP_GEN=$OUT/${NAME}_first${TSHARK_PACKETS}.gen.txt
  CMP_LABEL="first $TSHARK_PACKETS"
  echo "== generating the prefix $CMP" >&2
  "$GEN" --out "$CMP" --flows "$FLOWS" --seconds "$TRACE_SECONDS" --seed "$SEED" \
    --snaplen "$SNAPLEN" --max-packets "$TSHARK_PACKETS" >"$CMP_GEN"
  if ! cmp -s -n "$(stat -c %s "$CMP")" "$CMP" "$FULL"; then
    echo "run_pcap_replay.sh: $CMP is not a prefix of $FULL (generator not deterministic?)" >&2
    exit 1
  fi
fi
# Small file for tshark's fixed start-up cost (dissector registration, preferences).
TINY=$OUT/${NAME}_first1000.pcap
"$GEN" --out "$TINY" --flows "$FLOWS" --seconds "$TRACE_SECONDS" --seed "$SEED" \
  --snaplen "$SNAPLEN" --max-packets 1000 >/dev/null

cat "$FULL" "$CMP" >/dev/null  # page cache

# bench MODE FILE TAG: runs pcap_replay_bench, leaves its RESULT line in $OUT/TAG.txt.
bench() {
  echo "== $1 on $(basename "$2") (core $CORE, 1 warm-up + $REPEAT runs)" >&2
  "${PIN[@]}" "$BENCH" --mode "$1" --repeat "$REPEAT" --warmup 1 "$2" | tee "$OUT/$3.log" >&2
  grep '^RESULT ' "$OUT/$3.log" >"$OUT/$3.txt"
}

bench libpcap "$FULL" full_libpcap
bench decode "$FULL" full_decode
bench flowmap "$FULL" full_flowmap
bench flowscope "$FULL" full_flowscope
if [[ $CMP != "$FULL" ]]; then
  bench libpcap "$CMP" cmp_libpcap
  bench flowscope "$CMP" cmp_flowscope
else
  cp "$OUT/full_libpcap.txt" "$OUT/cmp_libpcap.txt"
  cp "$OUT/full_flowscope.txt" "$OUT/cmp_flowscope.txt"
fi

# tshark: wall clock of the whole command, as a user would run it. stderr carries the
# "running as root" warning; it goes to a log.
now() { date +%s.%N; }
# GNU time (Debian package `time`) adds tshark's CPU time and peak memory when present.
TIME=()
: >"$OUT/tshark.time"
: >"$OUT/tshark.best.time"
if [[ -x /usr/bin/time ]]; then
  TIME=(/usr/bin/time -f "user=%U sys=%S max_rss_kb=%M" -o "$OUT/tshark.time")
fi
TSHARK_BEST=
for ((i = 1; i <= TSHARK_REPEAT; i++)); do
  echo "== tshark -q -z conv,tcp on $(basename "$CMP") (core $CORE), run $i" >&2
  t0=$(now)
  "${TIME[@]}" \
    "${PIN[@]}" tshark -q -z conv,tcp -r "$CMP" >"$OUT/tshark.out" 2>"$OUT/tshark.err"
  t1=$(now)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  echo "   $secs s wall, $(cat "$OUT/tshark.time")" >&2
  if [[ -z $TSHARK_BEST ]] || awk -v a="$secs" -v b="$TSHARK_BEST" 'BEGIN { exit !(a < b) }'; then
    TSHARK_BEST=$secs
    cp "$OUT/tshark.time" "$OUT/tshark.best.time"
  fi
done
TSHARK_CONV=$(grep -c '<->' "$OUT/tshark.out" || true)
t0=$(now)
"${PIN[@]}" tshark -q -z conv,tcp -r "$TINY" >/dev/null 2>&1
t1=$(now)
TSHARK_STARTUP=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')

# ---- Table ----------------------------------------------------------------------------------
GEN_FULL=$OUT/$NAME.gen.txt
CMP_PACKETS=$(value packets "$CMP_GEN")
CMP_WIRE=$(value wire_bytes "$CMP_GEN")
LIBPCAP_FULL=$(value best_mpps "$OUT/full_libpcap.txt")
LIBPCAP_CMP=$(value best_mpps "$OUT/cmp_libpcap.txt")
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '(no commit)')

# tshark's CPU time (user + system) of its best run, when GNU time measured it.
TSHARK_CPU=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
  END { if ("user" in v) printf "%.3f", v["user"] + v["sys"] }' "$OUT/tshark.best.time")

row() {  # row TOOL FILELABEL RESULTFILE CEILING_MPPS TSHARK_WALL TSHARK_CPU
  local f=$3
  awk -v tool="$1" -v file="$2" -v p="$(value packets "$f")" -v best="$(value best_s "$f")" \
      -v med="$(value median_s "$f")" -v cpu="$(value min_cpu_s "$f")" \
      -v mpps="$(value best_mpps "$f")" -v gbps="$(value best_gbps "$f")" -v ceil="$4" \
      -v ts="$5" -v tc="$6" 'BEGIN {
    vs = (ts == "") ? "" : sprintf("%.1fx", ts / best)
    vc = (ts == "" || tc == "") ? "" : sprintf("%.1fx", tc / cpu)
    printf "| %s | %s | %d | %.3f | %.3f | %.3f | %.2f | %.2f | %.1f | %.2f | %s | %s |\n",
      tool, file, p, best, med, cpu, mpps, p / cpu / 1e6, gbps, mpps / ceil, vs, vc }'
}

echo
echo "### pcap replay, one core (taskset -c $CORE)"
echo
echo "- capture: $FLOWS flows over ${TRACE_SECONDS} s, seed $SEED, snaplen $SNAPLEN:" \
  "$PACKETS packets, $(value wire_bytes "$GEN_FULL") wire bytes" \
  "(avg $(value avg_wire_len "$GEN_FULL") B/packet), $(value file_bytes "$GEN_FULL") file bytes," \
  "$(value tcp_flows "$GEN_FULL") TCP + $(value udp_flows "$GEN_FULL") UDP flows," \
  "up to $(value max_active_flows "$GEN_FULL") concurrent"
echo "- machine: $(nproc) cores, $CPU_MODEL, kernel $(uname -r);" \
  "$(tshark --version 2>/dev/null | head -1)"
echo "- flowscope $REV, $(date -u +%Y-%m-%d); $REPEAT runs after a warm-up, best and median"
echo
echo "| tool | file | packets | wall s (best) | wall s (median) | CPU s | Mpps (wall) |" \
  "Mpps (CPU) | Gbit/s (wall) | share of libpcap ceiling | speedup vs tshark (wall) |" \
  "speedup vs tshark (CPU) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
TS_FULL=
TC_FULL=
if [[ $CMP == "$FULL" ]]; then
  TS_FULL=$TSHARK_BEST
  TC_FULL=$TSHARK_CPU
fi
row "libpcap read loop (ceiling)" full "$OUT/full_libpcap.txt" "$LIBPCAP_FULL" \
  "$TS_FULL" "$TC_FULL"
row "flowscope read + decode" full "$OUT/full_decode.txt" "$LIBPCAP_FULL" \
  "$TS_FULL" "$TC_FULL"
row "flowscope read + decode + flow map" full "$OUT/full_flowmap.txt" "$LIBPCAP_FULL" \
  "$TS_FULL" "$TC_FULL"
row "flowscope packet path" full "$OUT/full_flowscope.txt" "$LIBPCAP_FULL" \
  "$TS_FULL" "$TC_FULL"
if [[ $CMP != "$FULL" ]]; then
  row "libpcap read loop (ceiling)" "$CMP_LABEL" "$OUT/cmp_libpcap.txt" "$LIBPCAP_CMP" \
    "$TSHARK_BEST" "$TSHARK_CPU"
  row "flowscope packet path" "$CMP_LABEL" "$OUT/cmp_flowscope.txt" "$LIBPCAP_CMP" \
    "$TSHARK_BEST" "$TSHARK_CPU"
fi
awk -v file="$CMP_LABEL" -v p="$CMP_PACKETS" -v w="$CMP_WIRE" -v s="$TSHARK_BEST" \
    -v c="$TSHARK_CPU" -v ceil="$LIBPCAP_CMP" -v n="$TSHARK_REPEAT" 'BEGIN {
  mpps = p / s / 1e6
  cpu = (c == "") ? "" : sprintf("%.3f", c)
  cmpps = (c == "") ? "" : sprintf("%.3f", p / c / 1e6)
  printf "| tshark -q -z conv,tcp | %s | %d | %.3f | (%d run%s) | %s | %.3f | %s | %.2f | %.4f |" \
    " 1.0x | 1.0x |\n", file, p, s, n, (n > 1 ? "s" : ""), cpu, mpps, cmpps, w * 8 / s / 1e9,
    mpps / ceil }'
echo
FS_CONV=$(value tcp_flows "$OUT/cmp_flowscope.txt")
GEN_CONV=$(value tcp_flows "$CMP_GEN")
if [[ $FS_CONV == "$TSHARK_CONV" ]]; then VERDICT=agree; else VERDICT=DIFFER; fi
echo "- TCP conversations in the compared file ($CMP_LABEL): flowscope $FS_CONV," \
  "tshark $TSHARK_CONV, generator $GEN_CONV: $VERDICT"
R=$OUT/full_flowscope.txt
echo "- flowscope on the full file: $(value flows_created "$R") flows," \
  "$(value flow_logs "$R") flow logs, $(value network_rows "$R") network rows," \
  "$(value network_map_rows "$R") network_map rows, $(value decode_errors "$R") decode errors," \
  "peak RSS $(value max_rss_kb "$R") kB"
echo "- tshark: $(cat "$OUT/tshark.time") (last run); start-up alone (1000-packet file):" \
  "$TSHARK_STARTUP s"
