#!/usr/bin/python3
"""Live capture end to end: `flowscope capture` on a veth pair between two network namespaces
and on the loopback of a namespace, against traffic whose every byte the test knows.

For each case the test starts flowscope (and tcpdump as an independent packet counter) in the
namespace of the captured interface, waits for the "capturing on" line, runs TCP connections and
UDP request/reply exchanges with python sockets from known sizes, stops the capture (--duration
or SIGINT) and checks the L4 flow log rows:
  - exactly the expected flows exist (by protocol and client port), nothing else;
  - TCP: close_type 1 (finish), l4_byte_tx/rx equal to the bytes sent each way, packet_tx/rx
    equal to what tcpdump counted per direction (and at least handshake + data + FIN);
  - UDP: l4 bytes and 1 packet each way exactly;
  - loopback: each packet counted once (the kernel's outgoing copies are skipped and counted as
    duplicates in the summary: duplicates == packets);
  - a kernel filter (--filter udp) keeps TCP out entirely;
  - two captures in one PACKET_FANOUT hash group split the flows, each flow whole in one;
  - 802.1Q tags that the receiving kernel moved into packet metadata are put back (vlan 100,
    frame length with the tag);
  - a tun device (no link header) is read as raw IP, and its removal ends the capture with a
    clear error;
  - rows stream while the capture runs, and an unknown interface or a bad filter is a clear
    error.

Needs root (namespaces, AF_PACKET, /dev/net/tun), iproute2 and tcpdump. Namespaces are named fslive_<pid>_*
and use 10.253.0.0/16; they are deleted in a finally block. Environment: FLOWSCOPE_BIN (set by
CTest) or build/release/cli/flowscope.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

PY = "/usr/bin/python3"
FLOWSCOPE = os.environ.get("FLOWSCOPE_BIN") or os.path.join(
    os.environ.get("FS_SOURCE_DIR", os.getcwd()), "build/release/cli/flowscope")
PID = os.getpid()
NS_CLIENT = f"fslive_{PID}_c"
NS_SERVER = f"fslive_{PID}_s"
NS_LO = f"fslive_{PID}_lo"
VETH_C = f"fslv{PID % 100000}c"  # names are at most 15 characters
VETH_S = f"fslv{PID % 100000}s"
IP_C = "10.253.1.1"
IP_S = "10.253.1.2"
IP_LO = "10.253.2.1"
TCP_PORT = 15001
UDP_PORT = 15002

# (client sends, server replies) per TCP connection; sizes around the MSS and well above it.
TCP_SPECS = [(1, 1), (100, 2000), (1448, 1448), (5000, 300), (20000, 70000), (777, 0),
             (4096, 65536)]
# (request, reply) per UDP exchange, each from a new socket (new source port); below the MTU so
# that nothing is fragmented.
UDP_SPECS = [(1, 1), (50, 70), (512, 1024), (1400, 100), (8, 1200)]

results = []  # (name, ok, detail)


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))
    print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail and not ok else ""),
          flush=True)
    return ok


def sh(*args, check_rc=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


# --- traffic peers, run inside a namespace with `ip netns exec` -------------------------------

SERVER_CODE = r"""
import json, socket, sys, threading
host, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tcp_specs, udp_specs = json.loads(sys.argv[4]), json.loads(sys.argv[5])
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((host, tcp_port)); t.listen(16)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((host, udp_port))
def tcp():
    # Connections come one after the other: the i-th gets the i-th (request, reply) sizes.
    for want, reply in tcp_specs:
        c, _ = t.accept()
        got = 0
        while got < want:
            d = c.recv(65536)
            if not d: break
            got += len(d)
        if reply: c.sendall(b"s" * reply)
        c.shutdown(socket.SHUT_WR)        # our FIN
        while c.recv(65536): pass          # until the client's FIN
        c.close()
def udp():
    for req, reply in udp_specs:
        d, a = u.recvfrom(65536)
        u.sendto(b"r" * reply, a)
th = [threading.Thread(target=tcp), threading.Thread(target=udp)]
for x in th: x.start()
print("ready", flush=True)
for x in th: x.join()
"""

CLIENT_CODE = r"""
import json, socket, sys, time
host, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tcp_specs, udp_specs = json.loads(sys.argv[4]), json.loads(sys.argv[5])
out = {"tcp": [], "udp": []}
for send, reply in tcp_specs:
    s = socket.create_connection((host, tcp_port), timeout=10)
    port = s.getsockname()[1]
    s.sendall(b"c" * send)
    got = 0
    while True:
        d = s.recv(65536)
        if not d: break
        got += len(d)
    s.close()                               # FIN after the server's: a clean close
    out["tcp"].append([port, send, got])
