#!/usr/bin/python3
"""Derives per-conversation facts from a pcap with tshark, independently of flowscope.

  tshark_facts.py PCAP [--json OUT] [--expect-close CLOSE] [--check SCENARIO]
      Writes OUT (testdata/expected/<name>.json): a JSON list with one object per TCP or UDP
      conversation, in order of first packet. Directions: "tx" is client->server, "rx" is
      server->client; the client is the side that sent the first SYN (TCP) or the first packet
      (UDP). Every number comes from `tshark -T fields` (one row per frame) and is cross-checked
      against `tshark -q -z conv,tcp|udp` and against `tshark -Y <analysis flag>` counts.
      --expect-close fails unless every TCP conversation closed that way; --check runs the
      scenario's sanity checks (did the recording produce what it was meant to?).
  tshark_facts.py --readme README.md PCAP...
      Rewrites the generated fact blocks (<!-- facts:NAME begin/end -->) of README.md.

Counting rules (all per direction):
  packets/bytes   frames and frame bytes (frame.len), as in tshark's conversation table
  payload_bytes   sum of tcp.len / (udp.length - 8)
  syn / synack    frames with SYN and without / with ACK (retransmitted SYNs included)
  fin / rst       frames with FIN / RST set
  retrans         frames flagged tcp.analysis.retransmission or fast_retransmission (a fast
                  retransmission carries both flags and is counted once)
  zero_win, ooo   frames flagged tcp.analysis.zero_window / tcp.analysis.out_of_order
  ICMP errors that quote a conversation's packet are not counted in it; they are reported as
  icmp_unreachable_rx, as tshark's conversation table does not count them either.
"""

import argparse
import collections
import decimal
import json
import os
import re
import subprocess
import sys
import tempfile

# Fixed analysis preferences so that a personal Wireshark profile cannot change the facts.
TSHARK_OPTS = [
    "-n",
    "-o", "tcp.analyze_sequence_numbers:TRUE",
    "-o", "tcp.relative_sequence_numbers:TRUE",
    "-o", "tcp.calculate_timestamps:TRUE",
    "-o", "tcp.desegment_tcp_streams:TRUE",
]

FIELDS = [
    "frame.number", "frame.time_relative", "frame.len",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.len",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
    "tcp.analysis.initial_rtt",
    "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission", "tcp.analysis.lost_segment",
    "tcp.analysis.zero_window", "tcp.analysis.zero_window_probe",
    "tcp.analysis.out_of_order", "tcp.analysis.duplicate_ack", "tcp.analysis.keep_alive",
    "udp.stream", "udp.srcport", "udp.dstport", "udp.length",
    "icmp.type", "icmp.code", "icmpv6.type",
]

# Flags whose per-frame presence (-T fields) is re-checked with a display filter.
CROSS_CHECKED_FLAGS = [
    "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
    "tcp.analysis.zero_window", "tcp.analysis.out_of_order",
]

KEYS = [
    "client_ip", "client_port", "server_ip", "server_port", "protocol",
    "packets_tx", "packets_rx", "bytes_tx", "bytes_rx", "initial_rtt_us",
    "syn_tx", "synack_rx", "fin_tx", "fin_rx", "rst_tx", "rst_rx",
    "retrans_tx", "retrans_rx", "zero_win_tx", "zero_win_rx", "ooo_tx", "ooo_rx",
    "expected_close",
    # Supplementary facts, also straight from tshark.
    "tshark_stream", "first_frame", "last_frame",
    "payload_bytes_tx", "payload_bytes_rx",
    "fast_retrans_tx", "fast_retrans_rx", "spurious_retrans_tx", "spurious_retrans_rx",
    "lost_segment_tx", "lost_segment_rx", "dup_ack_tx", "dup_ack_rx",
    "zero_win_probe_tx", "zero_win_probe_rx", "keep_alive_tx", "keep_alive_rx",
    "icmp_unreachable_rx",
]

# frame flag field -> JSON key prefix (counted per direction)
FLAG_KEYS = {
    "tcp.analysis.fast_retransmission": "fast_retrans",
    "tcp.analysis.spurious_retransmission": "spurious_retrans",
    "tcp.analysis.lost_segment": "lost_segment",
    "tcp.analysis.zero_window": "zero_win",
    "tcp.analysis.zero_window_probe": "zero_win_probe",
    "tcp.analysis.out_of_order": "ooo",
    "tcp.analysis.duplicate_ack": "dup_ack",
    "tcp.analysis.keep_alive": "keep_alive",
}


