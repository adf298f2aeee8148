# Shared by bench/agent_nginx_wrk.sh and bench/agent_cost.sh (sourced): a scratch nginx with
# one worker on 127.0.0.1:$PORT serving small.html, the agent started and stopped by pid, and
# cleanup of both on exit.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX_PID=
AGENT_PID=
SCRATCH=

cleanup() {
  [[ -n $AGENT_PID ]] && kill -INT "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  [[ -n $NGINX_PID ]] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  [[ -n $SCRATCH && $KEEP != 1 ]] && rm -rf "$SCRATCH"
  AGENT_PID= NGINX_PID=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() { command -v "$1" >/dev/null || { echo "$0: $1 not found (scripts/install-deps)" >&2; exit 1; }; }

# start_nginx PORT CPU: master and its one worker pinned to CPU, keep-alive, access log off.
start_nginx() {
  local port=$1 cpu=$2
  SCRATCH=$(mktemp -d /tmp/fs_agent_bench.XXXXXX)
  mkdir -p "$SCRATCH/html" "$SCRATCH/logs"
  # 612 bytes, the size of nginx's default index.html.
  head -c 612 /dev/zero | tr '\0' 'x' > "$SCRATCH/html/small.html"
  cat > "$SCRATCH/nginx.conf" <<CONF
user root;
worker_processes 1;
worker_cpu_affinity auto;
pid $SCRATCH/nginx.pid;
error_log $SCRATCH/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $SCRATCH/tmp_body;
  proxy_temp_path $SCRATCH/tmp_proxy;
  fastcgi_temp_path $SCRATCH/tmp_fcgi;
  uwsgi_temp_path $SCRATCH/tmp_uwsgi;
  scgi_temp_path $SCRATCH/tmp_scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$port;
    root $SCRATCH/html;
  }
}
CONF
  taskset -c "$cpu" nginx -p "$SCRATCH" -c "$SCRATCH/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/small.html" >/dev/null && return 0
    sleep 0.05
  done
  echo "$0: nginx did not answer on port $port ($SCRATCH/logs/error.log)" >&2
  exit 1
}

# start_agent CPU ARGS...: the agent pinned to CPU (or unpinned with CPU "any"), stderr to
# $SCRATCH/agent.err; waits until it says it is running.
start_agent() {
  local cpu=$1
  shift
  : > "$SCRATCH/agent.err"
  if [[ $cpu == any ]]; then
    "$AGENT" agent --stdout -o /dev/null --stats-interval 0 "$@" 2> "$SCRATCH/agent.err" &
  else
    taskset -c "$cpu" "$AGENT" agent --stdout -o /dev/null --stats-interval 0 "$@" \
      2> "$SCRATCH/agent.err" &
  fi
  AGENT_PID=$!
  for _ in $(seq 200); do
    grep -q "running" "$SCRATCH/agent.err" && { sleep 0.5; return 0; }
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "$0: the agent did not start:" >&2
  cat "$SCRATCH/agent.err" >&2
  exit 1
}

# stop_agent: SIGINT, wait; its final stats stay in $SCRATCH/agent.err.
stop_agent() {
  kill -INT "$AGENT_PID" 2>/dev/null
  wait "$AGENT_PID" 2>/dev/null
  AGENT_PID=
}

# agent_final FIELD: from the agent's final stats: cpu (%), rss (MiB), events (data events),
# ring_full.
agent_final() {
  local f=$SCRATCH/agent.err
  case $1 in
    cpu) grep -o 'final: cpu [0-9.]*' "$f" | awk '{print $3}' ;;
    rss) grep -o 'final: cpu [0-9.]*%, rss [0-9.]*' "$f" | awk '{print $5}' ;;
    events) grep -o '[0-9]* data events' "$f" | tail -1 | awk '{print $1}' ;;
    ring_full) grep -o 'ring_full=[0-9]*' "$f" | head -1 | cut -d= -f2 ;;
    kernel_drops) grep -o 'kernel=[0-9]*' "$f" | tail -1 | cut -d= -f2 ;;
  esac
}
