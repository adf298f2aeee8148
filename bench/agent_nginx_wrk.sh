#!/usr/bin/env bash
# P1: nginx + wrk on loopback with the full agent off and on, alternating. Prints figures,
# asserts nothing. docs/benchmarks.md "eBPF agent" has the method and the last figures.
set -euo pipefail
source "$(dirname "$0")/agent_common.sh"

usage() {
  cat <<USAGE
usage: bench/agent_nginx_wrk.sh [options]
  nginx (one worker, core 0) serves a 612-byte file on 127.0.0.1:PORT; wrk (one thread, core 1,
  keep-alive) loads it for DURATION seconds, alternately without and with
  \`flowscope agent --stdout -o /dev/null\` (default options: eBPF + packets; on core 1 beside
  wrk unless --agent-cpu). Throughput and p99 latency per run, medians and the on/off ratio.
  --rounds N         off/on pairs (default 4)
  --duration S       seconds per wrk run (default 10)
  --connections N    wrk connections (default 16)
  --port P           nginx port (default 18090)
  --agent PATH       flowscope binary (default build/release/cli/flowscope)
  --agent-cpu C|any  core for the agent (default 1)
  --agent-args "..." extra agent options (e.g. "--no-packets")
  --keep             keep the scratch directory
USAGE
}

ROUNDS=4 DURATION=10 CONNS=16 PORT=18090 AGENT=$ROOT/build/release/cli/flowscope AGENT_CPU=1
AGENT_ARGS= KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --agent) AGENT=$2; shift 2 ;;
    --agent-cpu) AGENT_CPU=$2; shift 2 ;;
    --agent-args) AGENT_ARGS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$0: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
need nginx; need wrk; need curl; need taskset
[[ -x $AGENT ]] || { echo "$0: $AGENT not built (cmake --build --preset release)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "$0: the agent needs root" >&2; exit 1; }

start_nginx "$PORT" 0
URL=http://127.0.0.1:$PORT/small.html
# One short warm-up run (page cache, nginx's open file cache, TCP).
taskset -c 1 wrk -t1 -c"$CONNS" -d2s "$URL" >/dev/null

# wrk_run LABEL: one run; prints "req_per_s p99_ms".
wrk_run() {
  local out rps p99 unit
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$URL")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  # wrk prints us, ms or s.
  case $p99 in
    *us) p99=$(awk -v v="${p99%us}" 'BEGIN {printf "%.3f", v / 1000}') ;;
    *ms) p99=${p99%ms} ;;
    *s) p99=$(awk -v v="${p99%s}" 'BEGIN {printf "%.3f", v * 1000}') ;;
  esac
  echo "$rps $p99"
}

printf "%-6s %-5s %12s %10s %10s %10s %12s %10s\n" round agent req/s p99_ms agent_cpu% rss_MiB \
  data_events ring_full
declare -a OFF_RPS ON_RPS OFF_P99 ON_P99
for r in $(seq 1 "$ROUNDS"); do
  read -r rps p99 < <(wrk_run)
  OFF_RPS+=("$rps"); OFF_P99+=("$p99")
  printf "%-6s %-5s %12s %10s %10s %10s %12s %10s\n" "$r" off "$rps" "$p99" - - - -
  # shellcheck disable=SC2086
  start_agent "$AGENT_CPU" $AGENT_ARGS
  read -r rps p99 < <(wrk_run)
  stop_agent
  ON_RPS+=("$rps"); ON_P99+=("$p99")
  printf "%-6s %-5s %12s %10s %10s %10s %12s %10s\n" "$r" on "$rps" "$p99" "$(agent_final cpu)" \
    "$(agent_final rss)" "$(agent_final events)" "$(agent_final ring_full)"
done

median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m_off=$(median "${OFF_RPS[@]}") m_on=$(median "${ON_RPS[@]}")
p_off=$(median "${OFF_P99[@]}") p_on=$(median "${ON_P99[@]}")
echo
echo "median req/s: off $m_off, on $m_on; ratio on/off $(awk -v a="$m_on" -v b="$m_off" 'BEGIN {printf "%.3f", a / b}')"
echo "median p99 ms: off $p_off, on $p_on; ratio on/off $(awk -v a="$p_on" -v b="$p_off" 'BEGIN {printf "%.2f", a / b}')"
# Pairwise: each on run against the off run just before it.
ratios=()
for i in "${!ON_RPS[@]}"; do ratios+=("$(awk -v a="${ON_RPS[$i]}" -v b="${OFF_RPS[$i]}" 'BEGIN {printf "%.3f", a / b}')"); done
echo "pairwise req/s ratios: ${ratios[*]} (median $(median "${ratios[@]}"))"