class FactError(Exception):
    pass


def tshark(pcap, *args):
    # An empty HOME keeps ~/.config/wireshark out of it.
    with tempfile.TemporaryDirectory(prefix="fstd-tshark-") as home:
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home)
        res = subprocess.run(["tshark", "-r", pcap, *TSHARK_OPTS, *args], env=env,
                             capture_output=True, text=True)
    if res.returncode != 0:
        raise FactError(f"tshark {' '.join(args)} on {pcap} failed: {res.stderr.strip()}")
    return res.stdout


def tshark_version():
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip()


def read_frames(pcap):
    args = ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in FIELDS:
        args += ["-e", f]
    frames = []
    for line in tshark(pcap, *args).splitlines():
        values = line.split("\t")
        if len(values) != len(FIELDS):
            raise FactError(f"unexpected tshark row {line!r}")
        frames.append(dict(zip(FIELDS, values)))
    return frames


def flag(frame, name):
    # tshark prints FT_NONE analysis flags as a non-empty value when present.
    return frame[name] not in ("", "0")


def endpoint(frame, side):
    ip = frame[f"ip.{side}"] or frame[f"ipv6.{side}"]
    return ip


def new_conv(protocol, stream, frame):
    c = {k: 0 for k in KEYS}
    c.update(protocol=protocol, tshark_stream=stream, first_frame=int(frame["frame.number"]),
             initial_rtt_us=None, expected_close=None, events=[])
    return c


def derive(pcap):
    frames = read_frames(pcap)
    convs = collections.OrderedDict()
    for fr in frames:
        number = int(fr["frame.number"])
        is_icmp = bool(fr["icmp.type"] or fr["icmpv6.type"])
        if fr["tcp.stream"]:
            key, proto, sport, dport = ("tcp", int(fr["tcp.stream"])), "tcp", fr["tcp.srcport"], \
                fr["tcp.dstport"]
        elif fr["udp.stream"]:
            key, proto, sport, dport = ("udp", int(fr["udp.stream"])), "udp", fr["udp.srcport"], \
                fr["udp.dstport"]
        else:
            continue  # neither TCP nor UDP (nothing else is in our captures' filters)
        if is_icmp:
            # An ICMP error quoting a packet of this conversation (inner header dissected).
            c = convs.get(key)
            if c is None:
                raise FactError(f"frame {number}: ICMP error for an unseen conversation")
            if fr["icmp.type"] == "3" or fr["icmpv6.type"] == "1":
                c["icmp_unreachable_rx"] += 1
            continue
        src, dst = endpoint(fr, "src"), endpoint(fr, "dst")
        c = convs.get(key)
        if c is None:
            c = convs[key] = new_conv(proto, key[1], fr)
            # The client sent the first SYN (TCP) or the first packet (UDP). Our captures start
            # before every connection, so the first frame of a TCP stream is its SYN.
            if proto == "tcp" and not (fr["tcp.flags.syn"] == "1" and fr["tcp.flags.ack"] == "0"):
                raise FactError(f"tcp stream {key[1]} does not start with a SYN (frame {number})")
            c.update(client_ip=src, client_port=int(sport), server_ip=dst, server_port=int(dport))
        if (src, int(sport)) == (c["client_ip"], c["client_port"]):
            d = "tx"
        elif (src, int(sport)) == (c["server_ip"], c["server_port"]):
            d = "rx"
        else:
            raise FactError(f"frame {number} does not belong to its stream's endpoints")
        c["last_frame"] = number
        c[f"packets_{d}"] += 1
        c[f"bytes_{d}"] += int(fr["frame.len"])
        if proto == "udp":
            c[f"payload_bytes_{d}"] += int(fr["udp.length"]) - 8
            continue
        plen = int(fr["tcp.len"] or 0)
        c[f"payload_bytes_{d}"] += plen
        syn, ack = fr["tcp.flags.syn"] == "1", fr["tcp.flags.ack"] == "1"
        fin, rst = fr["tcp.flags.fin"] == "1", fr["tcp.flags.reset"] == "1"
        if syn and not ack and d == "tx":
            c["syn_tx"] += 1
        if syn and ack and d == "rx":
            c["synack_rx"] += 1
        if fin:
            c[f"fin_{d}"] += 1
        if rst:
            c[f"rst_{d}"] += 1
        if flag(fr, "tcp.analysis.retransmission") or flag(fr, "tcp.analysis.fast_retransmission"):
            c[f"retrans_{d}"] += 1
        for field, prefix in FLAG_KEYS.items():
            if flag(fr, field):
                c[f"{prefix}_{d}"] += 1
        if c["initial_rtt_us"] is None and fr["tcp.analysis.initial_rtt"]:
            rtt = decimal.Decimal(fr["tcp.analysis.initial_rtt"]) * 1000000
            c["initial_rtt_us"] = float(rtt)
        c["events"].append((d, syn, ack, fin, rst, plen))
    for c in convs.values():
        c["expected_close"] = classify_close(c)
        del c["events"]
    return frames, list(convs.values())