for req, reply in udp_specs:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
    u.sendto(b"q" * req, (host, udp_port))
    d, _ = u.recvfrom(65536)
    out["udp"].append([u.getsockname()[1], req, len(d)])
    u.close()
print(json.dumps(out), flush=True)
"""


# Crafts what the kernel's own stack would not send here: 802.1Q-tagged frames on the veth (the
# receiving kernel moves the tag into packet metadata, flowscope must put it back) and raw IP
# packets written into a tun device (no link header: flowscope reads it as raw IP).
INJECT_CODE = r"""
import fcntl, json, os, socket, struct, sys

def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ipv4_udp(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + udp

mode, sizes = sys.argv[1], json.loads(sys.argv[2])
if mode == "vlan":  # vlan IFNAME DST_MAC SRC_IP DST_IP VLAN_ID
    ifname, dst_mac, src, dst, vid = sys.argv[3:8]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    mac = s.getsockname()[4]
    for i, n in enumerate(sizes):
        s.send(bytes.fromhex(dst_mac.replace(":", "")) + mac +
               struct.pack("!HHH", 0x8100, int(vid), 0x0800) +
               ipv4_udp(src, dst, 40000 + i, 15002, b"v" * n))
else:  # tun TUNNAME SRC_IP DST_IP: attach, wait for "go", send, read the replies, wait for EOF
    name, src, dst = sys.argv[3:6]
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN | IFF_NO_PI
    print("attached", flush=True)
    sys.stdin.readline()
    replies = []
    for i, n in enumerate(sizes):
        os.write(fd, ipv4_udp(src, dst, 41000 + i, 15002, b"t" * n))
        pkt = os.read(fd, 65536)
        replies.append(len(pkt) - 28)
    print(json.dumps(replies), flush=True)
    sys.stdin.readline()  # the device lives as long as this process
"""

UDP_ECHO_CODE = r"""
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((sys.argv[1], 15002))
print("ready", flush=True)
for _ in range(int(sys.argv[2])):
    d, a = u.recvfrom(65536)
    u.sendto(b"R" * (2 * len(d)), a)   # reply twice the request
"""


def run_traffic(ns_server, ns_client, host, tcp_specs, udp_specs):
    """Runs the peers; returns {"tcp": [[port, sent, received]], "udp": [...]}."""
    args = [host, str(TCP_PORT), str(UDP_PORT), json.dumps(tcp_specs), json.dumps(udp_specs)]
    server = subprocess.Popen(["ip", "netns", "exec", ns_server, PY, "-c", SERVER_CODE, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"server did not start: {line!r} {server.stderr.read()}")
        client = subprocess.run(["ip", "netns", "exec", ns_client, PY, "-c", CLIENT_CODE, *args],
                                capture_output=True, text=True, timeout=60)
        if client.returncode != 0:
            raise RuntimeError(f"client failed: {client.stderr}")
        server.wait(timeout=20)
        return json.loads(client.stdout)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


# --- flowscope and tcpdump --------------------------------------------------------------------

class Flowscope:
    """`flowscope capture` in a namespace; collects stdout rows (with arrival times) and stderr."""

    def __init__(self, ns, args):
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, FLOWSCOPE, "capture", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.rows, self.row_times, self.err = [], [], []
        self.ready = threading.Event()
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            self.row_times.append(time.monotonic())
            self.rows.append(json.loads(line))

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line)
            if "capturing on" in line:
                self.ready.set()

    def wait_ready(self, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ready.wait(0.1):
                return True
            if self.proc.poll() is not None:
                break
        return False

    def finish(self, timeout=30):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.exit_time = time.monotonic()
        self.t_out.join(5)
        self.t_err.join(5)
        return rc

    def stderr(self):
        return "".join(self.err)

    def summary_number(self, pattern):
        m = re.search(pattern, self.stderr())
        return int(m.group(1)) if m else None


class Tcpdump:
    """An independent count of the packets on the interface (libpcap also drops lo's
    outgoing copies)."""

    def __init__(self, ns, ifname, bpf, path):
        self.path = path
        self.total = 0
        self.stats = ""
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "-nn",
                                      "--immediate-mode",
                                      "-B", "16384", "-s", "0", "-U", "-Z", "root", "-w", path,
                                      *bpf.split()],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()  # "listening on IF, link-type ..." once capturing
        if "listening on" not in line:
            raise RuntimeError(f"tcpdump did not start: {line}{self.proc.stderr.read()}")

    def stop(self):
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        self.stats = " ".join(self.proc.stderr.read().split())  # "N packets captured ..."

    def counts(self):
        """{(proto, src_ip, src_port, dst_ip, dst_port): packets}"""
        r = sh("tcpdump", "-nn", "-r", self.path)
        counts = {}
        self.total = len(r.stdout.splitlines())
        pat = re.compile(r" IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): (\S+)")
        for line in r.stdout.splitlines():
            m = pat.search(line)
            if not m:
                continue
            proto = 17 if m.group(5).startswith("UDP") else 6
            key = (proto, m.group(1), int(m.group(2)), m.group(3), int(m.group(4)))
            counts[key] = counts.get(key, 0) + 1
        return counts


# --- assertions -------------------------------------------------------------------------------

# Counters of one report period; a flow's reports add up to its whole life.
PERIOD_KEYS = ("packet_tx", "packet_rx", "byte_tx", "byte_rx", "l3_byte_tx", "l3_byte_rx",
               "l4_byte_tx", "l4_byte_rx")


def merge_reports(rows):
    """{(protocol, client_port): row}: the flow engine reports a flow again at every
    --report-interval boundary of the wall clock (close_type 5, "forced report"), so a flow that
    straddles a minute has several rows. Period counters are summed, the rest is the final row's."""
    merged = {}
    for r in rows:
        key = (r["protocol"], r["client_port"])
        m = merged.get(key)
        if m is None:
            merged[key] = dict(r, close_types=[r["close_type"]])
            continue
        r = dict(r)
        for k in PERIOD_KEYS:
            r[k] += m[k]
        merged[key] = dict(r, close_types=m["close_types"] + [r["close_type"]])
    for m in merged.values():
        m["forced_ok"] = all(c == 5 for c in m["close_types"][:-1])
    return merged


def check_flows(case, rows, traffic, client_ip, server_ip, nic, tcpdump_counts, udp_close=None,
                expect_tcp=True, expect_udp=True):
    by_key = merge_reports(rows)
    expected = set()
    if expect_tcp:
        expected |= {(6, p) for p, _, _ in traffic["tcp"]}
    if expect_udp:
        expected |= {(17, p) for p, _, _ in traffic["udp"]}
    check(f"{case}: exactly the expected flows", set(by_key) == expected,
          f"missing {sorted(expected - set(by_key))}, unexpected {sorted(set(by_key) - expected)}")
    check(f"{case}: one final report per flow (others are periodic)",
          all(r["forced_ok"] for r in by_key.values()),
          str({k: r["close_types"] for k, r in by_key.items() if not r["forced_ok"]}))

    def one(proto, port):
        return by_key.get((proto, port))

    for proto, name, specs in ((6, "tcp", traffic["tcp"]), (17, "udp", traffic["udp"])):
        if (proto == 6 and not expect_tcp) or (proto == 17 and not expect_udp):
            continue
        for port, sent, received in specs:
            r = one(proto, port)
            label = f"{case}: {name} :{port} ({sent}/{received} bytes)"
            if r is None:
                check(label, False, "no row")
                continue
            problems = []
            if r["ip_0"] != client_ip or r["ip_1"] != server_ip:
                problems.append(f"ips {r['ip_0']} -> {r['ip_1']}")
            if r["server_port"] != (TCP_PORT if proto == 6 else UDP_PORT):
                problems.append(f"server_port {r['server_port']}")
            if r["l4_byte_tx"] != sent or r["l4_byte_rx"] != received:
                problems.append(f"l4_byte_tx/rx {r['l4_byte_tx']}/{r['l4_byte_rx']}")
            if r["capture_nic"] != nic:
                problems.append(f"capture_nic {r['capture_nic']!r}")
            want_tx = tcpdump_counts.get((proto, client_ip, port, server_ip, r["server_port"]), 0)
            want_rx = tcpdump_counts.get((proto, server_ip, r["server_port"], client_ip, port), 0)
            if (r["packet_tx"], r["packet_rx"]) != (want_tx, want_rx):
                problems.append(f"packet_tx/rx {r['packet_tx']}/{r['packet_rx']}, "
                                f"tcpdump {want_tx}/{want_rx}")
            if proto == 6:
                if r["close_type"] != 1:
                    problems.append(f"close_type {r['close_type']}")
                # SYN, data (if any), FIN one way; SYN-ACK, data, FIN the other.
                min_tx = 2 + (1 if sent else 0)
                min_rx = 2 + (1 if received else 0)
                if r["packet_tx"] < min_tx or r["packet_rx"] < min_rx:
                    problems.append(f"too few packets {r['packet_tx']}/{r['packet_rx']}")
            else:
                if (r["packet_tx"], r["packet_rx"]) != (1, 1):
                    problems.append(f"udp packets {r['packet_tx']}/{r['packet_rx']}")
                if udp_close is not None and r["close_type"] != udp_close:
                    problems.append(f"close_type {r['close_type']}")
            check(label, not problems, "; ".join(problems))


def check_traffic(case, traffic, tcp_specs, udp_specs):
    ok = [[s, r] for _, s, r in traffic["tcp"]] == [list(x) for x in tcp_specs] and \
        [[s, r] for _, s, r in traffic["udp"]] == [list(x) for x in udp_specs]
    check(f"{case}: peers exchanged the planned bytes", ok, json.dumps(traffic))
    return ok


# --- cases ------------------------------------------------------------------------------------

def no_ipv6(ns):
    # IPv6 would add router solicitations and MLD reports: flows the test did not make.
    for key in ("all", "default", "lo"):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")


def setup_veth():
    sh("ip", "netns", "add", NS_CLIENT)
    sh("ip", "netns", "add", NS_SERVER)
    no_ipv6(NS_CLIENT)
    no_ipv6(NS_SERVER)
    sh("ip", "link", "add", VETH_C, "type", "veth", "peer", "name", VETH_S)
    sh("ip", "link", "set", VETH_C, "netns", NS_CLIENT)
    sh("ip", "link", "set", VETH_S, "netns", NS_SERVER)
    sh("ip", "-n", NS_CLIENT, "addr", "add", f"{IP_C}/24", "dev", VETH_C)
    sh("ip", "-n", NS_SERVER, "addr", "add", f"{IP_S}/24", "dev", VETH_S)
    for ns, dev in ((NS_CLIENT, VETH_C), (NS_SERVER, VETH_S)):
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    # Resolve the peer's MAC before capturing so that ARP does not race the first SYN.
    sh("ip", "netns", "exec", NS_CLIENT, PY, "-c",
       f"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
       f"s.sendto(b'x', ('{IP_S}', 9))")
    time.sleep(0.3)


def case_veth(tmp):
    case = "veth"
    print(f"{case}: capture on {VETH_S} in {NS_SERVER}, {len(TCP_SPECS)} TCP + "
          f"{len(UDP_SPECS)} UDP flows", flush=True)
    # Both unfiltered: the totals must agree packet for packet (ARP included).
    dump = Tcpdump(NS_SERVER, VETH_S, "", os.path.join(tmp, "veth.pcap"))
    fs = Flowscope(NS_SERVER, ["--interface", VETH_S, "--output", "l4", "--format", "jsonl",
                               "--duration", "6", "--others-timeout", "1"])
    try:
        if not check(f"{case}: flowscope prints its ready line", fs.wait_ready(), fs.stderr()):
            return
        traffic = run_traffic(NS_SERVER, NS_CLIENT, IP_S, TCP_SPECS, UDP_SPECS)
        t_traffic_done = time.monotonic()
    finally:
        dump.stop()
        rc = fs.finish()
    check(f"{case}: exit status 0 after --duration", rc == 0, f"rc={rc}\n{fs.stderr()}")
    check_traffic(case, traffic, TCP_SPECS, UDP_SPECS)
    counts = dump.counts()
    check_flows(case, fs.rows, traffic, IP_C, IP_S, VETH_S, counts, udp_close=3)
    total = dump.total
    frames = fs.summary_number(r"packets\s+(\d+) \(")
    check(f"{case}: flowscope saw the packets tcpdump saw", frames == total,
          f"flowscope {frames}, tcpdump {total}; tcpdump: {dump.stats}")
    dups = fs.summary_number(r"(\d+) loopback duplicates")
    check(f"{case}: no duplicates skipped on veth (outgoing packets are real)", dups == 0,
          f"duplicates {dups}")
    drops = fs.summary_number(r"drops\s+(\d+) by the kernel")
    check(f"{case}: no kernel drops", drops == 0, f"drops {drops}")
    # Rows are flushed while the capture runs, not only at exit: the UDP flows time out after
    # 1 s and the run goes on for seconds after that.
    early = [t for t in fs.row_times if t < fs.exit_time - 1.0]
    check(f"{case}: rows stream before the capture ends", len(early) >= 1,
          f"row times relative to exit: {[round(t - fs.exit_time, 2) for t in fs.row_times]}, "
          f"traffic done at {round(t_traffic_done - fs.exit_time, 2)}")


def case_veth_filter(tmp):
    case = "veth --filter udp"
    print(f"{case}: kernel filter keeps TCP out", flush=True)
    dump = Tcpdump(NS_SERVER, VETH_S, f"tcp port {TCP_PORT} or udp port {UDP_PORT}",
                   os.path.join(tmp, "filter.pcap"))
    fs = Flowscope(NS_SERVER, ["-i", VETH_S, "--filter", f"udp port {UDP_PORT}",
                               "--duration", "4", "--others-timeout", "1"])
    try:
        if not check(f"{case}: ready", fs.wait_ready(), fs.stderr()):
            return
        tcp_specs = TCP_SPECS[:2]
        traffic = run_traffic(NS_SERVER, NS_CLIENT, IP_S, tcp_specs, UDP_SPECS)
    finally:
        dump.stop()
        rc = fs.finish()
    check(f"{case}: exit status 0", rc == 0, f"rc={rc}\n{fs.stderr()}")
    check_traffic(case, traffic, tcp_specs, UDP_SPECS)
    check_flows(case, fs.rows, traffic, IP_C, IP_S, VETH_S, dump.counts(), expect_tcp=False)
    frames = fs.summary_number(r"packets\s+(\d+) \(")
    check(f"{case}: only the UDP packets reached user space", frames == 2 * len(UDP_SPECS),
          f"packets {frames}")


def rows_by_port(rows):
    return {port: r for (_, port), r in merge_reports(rows).items()}


def case_vlan():
    case = "vlan"
    print(f"{case}: 802.1Q frames whose tag the kernel moved into metadata", flush=True)
    sizes = [10, 20, 30]
    link = json.loads(sh("ip", "-n", NS_SERVER, "-j", "link", "show", "dev", VETH_S).stdout)
    mac = link[0]["address"]
    fs = Flowscope(NS_SERVER, ["-i", VETH_S, "--duration", "3", "--others-timeout", "1"])
    try:
        if not check(f"{case}: ready", fs.wait_ready(), fs.stderr()):
            return
        sh("ip", "netns", "exec", NS_CLIENT, PY, "-c", INJECT_CODE, "vlan", json.dumps(sizes),
           VETH_C, mac, "10.253.6.1", "10.253.6.2", "100")
    finally:
        rc = fs.finish()
    check(f"{case}: exit status 0", rc == 0, f"rc={rc}\n{fs.stderr()}")
    got = rows_by_port(fs.rows)
    check(f"{case}: one flow per tagged datagram", sorted(got) == [40000 + i for i in
                                                                   range(len(sizes))],
          f"client ports {sorted(got)}")
    for i, n in enumerate(sizes):
        r = got.get(40000 + i)
        want = {"vlan": 100, "eth_type": 0x0800, "protocol": 17, "ip_0": "10.253.6.1",
                "ip_1": "10.253.6.2", "packet_tx": 1, "packet_rx": 0, "l4_byte_tx": n,
                "byte_tx": 14 + 4 + 20 + 8 + n}  # the tag counts in the frame length
        bad = {k: (r or {}).get(k) for k, v in want.items() if (r or {}).get(k) != v}
        check(f"{case}: tag 100 restored, {n} bytes", r is not None and not bad, f"got {bad}")


def case_tun():
    case = "tun"
    tun = f"fslt{PID % 100000}"
    print(f"{case}: raw IP device {tun} (no link header)", flush=True)
    sizes = [11, 22]
    helper = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, PY, "-c", INJECT_CODE, "tun",
                               json.dumps(sizes), tun, "10.253.8.2", "10.253.8.1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    echo = None
    try:
        if helper.stdout.readline().strip() != "attached":
            check(f"{case}: tun device created", False, "helper failed")
            return
        sh("ip", "-n", NS_SERVER, "addr", "add", "10.253.8.1/24", "dev", tun)
        sh("ip", "-n", NS_SERVER, "link", "set", tun, "up")
        echo = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, PY, "-c", UDP_ECHO_CODE,
                                 "10.253.8.1", str(len(sizes))], stdout=subprocess.PIPE,
                                text=True)
        echo.stdout.readline()
        fs = Flowscope(NS_SERVER, ["-i", tun, "--duration", "3", "--others-timeout", "1"])
        try:
            if not check(f"{case}: ready", fs.wait_ready(), fs.stderr()):
                return
            check(f"{case}: read as raw ip", "raw ip" in fs.stderr(), fs.stderr())
            helper.stdin.write("go\n")
            helper.stdin.flush()
            replies = json.loads(helper.stdout.readline())
        finally:
            rc = fs.finish()
        check(f"{case}: exit status 0", rc == 0, f"rc={rc}\n{fs.stderr()}")
        check(f"{case}: peers exchanged the planned bytes", replies == [2 * n for n in sizes],
              str(replies))
        got = rows_by_port(fs.rows)
        for i, n in enumerate(sizes):
            r = got.get(41000 + i)
            want = {"capture_nic": tun, "mac_0": "00:00:00:00:00:00", "protocol": 17,
                    "ip_0": "10.253.8.2", "ip_1": "10.253.8.1", "packet_tx": 1,
                    "packet_rx": 1, "l4_byte_tx": n, "l4_byte_rx": 2 * n,
                    "byte_tx": 28 + n, "byte_rx": 28 + 2 * n}  # frames start at the IP header
            bad = {k: (r or {}).get(k) for k, v in want.items() if (r or {}).get(k) != v}
            check(f"{case}: udp {n}/{2 * n} bytes", r is not None and not bad, f"got {bad}")

        # The device goes away with the process that holds it: a capture on it ends with a
        # clear error (and still prints what it saw).
        fs = Flowscope(NS_SERVER, ["-i", tun])
        if not check(f"{case}: ready again", fs.wait_ready(), fs.stderr()):
            return
        helper.stdin.close()
        helper.wait(timeout=10)
        rc = fs.finish(timeout=10)
        check(f"{case}: interface removal ends the capture with status 1",
              rc == 1 and "every captured interface disappeared" in fs.stderr() and
              "flowscope: capture on" in fs.stderr(), f"rc={rc}\n{fs.stderr()}")
    finally:
        for p in (helper, echo):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def case_fanout(tmp):
    case = "fanout"
    print(f"{case}: two captures in one PACKET_FANOUT hash group share the flows", flush=True)
    dump = Tcpdump(NS_SERVER, VETH_S, "", os.path.join(tmp, "fanout.pcap"))
    group = str(PID % 60000)
    # --report-interval 1: flows that live across a second boundary are reported twice (a
    # forced report, then the final one); the counters must still add up.
    args = ["-i", VETH_S, "--fanout-group", group, "--fanout-mode", "hash", "--duration", "4",
            "--others-timeout", "1", "--report-interval", "1"]
    fss = [Flowscope(NS_SERVER, args), Flowscope(NS_SERVER, args)]
    try:
        if not check(f"{case}: both ready", all(f.wait_ready() for f in fss),
                     " / ".join(f.stderr() for f in fss)):
            return
        # A third member with another mode is refused by the kernel, with a clear message.
        bad = subprocess.run(["ip", "netns", "exec", NS_SERVER, FLOWSCOPE, "capture", "-i",
                              VETH_S, "--fanout-group", group, "--fanout-mode", "lb",
                              "--duration", "1"], capture_output=True, text=True, timeout=20)
        check(f"{case}: a member with another mode is refused",
              bad.returncode == 1 and f"cannot join fanout group {group}" in bad.stderr,
              f"rc={bad.returncode} {bad.stderr}")
        traffic = run_traffic(NS_SERVER, NS_CLIENT, IP_S, TCP_SPECS, UDP_SPECS)
    finally:
        dump.stop()
        rcs = [f.finish() for f in fss]
    check(f"{case}: exit status 0", rcs == [0, 0], f"rcs={rcs}")
    check_traffic(case, traffic, TCP_SPECS, UDP_SPECS)
    keys = [{(r["protocol"], r["client_port"]) for r in f.rows} for f in fss]
    check(f"{case}: no flow seen by both members", not (keys[0] & keys[1]),
          f"both: {sorted(keys[0] & keys[1])}")
    print(f"    (flows per member: {len(keys[0])} + {len(keys[1])}; rows: "
          f"{len(fss[0].rows)} + {len(fss[1].rows)})")
    # Together they saw every flow, each whole.
    check_flows(case, fss[0].rows + fss[1].rows, traffic, IP_C, IP_S, VETH_S, dump.counts(),
                udp_close=3)


