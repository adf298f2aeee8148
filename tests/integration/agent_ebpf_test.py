#!/usr/bin/python3
"""`flowscope agent` end to end with real servers and real clients on loopback.

The test starts nginx (HTTP and HTTPS), redis, PostgreSQL and MariaDB by hand in a scratch
directory, a small Python service that calls redis for every HTTP request it serves, and then
`flowscope agent --stdout` with its defaults (eBPF and packet capture together). It then runs
curl, redis-cli, psql and mysql, and checks the request logs:
  - eBPF rows (signal_source 3) name the right client and server processes (process_kname_0/1,
    process_id_0/1 = the real pids) and the right request details (method/command, resource,
    status), for HTTP, Redis, PostgreSQL and MySQL;
  - HTTPS from curl to nginx is seen in plaintext: GET, path, 200, is_tls = true;
  - the service's inbound HTTP request and its outbound redis call share a syscall_trace_id;
  - packet rows (signal_source 0) come out of the same agent for the same traffic on lo;
then stresses it: thousands of new connections per second (wrk, Connection: close), a 20 MB
write, busy non-socket fds (pipes, files), 300 short-lived processes. The agent must survive,
stop cleanly on SIGINT with exit status 0, and report its drop counters in the final stats.

Needs root, nginx, redis-server, postgresql, mariadb-server, curl, openssl, wrk. Environment:
FLOWSCOPE_BIN (set by CTest) or build/release/cli/flowscope.
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PY = "/usr/bin/python3"
FLOWSCOPE = os.environ.get("FLOWSCOPE_BIN") or os.path.join(
    os.environ.get("FS_SOURCE_DIR", os.getcwd()), "build/release/cli/flowscope")

HTTP_PORT, HTTPS_PORT, REDIS_PORT, PG_PORT, MY_PORT, SVC_PORT, SINK_PORT = (
    18280, 18643, 16391, 15442, 13317, 18290, 18291)

FAILURES = []
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if cond:
        print(f"ok   {what}")
    else:
        print(f"FAIL {what}")
        FAILURES.append(what)


def wait_port(port, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=kw.pop("timeout", 60), **kw)


class Servers:
    def __init__(self, d):
        self.d = d
        self.procs = []
        self.pg_data = None

    def bg(self, cmd, **kw):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def nginx(self):
        d = os.path.join(self.d, "nginx")
        os.makedirs(os.path.join(d, "html"))
        os.makedirs(os.path.join(d, "tmp"))
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "2", "-subj", "/CN=fs.test"])
        with open(f"{d}/html/hello.txt", "w") as f:
            f.write("hello from nginx\n")
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
user root;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  server {{
    listen 127.0.0.1:{HTTP_PORT};
    listen 127.0.0.1:{HTTPS_PORT} ssl;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    root {d}/html;
  }}
}}
""")
        self.nginx_proc = self.bg(["nginx", "-p", d, "-c", f"{d}/nginx.conf", "-g",
                                   "daemon off;"])

    def redis(self):
        self.bg(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir",
                 self.d, "--save", "", "--appendonly", "no"])

    def postgres(self):
        d = os.path.join(self.d, "pg")
        os.makedirs(d)
        shutil.chown(d, "postgres")
        bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        run(["runuser", "-u", "postgres", "--", f"{bindir}/initdb", "-D", f"{d}/data", "-A",
             "trust", "-U", "postgres", "--no-sync"])
        run(["runuser", "-u", "postgres", "--", f"{bindir}/pg_ctl", "-D", f"{d}/data", "-l",
             f"{d}/log", "-o", f"-p {PG_PORT} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off",
             "-w", "start"])
        self.pg_bindir = bindir
        self.pg_data = f"{d}/data"

    def mariadb(self):
        d = os.path.join(self.d, "my")
        os.makedirs(d)
        run(["mariadb-install-db", "--no-defaults", f"--datadir={d}/data", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"], timeout=120)
        self.bg(["mariadbd", "--no-defaults", f"--datadir={d}/data", f"--socket={d}/sock",
                 f"--port={MY_PORT}", "--bind-address=127.0.0.1", "--user=root",
                 f"--pid-file={d}/pid", f"--log-error={d}/err.log", "--skip-log-bin",
                 "--innodb-buffer-pool-size=64M"])

    def service(self):
        # An HTTP service that makes one redis call per request, on the serving thread.
        script = os.path.join(self.d, "svc.py")
        with open(script, "w") as f:
            f.write(f"""
import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        r = socket.create_connection(("127.0.0.1", {REDIS_PORT}))
        r.sendall(b"*2\\r\\n$3\\r\\nGET\\r\\n$6\\r\\nsvckey\\r\\n")
        r.recv(100)
        r.close()
        body = b"served\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", {SVC_PORT}), H).serve_forever()
""")
        self.svc_proc = self.bg([PY, script])

    def sink(self):
        # Reads whatever a client sends (the huge write).
        script = os.path.join(self.d, "sink.py")
        with open(script, "w") as f:
            f.write(f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {SINK_PORT})); s.listen(8)
while True:
    c, _ = s.accept()
    n = 0
    while True:
        b = c.recv(1 << 20)
        if not b: break
        n += len(b)
    c.sendall(str(n).encode()); c.close()
""")
        self.bg([PY, script])

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.pg_data:
            subprocess.run(["runuser", "-u", "postgres", "--", f"{self.pg_bindir}/pg_ctl", "-D",
                            self.pg_data, "-m", "immediate", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pids_of(name):
    out = subprocess.run(["pgrep", "-x", name], stdout=subprocess.PIPE, text=True).stdout
    return {int(x) for x in out.split()}


def main():
    if os.geteuid() != 0:
        print("agent_ebpf_test: needs root")
        return 1
    d = tempfile.mkdtemp(prefix="fs_agent_")
    os.chmod(d, 0o755)
    servers = Servers(d)
    agent = None
    try:
        servers.nginx()
        servers.redis()
        servers.postgres()
        servers.mariadb()
        servers.service()
        servers.sink()
        for port in (HTTP_PORT, HTTPS_PORT, REDIS_PORT, PG_PORT, MY_PORT, SVC_PORT, SINK_PORT):
            if not wait_port(port, 30):
                print(f"FAIL server on port {port} did not start")
                return 1

        rows_path = os.path.join(d, "rows.jsonl")
        err_path = os.path.join(d, "agent.err")
        errf = open(err_path, "w")
        agent = subprocess.Popen([FLOWSCOPE, "agent", "--stdout", "-o", rows_path,
                                  "--stats-interval", "2", "-i", "lo"],
                                 stdout=subprocess.DEVNULL, stderr=errf)
        end = time.time() + 30
        while time.time() < end and "running" not in open(err_path).read():
            if agent.poll() is not None:
                break
            time.sleep(0.1)
        started = "running" in open(err_path).read()
        check(started, "agent started (eBPF and packets)")
        if not started:
            print(open(err_path).read())
            return 1
        time.sleep(0.5)

        # --- the calls whose rows are checked
        curl_http = subprocess.Popen(["curl", "-s", "-o", "/dev/null",
                                      f"http://127.0.0.1:{HTTP_PORT}/hello.txt"])
        curl_http_pid = curl_http.pid
        curl_http.wait(timeout=30)
        curl_tls = subprocess.Popen(["curl", "-s", "-k", "-o", "/dev/null", "--http1.1",
                                     f"https://127.0.0.1:{HTTPS_PORT}/hello.txt"])
        curl_tls_pid = curl_tls.pid
        curl_tls.wait(timeout=30)
        rc = subprocess.Popen(["redis-cli", "-p", str(REDIS_PORT), "set", "fskey", "v1"],
                              stdout=subprocess.DEVNULL)
        redis_cli_pid = rc.pid
        rc.wait(timeout=30)
        env = dict(os.environ, PGCONNECT_TIMEOUT="10")
        pq = subprocess.Popen(["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres",
                               "-c", "select 42 as answer"], stdout=subprocess.DEVNULL, env=env)
        psql_pid = pq.pid
        pq.wait(timeout=30)
        my = subprocess.Popen(["mysql", "-h", "127.0.0.1", "-P", str(MY_PORT), "-u", "root",
                               "-e", "select 43"], stdout=subprocess.DEVNULL)
        mysql_pid = my.pid
        my.wait(timeout=30)
        run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{SVC_PORT}/work"])

        # --- stress: new connections, a huge write, non-socket fds, short-lived processes
        wrk = subprocess.run(["wrk", "-t", "1", "-c", "32", "-d", "3", "-H", "Connection: close",
                              f"http://127.0.0.1:{HTTP_PORT}/hello.txt"],
                             stdout=subprocess.PIPE, text=True, timeout=60)
        m = re.search(r"Requests/sec:\s+([\d.]+)", wrk.stdout)
        conn_rate = float(m.group(1)) if m else 0.0
        print(f"info new connections per second (wrk, Connection: close): {conn_rate:.0f}")
        with socket.create_connection(("127.0.0.1", SINK_PORT)) as s:
            s.sendall(b"x" * (20 << 20))
            s.shutdown(socket.SHUT_WR)
            got = s.recv(100)
        check(got == str(20 << 20).encode(), "the 20 MB write went through")
        subprocess.run("dd if=/dev/zero bs=64k count=3000 2>/dev/null | cat > /dev/null; "
                       f"dd if=/dev/zero of={d}/file bs=64k count=500 2>/dev/null",
                       shell=True, check=True, timeout=60)
        for _ in range(300):
            subprocess.run(["/bin/true"], check=True)
        time.sleep(3)  # the last rows reach the file (ring wake-up, flush every 100 ms)

        check(agent.poll() is None, "agent still running after the stress")
        agent.send_signal(signal.SIGINT)
        try:
            code = agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            code = None
        errf.close()
        err = open(err_path).read()
        check(code == 0, f"agent exited 0 on SIGINT (got {code})")
        final = [l for l in err.splitlines() if "final:" in l]
        check(bool(final), "final stats line printed")
        check(re.search(r"ring_full=\d+ copy_failed=\d+ map_full=\d+", err) is not None,
              "eBPF drop counters reported")
        check(re.search(r"drops: kernel=\d+", err) is not None, "packet drop counters reported")
        print("\n".join(l for l in err.splitlines()[-8:]))

        rows = []
        with open(rows_path) as f:
            for line in f:
                rows.append(json.loads(line))
        ebpf = [r for r in rows if r["signal_source"] == 3]
        packet = [r for r in rows if r["signal_source"] == 0]
        print(f"info rows: {len(rows)} ({len(ebpf)} eBPF, {len(packet)} packet)")

        nginx_pids = pids_of("nginx")

        def find(pred):
            return [r for r in ebpf if pred(r)]

        # HTTP: curl → nginx, both ends named, in the client's row and in the server's.
        http = find(lambda r: r["l7_protocol_str"] == "HTTP" and r["server_port"] == HTTP_PORT
                    and r["request_resource"] == "/hello.txt" and not r["is_tls"]
                    and r["process_id_0"] == curl_http_pid)
        check(len(http) >= 2, f"HTTP curl→nginx: client and server rows ({len(http)})")
        for r in http:
            check(r["request_type"] == "GET" and r["response_code"] == 200
                  and r["process_kname_0"] == "curl" and r["process_kname_1"] == "nginx"
                  and r["process_id_1"] in nginx_pids,
                  f"HTTP row names curl ({curl_http_pid}) and nginx ({r['process_id_1']}), "
                  f"GET 200")
        check(any(r["flow_id"] >> 48 == 1 and r["syscall_thread_0"] == curl_http_pid
                  for r in http), "HTTP client row carries curl's thread")

        # HTTPS: plaintext through the OpenSSL uprobes.
        tls = find(lambda r: r["is_tls"] and r["server_port"] == HTTPS_PORT)
        check(len(tls) >= 1, f"HTTPS rows with is_tls ({len(tls)})")
        check(any(r["l7_protocol_str"] == "HTTP" and r["request_type"] == "GET"
                  and r["request_resource"] == "/hello.txt" and r["response_code"] == 200
                  and r["process_id_0"] == curl_tls_pid and r["process_kname_0"] == "curl"
                  for r in tls), "HTTPS decrypted: GET /hello.txt 200 from curl")
        check(any(r["process_kname_1"] == "nginx" for r in tls), "HTTPS server side: nginx")

        # Redis.
        red = find(lambda r: r["l7_protocol_str"] == "Redis" and r["server_port"] == REDIS_PORT
                   and r["request_type"] == "SET")
        check(len(red) >= 2, f"Redis SET rows ({len(red)})")
        check(all(r["process_kname_0"] == "redis-cli" and r["process_id_0"] == redis_cli_pid
                  and r["process_kname_1"] == "redis-server" and r["response_status"] == 0
                  for r in red), "Redis rows name redis-cli and redis-server, status ok")

        # PostgreSQL.
        pg = find(lambda r: r["l7_protocol_str"] == "PostgreSQL" and r["server_port"] == PG_PORT
                  and "select 42" in r["request_resource"].lower())
        check(len(pg) >= 2, f"PostgreSQL query rows ({len(pg)})")
        check(all(r["process_kname_0"] == "psql" and r["process_id_0"] == psql_pid
                  and r["process_kname_1"] == "postgres" for r in pg),
              "PostgreSQL rows name psql and postgres")

        # MySQL.
        my_rows = find(lambda r: r["l7_protocol_str"] == "MySQL" and r["server_port"] == MY_PORT
                       and "select 43" in r["request_resource"].lower())
        check(len(my_rows) >= 2, f"MySQL query rows ({len(my_rows)})")
        check(all(r["request_type"] == "COM_QUERY" and r["process_id_0"] == mysql_pid
                  and r["process_kname_0"] in ("mysql", "mariadb")
                  and r["process_kname_1"] == "mariadbd" for r in my_rows),
              "MySQL rows: COM_QUERY from the mysql client to mariadbd")

        # The service: inbound HTTP and its outbound redis call share a syscall_trace_id.
        svc_pid = servers.svc_proc.pid
        inbound = find(lambda r: r["l7_protocol_str"] == "HTTP" and r["server_port"] == SVC_PORT
                       and r["process_id_1"] == svc_pid and r["flow_id"] >> 48 == 1
                       and r["request_resource"] == "/work")
        outbound = find(lambda r: r["l7_protocol_str"] == "Redis" and r["process_id_0"] == svc_pid
                        and r["request_type"] == "GET")
        check(len(inbound) >= 1 and len(outbound) >= 1,
              f"service rows: inbound HTTP ({len(inbound)}) and outbound redis ({len(outbound)})")
        if inbound and outbound:
            tid = inbound[0]["syscall_trace_id_request"]
            check(tid != 0 and any(r["syscall_trace_id_request"] == tid for r in outbound),
                  f"inbound HTTP and outbound redis share syscall_trace_id {tid}")

        # Packets: the same agent also produced rows from lo.
        check(any(r["l7_protocol_str"] == "HTTP" and r["server_port"] == HTTP_PORT
                  for r in packet), "packet rows for the same HTTP traffic (signal_source 0)")
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
        servers.stop()
        shutil.rmtree(d, ignore_errors=True)
    print(f"{CHECKS - len(FAILURES)} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