def classify_close(c):
    """How the conversation ended, from the order of its flags."""
    if c["protocol"] == "udp":
        return "udp"
    if c["synack_rx"] == 0:
        if c["rst_rx"]:
            return "refused"
        if c["packets_rx"] == 0:
            return "syn_unanswered"
        return "unknown"
    events = c["events"]
    for i, (d, _, _, fin, rst, _) in enumerate(events):
        if rst:
            return "client_rst" if d == "tx" else "server_rst"
        if fin:
            if d == "rx":
                return "server_fin_first"
            server_data_after = any(e[0] == "rx" and e[5] > 0 for e in events[i + 1:])
            return "half_close" if server_data_after else "client_fin_first"
    return "open"


# ---------------------------------------------------------------- cross-checks

CONV_ROW = re.compile(
    r"^(?P<a>\S+)\s+<->\s+(?P<b>\S+)\s+"
    r"(?P<ba_f>\d+)\s+(?P<ba_b>\d+)\s+(?P<ba_u>bytes|kB|MB|GB)\s+"
    r"(?P<ab_f>\d+)\s+(?P<ab_b>\d+)\s+(?P<ab_u>bytes|kB|MB|GB)\s+"
    r"(?P<t_f>\d+)\s+(?P<t_b>\d+)\s+(?P<t_u>bytes|kB|MB|GB)\s+"
    r"(?P<start>[\d.]+)\s+(?P<dur>[\d.]+)\s*$")
UNIT = {"bytes": 1, "kB": 1000, "MB": 1000000, "GB": 1000000000}