def case_loopback(tmp):
    case = "lo"
    print(f"{case}: capture on lo in {NS_LO}, stopped by SIGINT", flush=True)
    sh("ip", "netns", "add", NS_LO)
    no_ipv6(NS_LO)
    sh("ip", "-n", NS_LO, "link", "set", "lo", "up")
    sh("ip", "-n", NS_LO, "addr", "add", f"{IP_LO}/32", "dev", "lo")
    tcp_specs, udp_specs = TCP_SPECS[:5], UDP_SPECS[:3]
    dump = Tcpdump(NS_LO, "lo", "", os.path.join(tmp, "lo.pcap"))
    # No filter and no --duration: every packet of this private namespace; Ctrl-C ends it.
    fs = Flowscope(NS_LO, ["-i", "lo", "--format", "jsonl"])
    try:
        if not check(f"{case}: ready", fs.wait_ready(), fs.stderr()):
            return
        traffic = run_traffic(NS_LO, NS_LO, IP_LO, tcp_specs, udp_specs)
        time.sleep(0.5)
    finally:
        dump.stop()
        fs.proc.send_signal(signal.SIGINT)
        rc = fs.finish()
    check(f"{case}: exit status 0 after SIGINT", rc == 0, f"rc={rc}\n{fs.stderr()}")
    check(f"{case}: summary printed", "loopback duplicates skipped" in fs.stderr(), fs.stderr())
    check_traffic(case, traffic, tcp_specs, udp_specs)
    counts = dump.counts()
    check_flows(case, fs.rows, traffic, IP_LO, IP_LO, "lo", counts)
    frames = fs.summary_number(r"packets\s+(\d+) \(")
    dups = fs.summary_number(r"(\d+) loopback duplicates")
    total = dump.total
    check(f"{case}: each packet counted once (flowscope = tcpdump)", frames == total,
          f"flowscope {frames}, tcpdump {total}; tcpdump: {dump.stats}")
    check(f"{case}: every packet had an outgoing copy, skipped", dups == frames and frames,
          f"duplicates {dups}, packets {frames}")


