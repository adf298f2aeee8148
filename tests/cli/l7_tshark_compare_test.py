#!/usr/bin/env python3
"""Request logs of `flowscope pcap --output l7` against tshark's view of the same captures.

For every protocol registered in agent/l7/protocols/list.h, every pcap under
agent/l7/protocols/<proto>/testdata/ is analysed, and each request/response pair in the
tshark-derived facts (<name>.json, written by scripts/l7testdata/tshark_l7_facts.py from
tshark's dissection, never from flowscope) must be found as a request log with the same
method/command, resource, status code, error flag and latency (±1 µs, first packet to first
packet). Per protocol, at least 99 % of the requests must agree. Protocols that have testdata
but no parser yet are listed, not counted.

Environment: FLOWSCOPE_BIN, FS_SOURCE_DIR. Prints "N passed, N failed".
"""
import glob
import json
import os
import re
import subprocess
import sys

BIN = os.environ["FLOWSCOPE_BIN"]
SRC = os.environ["FS_SOURCE_DIR"]
PROTOCOLS = os.path.join(SRC, "agent", "l7", "protocols")
THRESHOLD = 0.99


def registered():
    with open(os.path.join(PROTOCOLS, "list.h")) as f:
        return re.findall(r"^FS_L7_PROTOCOL\((\w+)\)", f.read(), re.M)


def norm(s):
    return re.sub(r"[^a-z0-9]", "", str(s).lower())


# tshark's names for commands that flowscope logs under DeepFlow's names.
TSHARK_TO_DEEPFLOW = {
    "usedatabase": "cominitdb",
    "preparestatement": "comstmtprepare",
    "executestatement": "comstmtexecute",
    "closestatement": "comstmtclose",
    "resetstatement": "comstmtreset",
    "termination": "exit",
    "publishrelease": "pubrel",
    "publishreceived": "pubrec",
    "publishcomplete": "pubcomp",
    "publishack": "puback",
    "pingrequest": "pingreq",
}


def method_matches(fact, row):
    a, b = norm(fact), norm(row.get("request_type", ""))
    a = TSHARK_TO_DEEPFLOW.get(a, a)
    if not a:
        return True
    # "Query" ~ "COM_QUERY", "SET" ~ "SET", "CONFIG" ~ "CONFIG GET": one names the other.
    return bool(b) and (a == b or a.endswith(b) or b.endswith(a) or a.startswith(b) or
                        b.startswith(a))


def resource_matches(fact, row):
    if fact in (None, ""):
        return True
    fact = " ".join(str(fact).split())
    for field in ("request_resource", "endpoint", "request_domain"):
        got = " ".join(str(row.get(field, "")).split())
        if not got:
            continue
        # Equal, or cut by the parse bound, or one is the path/service form of the other.
        if got == fact or fact.startswith(got) or got.startswith(fact) or fact.endswith(got) or \
                got.endswith(fact) or got in fact:
            return True
    return False


def status_matches(rec, row):
    if rec.get("grpc"):
        want = rec.get("grpc_status")
    else:
        want = rec.get("status")
    if want in (None, ""):
        return True
    if rec.get("protocol") == "text":
        return True  # memcached text: the reply line (e.g. an incr result), checked via `error`
    try:
        want = int(str(want), 0)
    except ValueError:
        return True  # textual statuses (redis replies) are checked through `error`
    if "response_code" not in row:
        # No code decoded (e.g. a Kafka response whose error codes sit past the parse bound):
        # acceptable only for a success that flowscope also calls a success.
        return want == 0 and row.get("response_status") == 0
    return row.get("response_code") == want


def is_error(row):
    return row.get("response_status") in (2, 3, 4)


def micros(t):
    whole, _, frac = str(t).partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def run_flowscope(pcap):
    p = subprocess.run([BIN, "pcap", pcap, "--output", "l7", "--format", "jsonl", "-q",
                        "--obfuscate", "none"], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"flowscope pcap {pcap}: exit {p.returncode}: {p.stderr[-500:]}")
    return [json.loads(line) for line in p.stdout.splitlines()]


def endpoint(ip, port):
    return f"{ip}:{port}" if ":" not in ip else f"[{ip}]:{port}"


def main():
    passed = failed = 0
    regs = registered()
    with_data = sorted(d for d in os.listdir(PROTOCOLS)
                       if glob.glob(os.path.join(PROTOCOLS, d, "testdata", "*.json")))
    missing = [d for d in with_data if d not in regs]
    if missing:
        print(f"note: testdata without a registered parser (not compared): {', '.join(missing)}")
    for proto in [d for d in with_data if d in regs]:
        total = agree = 0
        for facts_path in sorted(glob.glob(os.path.join(PROTOCOLS, proto, "testdata", "*.json"))):
            pcap = facts_path[:-5] + ".pcap"
            if not os.path.exists(pcap):
                continue
            facts = json.load(open(facts_path))
            rows = run_flowscope(pcap)
            index = {}
            for r in rows:
                key = (endpoint(r["ip_0"], r["client_port"]), endpoint(r["ip_1"], r["server_port"]),
                       r["start_time"])
                index.setdefault(key, []).append(r)
            for rec in facts["records"]:
                if rec.get("request") is None:
                    continue  # responses without request: nothing to compare a method with
                total += 1
                client = rec["client"]
                server = rec["server"]
                key = (client, server, micros(rec["request"]["first_time"]))
                # Requests that start in the same packet (pipelining) share a start time:
                # they are matched in order.
                cands = index.get(key, [])
                problems = []
                if not cands:
                    problems.append("no request log starting at the request's first packet")
                else:
                    # Multiplexed streams (HTTP/2) are answered out of order: the log of
                    # the same stream, else of the same resource, else the next in order.
                    pick = next((i for i, r in enumerate(cands)
                                 if rec.get("h2_stream") is not None and
                                 r.get("request_id") == rec["h2_stream"]), None)
                    if pick is None:
                        pick = next((i for i, r in enumerate(cands)
                                     if resource_matches(rec.get("resource"), r)), 0)
                    row = cands.pop(pick)
                    if not method_matches(rec.get("method"), row):
                        problems.append(f"method {rec.get('method')!r} vs {row.get('request_type')!r}")
                    if not resource_matches(rec.get("resource"), row):
                        problems.append(f"resource {rec.get('resource')!r} vs "
                                        f"{row.get('request_resource')!r}")
                    if not status_matches(rec, row):
                        problems.append(f"status {rec.get('status')!r} vs {row.get('response_code')!r}")
                    if rec.get("response") is not None:
                        if bool(rec.get("error")) != is_error(row):
                            problems.append(f"error {rec.get('error')} vs response_status "
                                            f"{row.get('response_status')}")
                        lat = rec.get("latency_us")
                        if lat is not None and abs(row.get("response_duration", -99) - lat) > 1:
                            problems.append(f"latency {lat} vs {row.get('response_duration')}")
                if problems:
                    print(f"  {proto}/{os.path.basename(pcap)} {client} frame "
                          f"{rec['request']['first_frame']}: {'; '.join(problems)}")
                else:
                    agree += 1
        share = agree / total if total else 0.0
        ok = total > 0 and share >= THRESHOLD
        print(f"{'ok  ' if ok else 'FAIL'} {proto}: {agree}/{total} requests agree with tshark "
              f"({share:.1%}, need {THRESHOLD:.0%})")
        if ok:
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
