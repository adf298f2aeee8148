#!/usr/bin/env python3
"""flowscope vs tshark, run live on every pcap of testdata/.

For each TCP/UDP conversation tshark lists (`tshark -q -z conv,tcp -z conv,udp`), flowscope must
have exactly one flow with the same packets per direction and the same bytes per direction
(exact when tshark prints bytes; tshark rounds sizes ≥ 10 kB, so those are also checked exactly
against the sum of tshark's own frame.len per stream and direction). For every TCP stream with a
handshake, flowscope's `rtt` must equal `tcp.analysis.initial_rtt` within 1 µs.

Environment: FLOWSCOPE_BIN, FS_SOURCE_DIR. Needs tshark. Prints "N passed, N failed".
"""
import collections
import glob
import json
import os
import re
import subprocess
import sys

BIN = os.environ["FLOWSCOPE_BIN"]
SRC = os.environ["FS_SOURCE_DIR"]
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def tshark(*args):
    p = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"tshark {' '.join(args)}: {p.stderr}")
    return p.stdout


def split_endpoint(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


SIZE = re.compile(r"^(\d+)\s+(bytes|kB|MB|GB)$")
UNIT = {"bytes": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}


def parse_size(text):
    m = SIZE.match(text.strip())
    if not m:
        raise ValueError(f"unparsable tshark size {text!r}")
    return int(m.group(1)), UNIT[m.group(2)]


ROW = re.compile(
    r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+ (?:bytes|kB|MB|GB))\s+(\d+)\s+(\d+ (?:bytes|kB|MB|GB))"
    r"\s+\d+\s+\d+ (?:bytes|kB|MB|GB)\s+([\d.]+)")


def conversations(pcap):
    """tshark's conversation rows: (proto, A, B, frames B->A, size B->A, frames A->B, size A->B, start)."""
    out = tshark("-r", pcap, "-q", "-z", "conv,tcp", "-z", "conv,udp")
    rows, proto = [], None
    for line in out.splitlines():
        if line.startswith("TCP Conversations"):
            proto = "tcp"
        elif line.startswith("UDP Conversations"):
            proto = "udp"
        m = ROW.match(line)
        if m and proto:
            rows.append(dict(proto=proto, a=split_endpoint(m.group(1)), b=split_endpoint(m.group(2)),
                             frames_ba=int(m.group(3)), size_ba=parse_size(m.group(4)),
                             frames_ab=int(m.group(5)), size_ab=parse_size(m.group(6)),
                             start=float(m.group(7))))
    return rows


def exact_bytes(pcap):
    """Sum of frame.len per (proto, stream, source endpoint), and each stream's first time."""
    out = tshark("-r", pcap, "-T", "fields", "-E", "separator=|", "-e", "frame.time_relative",
                 "-e", "tcp.stream", "-e", "udp.stream", "-e", "ip.src", "-e", "ipv6.src",
                 "-e", "tcp.srcport", "-e", "udp.srcport", "-e", "frame.len", "-e", "icmp.type",
                 "-e", "icmpv6.type")
    sums = collections.Counter()
    for line in out.splitlines():
        t, ts, us, ip4, ip6, tp, up, flen, icmp, icmp6 = line.split("|")
        if icmp or icmp6:
            continue  # ICMP errors quote UDP/TCP headers; tshark's conv tables do not count them
        if ts:
            key = ("tcp", int(ts), ip4 or ip6, int(tp))
        elif us:
            key = ("udp", int(us), ip4 or ip6, int(up))
        else:
            continue
        sums[key] += int(flen)
    return sums


def initial_rtts(pcap):
    out = tshark("-r", pcap, "-Y", "tcp.analysis.initial_rtt and tcp.flags.syn==0", "-T", "fields",
                 "-E", "separator=|", "-e", "tcp.stream", "-e", "tcp.analysis.initial_rtt")
    rtts = {}
    for line in out.splitlines():
        stream, rtt = line.split("|")
        rtts.setdefault(int(stream), float(rtt) * 1e6)
    return rtts


def stream_endpoints(pcap):
    """tcp.stream / udp.stream → (sorted endpoints, first relative time)."""
    out = tshark("-r", pcap, "-T", "fields", "-E", "separator=|", "-e", "frame.time_relative",
                 "-e", "tcp.stream", "-e", "udp.stream", "-e", "ip.src", "-e", "ipv6.src",
                 "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport",
                 "-e", "udp.srcport", "-e", "udp.dstport", "-e", "icmp.type", "-e", "icmpv6.type")
    streams = {}
    for line in out.splitlines():
        t, ts, us, s4, s6, d4, d6, tsp, tdp, usp, udp_, icmp, icmp6 = line.split("|")
        if icmp or icmp6:
            continue
        if ts:
            key, ends = ("tcp", int(ts)), ((s4 or s6, int(tsp)), (d4 or d6, int(tdp)))
        elif us:
            key, ends = ("udp", int(us)), ((s4 or s6, int(usp)), (d4 or d6, int(udp_)))
        else:
            continue
        streams.setdefault(key, (tuple(sorted(ends)), float(t)))
    return streams