def case_errors():
    case = "errors"
    r = subprocess.run([FLOWSCOPE, "capture", "-i", "fslive_nosuch0", "--duration", "1"],
                       capture_output=True, text=True, timeout=10)
    check(f"{case}: unknown interface exits 1", r.returncode == 1, f"rc={r.returncode}")
    check(f"{case}: unknown interface is named, with the available ones",
          "no interface named 'fslive_nosuch0'" in r.stderr and "available: lo" in r.stderr,
          r.stderr.strip())
    r = subprocess.run([FLOWSCOPE, "capture", "-i", "lo", "--filter", "tcp prot 80"],
                       capture_output=True, text=True, timeout=10)
    check(f"{case}: bad filter exits 2 and quotes it",
          r.returncode == 2 and "'tcp prot 80'" in r.stderr, f"rc={r.returncode} {r.stderr}")


def cleanup():
    for ns in (NS_CLIENT, NS_SERVER, NS_LO):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "link", "del", VETH_C], capture_output=True)


def main():
    if os.geteuid() != 0:
        print("live_capture_test: needs root (network namespaces, AF_PACKET)")
        return 1
    if not os.access(FLOWSCOPE, os.X_OK):
        print(f"live_capture_test: no flowscope binary at {FLOWSCOPE} (set FLOWSCOPE_BIN)")
        return 1
    print(f"live_capture_test: {FLOWSCOPE}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="fslive_") as tmp:
            case_errors()
            setup_veth()
            case_veth(tmp)
            case_veth_filter(tmp)
            case_fanout(tmp)
            case_vlan()
            case_tun()
            case_loopback(tmp)
    except Exception as e:  # a broken setup is a failure, reported like the others
        check("test harness", False, f"{type(e).__name__}: {e}")
    finally:
        cleanup()
    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    print(f"\nlive_capture_test: {passed} passed, {failed} failed")
    for name, ok, detail in results:
        if not ok:
            print(f"  FAILED {name}: {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