def split_hostport(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def bytes_match(shown, unit, exact):
    # tshark 4.0 prints sizes from 10 kB on rounded to SI units.
    return exact == shown if unit == "bytes" else abs(exact - shown * UNIT[unit]) < UNIT[unit]


def conv_tables(pcap):
    out = tshark(pcap, "-q", "-z", "conv,tcp", "-z", "conv,udp")
    rows = []
    for line in out.splitlines():
        m = CONV_ROW.match(line.strip())
        if m:
            rows.append(m.groupdict())
    return out, rows


def cross_check(pcap, frames, convs):
    problems = []
    _, rows = conv_tables(pcap)
    rel = {int(f["frame.number"]): decimal.Decimal(f["frame.time_relative"]) for f in frames}
    if len(rows) != len(convs):
        problems.append(f"tshark conv tables list {len(rows)} conversations, fields give "
                        f"{len(convs)}")
    for c in convs:
        client = (c["client_ip"], c["client_port"])
        server = (c["server_ip"], c["server_port"])
        start = rel[c["first_frame"]]
        match = None
        for r in rows:
            a, b = split_hostport(r["a"]), split_hostport(r["b"])
            if {a, b} == {client, server} and abs(decimal.Decimal(r["start"]) - start) < \
                    decimal.Decimal("0.000001"):
                match = (r, a == client)
        if match is None:
            problems.append(f"no conv row for {client}->{server} starting at {start}")
            continue
        r, a_is_client = match
        # "->" columns are A->B, "<-" columns are B->A.
        tx = ("ab" if a_is_client else "ba")
        rx = ("ba" if a_is_client else "ab")
        if int(r[f"{tx}_f"]) != c["packets_tx"] or int(r[f"{rx}_f"]) != c["packets_rx"]:
            problems.append(f"{client}->{server}: conv frames {r[tx + '_f']}/{r[rx + '_f']} vs "
                            f"fields {c['packets_tx']}/{c['packets_rx']}")
        if not bytes_match(int(r[f"{tx}_b"]), r[f"{tx}_u"], c["bytes_tx"]) or \
                not bytes_match(int(r[f"{rx}_b"]), r[f"{rx}_u"], c["bytes_rx"]):
            problems.append(f"{client}->{server}: conv bytes disagree with fields")
    for field in CROSS_CHECKED_FLAGS:
        by_filter = {int(x) for x in tshark(pcap, "-Y", field, "-T", "fields", "-e",
                                             "frame.number").split()}
        by_fields = {int(f["frame.number"]) for f in frames if flag(f, field)}
        if by_filter != by_fields:
            problems.append(f"{field}: -Y gives frames {sorted(by_filter)}, -T fields "
                            f"{sorted(by_fields)}")
    if problems:
        raise FactError(f"{pcap}: " + "; ".join(problems))


# ---------------------------------------------------------------- scenario sanity checks


def total(convs, key, protocol=None):
    return sum(c[key] for c in convs if protocol in (None, c["protocol"]))


def check_scenario(name, convs):
    tcp = [c for c in convs if c["protocol"] == "tcp"]
    udp = [c for c in convs if c["protocol"] == "udp"]
    closes = [c["expected_close"] for c in tcp]
    checks = {
        "http_nginx": [len(tcp) == 4, not udp],
        "redis": [len(tcp) == 6, not udp],
        "tcp_graceful": [len(tcp) == 1, closes == ["client_fin_first"]],
        "tcp_server_close_first": [len(tcp) == 1, closes == ["server_fin_first"]],
        "tcp_rst_client": [len(tcp) == 1, total(tcp, "rst_tx") == 1, total(tcp, "rst_rx") == 0],
        "tcp_rst_server": [len(tcp) == 1, total(tcp, "rst_rx") == 1, total(tcp, "rst_tx") == 0],
        "tcp_refused": [len(tcp) == 1, closes == ["refused"], total(tcp, "packets_rx") == 1],
        "tcp_half_close": [len(tcp) == 1, closes == ["half_close"]],
        "tcp_retrans": [len(tcp) == 2, all(c["retrans_tx"] + c["retrans_rx"] > 0 for c in tcp),
                        total(tcp, "retrans_tx") > 0, total(tcp, "retrans_rx") > 0],
        "tcp_zero_window": [len(tcp) == 1, total(tcp, "zero_win_rx") > 0],
        "tcp_ooo": [len(tcp) == 1, total(tcp, "ooo_tx") > 0],
        "tcp_port_reuse": [len(tcp) == 2,
                           len({(c["client_ip"], c["client_port"], c["server_ip"],
                                 c["server_port"]) for c in tcp}) == 1,
                           all(c["syn_tx"] == 1 and c["fin_tx"] == 1 and c["fin_rx"] == 1
                               for c in tcp)],
        "udp_exchanges": [not tcp, len(udp) == 3,
                          len({c["client_port"] for c in udp if c["packets_rx"]}) == 2,
                          sum(c["icmp_unreachable_rx"] for c in udp) == 1],
        "tcp_ipv6": [len(tcp) == 1, ":" in tcp[0]["client_ip"] if tcp else False,
                     closes == ["client_fin_first"]],
        "tcp_syn_unanswered": [len(tcp) == 1, closes == ["syn_unanswered"],
                               total(tcp, "syn_tx") >= 3],
        "mixed": [len(tcp) == 5, len(udp) == 2],
    }
    if name not in checks:
        raise FactError(f"no sanity checks for scenario {name}")
    failed = [i for i, ok in enumerate(checks[name]) if not ok]
    if failed:
        raise FactError(f"{name}: sanity checks {failed} failed; conversations: "
                        + json.dumps(convs))


# ---------------------------------------------------------------- README blocks


def pair(c, key):
    return f"{c[key + '_tx']}/{c[key + '_rx']}"


def readme_block(pcap):
    name = os.path.splitext(os.path.basename(pcap))[0]
    frames, convs = derive(pcap)
    conv_out, _ = conv_tables(pcap)
    lines = [
        f"<!-- facts:{name} begin (generated by scripts/testdata/tshark_facts.py) -->",
        f"{len(frames)} frames, {os.path.getsize(pcap)} bytes, {len(convs)} "
        f"conversation{'s' if len(convs) != 1 else ''}. "
        f"tx = client→server, rx = server→client; x/y = tx/rx.",
        "",
        "| # | proto | client → server | pkts | frame bytes | payload bytes | initial RTT µs "
        "| SYN / SYN-ACK | FIN | RST | retrans | zero win | ooo | close |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, c in enumerate(convs):
        fmt = "[{}]:{}" if ":" in c["client_ip"] else "{}:{}"
        cl = fmt.format(c["client_ip"], c["client_port"])
        sv = fmt.format(c["server_ip"], c["server_port"])
        rtt = "–" if c["initial_rtt_us"] is None else f"{c['initial_rtt_us']:g}"
        close = c["expected_close"]
        if c["icmp_unreachable_rx"]:
            close += f" (+{c['icmp_unreachable_rx']} ICMP port unreachable)"
        lines.append(
            f"| {i} | {c['protocol']} | {cl} → {sv} | {pair(c, 'packets')} | {pair(c, 'bytes')} "
            f"| {pair(c, 'payload_bytes')} | {rtt} | {c['syn_tx']}/{c['synack_rx']} "
            f"| {pair(c, 'fin')} | {pair(c, 'rst')} | {pair(c, 'retrans')} "
            f"| {pair(c, 'zero_win')} | {pair(c, 'ooo')} | {close} |")
    notes = []
    for c in convs:
        extra = [f"{k}={c[k]}" for k in KEYS[KEYS.index("fast_retrans_tx"):]
                 if c[k] and not k.startswith("icmp")]
        if extra:
            notes.append(f"- {c['protocol']} {c['client_port']}→{c['server_port']} "
                         f"(stream {c['tshark_stream']}): " + ", ".join(extra))
    if notes:
        lines += ["", "Other tshark analysis flags:"] + notes
    # Keep the conversation tables that have rows, as tshark printed them.
    table, section = [], []
    for line in conv_out.splitlines() + ["===="]:
        if line.startswith("===="):
            if any(CONV_ROW.match(x.strip()) for x in section):
                table += section
            section = []
        elif line.strip() and not line.startswith("Filter:"):
            section.append(line.rstrip())
    lines += ["", "`tshark -q -z conv,tcp -z conv,udp` (\"<-\" = B→A, \"->\" = A→B):", "```"]
    lines += table + ["```", f"<!-- facts:{name} end -->"]
    return name, "\n".join(lines)


def update_readme(readme, pcaps):
    with open(readme) as f:
        text = f.read()
    for pcap in pcaps:
        name, block = readme_block(pcap)
        pattern = re.compile(rf"<!-- facts:{re.escape(name)} begin.*?<!-- facts:{re.escape(name)} "
                             r"end -->", re.S)
        if not pattern.search(text):
            raise FactError(f"{readme} has no facts block for {name}")
        text = pattern.sub(lambda _: block, text)
    text = re.sub(r"<!-- tshark-version -->.*?<!-- /tshark-version -->",
                  f"<!-- tshark-version -->{tshark_version()}<!-- /tshark-version -->", text)
    with open(readme, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("pcaps", nargs="+")
    p.add_argument("--json")
    p.add_argument("--expect-close")
    p.add_argument("--check")
    p.add_argument("--readme")
    args = p.parse_args()
    try:
        if args.readme:
            update_readme(args.readme, [x if x.endswith(".pcap") else x + ".pcap"
                                        for x in args.pcaps])
            return
        if len(args.pcaps) != 1:
            p.error("give exactly one pcap without --readme")
        pcap = args.pcaps[0]
        frames, convs = derive(pcap)
        cross_check(pcap, frames, convs)
        if args.expect_close:
            wrong = [c for c in convs
                     if c["protocol"] == "tcp" and c["expected_close"] != args.expect_close]
            if wrong:
                raise FactError(f"{pcap}: expected close {args.expect_close}, got "
                                f"{[c['expected_close'] for c in wrong]}")
        if args.check:
            check_scenario(args.check, convs)
        out = json.dumps([{k: c[k] for k in KEYS} for c in convs], indent=2) + "\n"
        if args.json:
            with open(args.json, "w") as f:
                f.write(out)
            print(f"tshark_facts: {pcap}: {len(frames)} frames, {len(convs)} conversations "
                  f"-> {args.json}")
        else:
            sys.stdout.write(out)
    except FactError as e:
        print(f"tshark_facts: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