def flowscope_flows(pcap):
    p = subprocess.run([BIN, "pcap", pcap, "--output", "l4", "--format", "jsonl", "-q"],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"flowscope pcap {pcap}: exit {p.returncode}: {p.stderr}")
    flows = collections.OrderedDict()
    for line in p.stdout.splitlines():
        r = json.loads(line)
        f = flows.setdefault(r["flow_id"], dict(first=r, pkt_tx=0, pkt_rx=0, byte_tx=0, byte_rx=0,
                                                rtt=0.0))
        for k in ("pkt_tx", "pkt_rx"):
            f[k] += r["packet_" + k[4:]]
        f["byte_tx"] += r["byte_tx"]
        f["byte_rx"] += r["byte_rx"]
        if r["rtt"]:
            f["rtt"] = r["rtt"]
    return list(flows.values())


def main():
    pcaps = sorted(glob.glob(os.path.join(SRC, "testdata", "*.pcap")))
    check("testdata has pcaps", len(pcaps) >= 10, f"{len(pcaps)} found")
    total_convs = 0
    for pcap in pcaps:
        name = os.path.basename(pcap)
        convs = conversations(pcap)
        exact = exact_bytes(pcap)
        rtts = initial_rtts(pcap)
        streams = stream_endpoints(pcap)
        flows = flowscope_flows(pcap)
        by_ends = collections.defaultdict(list)
        for f in flows:
            r = f["first"]
            proto = {6: "tcp", 17: "udp"}.get(r["protocol"])
            if proto is None:
                continue
            ends = tuple(sorted([(r["ip_0"], r["client_port"]), (r["ip_1"], r["server_port"])]))
            by_ends[(proto, ends)].append(f)
        used = collections.Counter()
        convs.sort(key=lambda c: c["start"])
        check(f"{name}: tshark found conversations", len(convs) > 0)
        n_flows = sum(len(v) for v in by_ends.values())
        check(f"{name}: one flow per conversation", n_flows == len(convs),
              f"{n_flows} TCP/UDP flows vs {len(convs)} tshark conversations")
        for c in convs:
            total_convs += 1
            ends = tuple(sorted([c["a"], c["b"]]))
            key = (c["proto"], ends)
            what = f"{name} {c['proto']} {c['a']}<->{c['b']}@{c['start']}"
            cands = by_ends.get(key, [])
            if used[key] >= len(cands):
                check(what, False, "no flowscope flow for this conversation")
                continue
            f = cands[used[key]]
            used[key] += 1
            r = f["first"]
            a_is_client = (r["ip_0"], r["client_port"]) == c["a"]
            frames_a, frames_b = (f["pkt_tx"], f["pkt_rx"]) if a_is_client else (f["pkt_rx"], f["pkt_tx"])
            bytes_a, bytes_b = (f["byte_tx"], f["byte_rx"]) if a_is_client else (f["byte_rx"], f["byte_tx"])
            check(f"{what}: frames A->B", frames_a == c["frames_ab"], f"{frames_a} vs {c['frames_ab']}")
            check(f"{what}: frames B->A", frames_b == c["frames_ba"], f"{frames_b} vs {c['frames_ba']}")
            for ours, (n, unit), label in ((bytes_a, c["size_ab"], "A->B"), (bytes_b, c["size_ba"], "B->A")):
                if unit == 1:
                    check(f"{what}: bytes {label}", ours == n, f"{ours} vs {n}")
                else:  # tshark rounded: within one unit
                    check(f"{what}: bytes {label} (~{n} x{unit})", abs(ours - n * unit) <= unit,
                          f"{ours} vs {n}x{unit}")
            # Exact bytes and the handshake RTT, through the tshark stream of this conversation.
            sid = [s for s, (e, t0) in streams.items()
                   if s[0] == c["proto"] and e == ends and abs(t0 - c["start"]) < 1e-6]
            check(f"{what}: tshark stream found", len(sid) == 1, str(sid))
            if len(sid) != 1:
                continue
            proto, stream = sid[0]
            exact_a = exact[(proto, stream, c["a"][0], c["a"][1])]
            exact_b = exact[(proto, stream, c["b"][0], c["b"][1])]
            check(f"{what}: exact bytes A->B", bytes_a == exact_a, f"{bytes_a} vs {exact_a}")
            check(f"{what}: exact bytes B->A", bytes_b == exact_b, f"{bytes_b} vs {exact_b}")
            if proto == "tcp" and stream in rtts and f["rtt"] > 0:
                check(f"{what}: rtt == initial_rtt ±1µs", abs(f["rtt"] - rtts[stream]) <= 1.0,
                      f"{f['rtt']} vs {rtts[stream]}")
            elif proto == "tcp" and stream in rtts:
                # No handshake RTT from flowscope: only acceptable without a SYN-ACK (refused).
                check(f"{what}: rtt present", r["synack_count"] == 0,
                      f"tshark initial_rtt {rtts[stream]} but flowscope rtt 0")
    print(f"compared {total_convs} conversations in {len(pcaps)} pcaps")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
