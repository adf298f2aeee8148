#!/usr/bin/env bash
# P2: what the eBPF agent costs. (1) socket_tracer_bench: CPU ns added per traced syscall on a
# loopback ping-pong; (2) the agent (default options) while bench/agent_load drives nginx at
# increasing request rates: data events/s, ring_full drops, agent CPU % and RSS per step, so
# the highest rate with zero drops and the cost at 10k requests/s can be read off. Prints
# figures, asserts nothing. docs/benchmarks.md "eBPF agent" has the method and last figures.
set -euo pipefail
source "$(dirname "$0")/agent_common.sh"

usage() {
  cat <<USAGE
usage: bench/agent_cost.sh [options]
  --build DIR        build tree (default build/release)
  --rates "R ..."    request rates to step through, 0 = as fast as possible
                     (default "10000 20000 40000 0")
  --seconds S        seconds per step (default 10)
  --connections N    agent_load connections (default 8)
  --port P           nginx port (default 18091)
  --skip-syscall     skip the socket_tracer_bench part
  --keep             keep the scratch directory
  nginx: one worker on core 0; agent_load on core 1; the agent unpinned.
USAGE
}

BUILD=$ROOT/build/release RATES="10000 20000 40000 0" SECONDS_PER=10 CONNS=8 PORT=18091
SKIP_SYSCALL=0 KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --skip-syscall) SKIP_SYSCALL=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$0: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
AGENT=$BUILD/cli/flowscope
LOAD=$BUILD/bench/agent_load
need nginx; need curl; need taskset
for b in "$AGENT" "$LOAD" "$BUILD/agent/ebpf/socket_tracer_bench"; do
  [[ -x $b ]] || { echo "$0: $b not built (cmake --build --preset release)" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "$0: the agent needs root" >&2; exit 1; }

if [[ $SKIP_SYSCALL == 0 ]]; then
  echo "== CPU ns per traced syscall (socket_tracer_bench, 100-byte ping-pong)"
  "$BUILD/agent/ebpf/socket_tracer_bench" 2000 100 3 20 | sed -n '/minimum/,$p'
  echo
fi

start_nginx "$PORT" 0
echo "== agent (default options: eBPF + packets) under agent_load → nginx, $SECONDS_PER s per step"
printf "%10s %10s %8s %12s %10s %10s %10s %10s\n" target req/s p99_us data_ev/s ring_full \
  pkt_drops agent_cpu% rss_MiB
for rate in $RATES; do
  start_agent any
  out=$(taskset -c 1 "$LOAD" --port "$PORT" --connections "$CONNS" --rate "$rate" \
    --seconds "$SECONDS_PER" --path /small.html || true)
  stop_agent
  rps=$(awk '{print $6}' <<<"$out")
  p99=$(awk '{print $10}' <<<"$out")
  ev=$(agent_final events)
  printf "%10s %10s %8s %12s %10s %10s %10s %10s\n" "$([[ $rate == 0 ]] && echo max || echo "$rate")" \
    "$rps" "$p99" "$(awk -v e="${ev:-0}" -v s="$SECONDS_PER" 'BEGIN {printf "%.0f", e / s}')" \
    "$(agent_final ring_full)" "$(agent_final kernel_drops)" "$(agent_final cpu)" "$(agent_final rss)"
done
