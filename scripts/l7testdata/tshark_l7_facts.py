#!/usr/bin/python3
"""Derives the expected L7 request/response facts of a pcap with tshark, independently of
flowscope.

  tshark_l7_facts.py --protocol PROTO PCAP...
      For every PCAP writes <pcap without .pcap>.json next to it: each request/response pair
      as tshark sees it, plus counts. PROTO is one of PROTOCOLS below; it fixes the tshark
      decode-as mappings (-d) for our loopback ports and the extraction rules.
  tshark_l7_facts.py --protocol PROTO --print PCAP
      Prints the JSON instead of writing it.
  tshark_l7_facts.py --doc docs/l7-testdata.md PCAP...
      Rewrites the generated summary blocks (<!-- l7facts:NAME begin/end -->) of the doc from
      the JSON files next to the pcaps.

How it works: one `tshark -T pdml` pass per pcap (full dissection tree, every PDU of every
frame in order), then per protocol: collect the messages tshark dissected, pair requests
with responses (with tshark's own pairing where it has one, else by the rule the protocol
defines, stated per record in "paired_by"), and write the facts. Nothing is typed by hand
and nothing comes from flowscope.

Times: every message carries two frames.
  frame / time              the frame in which tshark dissects the message (for a message
                            spread over several TCP segments: the frame that completes it)
  first_frame / first_time  the frame that carries the message's first byte (from tshark's
                            "Reassembled TCP Segments" list when tshark reassembled it)
  latency_us                response.first_time - request.first_time (what a parser that
                            stamps a message with its first packet measures)
  latency_reported_us       response.time - request.time (the frames tshark reports in)
  tshark_time_us            tshark's own request/response time field where the dissector has
                            one (http.time, dns.time); it always equals latency_reported_us
                            (checked)
Timestamps are frame.time_epoch strings (ns digits; the pcaps have us resolution).
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
import xml.etree.ElementTree as ET

D = decimal.Decimal

# Fixed preferences so that a personal Wireshark profile cannot change the facts.
TSHARK_OPTS = [
    "-n",
    "-o", "tcp.analyze_sequence_numbers:TRUE",
    "-o", "tcp.relative_sequence_numbers:TRUE",
    "-o", "tcp.desegment_tcp_streams:TRUE",
    "-o", "http.desegment_headers:TRUE",
    "-o", "http.desegment_body:TRUE",
    "-o", "http.dechunk_body:TRUE",
]

# Per protocol: tshark decode-as mappings for the loopback ports scripts/record-l7-testdata
# uses, and the server ports (the side that listens; the other side is the client).
# "kafka" has no fixed port (librdkafka's mock brokers listen on ephemeral ports): its server
# ports are the destination ports of the SYNs in the pcap.
PROTOCOLS = {
    "http": {"decode": ["tcp.port==19080,http", "tcp.port==19081,http"]},
    "http2": {"decode": ["tcp.port==19180,http2", "tcp.port==19181,http",
                         "tcp.port==19182,http2"]},
    "dns": {"decode": ["udp.port==19053,dns", "tcp.port==19053,dns", "udp.port==19054,dns"]},
    "mysql": {"decode": ["tcp.port==19306,mysql"]},
    "postgresql": {"decode": ["tcp.port==19432,pgsql"]},
    "redis": {"decode": ["tcp.port==19379,resp"]},
    "kafka": {"decode": None},
    "mqtt": {"decode": ["tcp.port==19883,mqtt", "tcp.port==19884,mqtt"]},
    "memcached": {"decode": ["tcp.port==19211,memcache"]},
    "tls": {"decode": ["tcp.port==19443,tls", "tcp.port==19444,tls"]},
}


class FactError(Exception):
    pass


# ---------------------------------------------------------------- tshark and PDML


def run_tshark(pcap, args):
    # An empty HOME keeps ~/.config/wireshark out of it.
    with tempfile.TemporaryDirectory(prefix="fsl7_tshark_") as home:
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=home)
        res = subprocess.run(["tshark", "-r", pcap, *TSHARK_OPTS, *args], env=env,
                             capture_output=True)
    if res.returncode != 0:
        raise FactError(f"tshark {' '.join(args)} on {pcap} failed: "
                        f"{res.stderr.decode(errors='replace').strip()}")
    return res.stdout


def tshark_version():
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip()


def fields(elem, name):
    """All descendant <field name=NAME> elements, in document order."""
    return [f for f in elem.iter("field") if f.get("name") == name]


def show(elem, name, default=None):
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f.get("show")
    return default


def shows(elem, name):
    return [f.get("show") for f in fields(elem, name)]


def label(field):
    """The value string of an enumerated field: "Type: A (Host Address) (1)" -> "A (Host
    Address)", "Command: Query (3)" -> "Query"."""
    if field is None:
        return None
    text = field.get("showname") or ""
    _, _, value = text.partition(": ")
    m = re.match(r"^(.*) \((?:0x)?[0-9a-fA-F]+\)$", value)
    return m.group(1) if m else value


def first_label(elem, name):
    fs = fields(elem, name)
    return label(fs[0]) if fs else None


class Pdu:
    """One dissected message (one protocol element of the PDML tree)."""

    def __init__(self, pkt, elem, first_frame):
        self.pkt = pkt
        self.elem = elem
        self.frame = pkt.number
        self.first_frame = first_frame


class Packet:
    def __init__(self):
        self.number = None
        self.time = None
        self.transport = None
        self.stream = None
        self.src = self.dst = None
        self.sport = self.dport = None
        self.syn = self.ack = False
        self.tcp_len = 0
        self.payload = b""  # TCP payload of the frame and its offset in the frame
        self.payload_off = None
        self.pdus = []  # (proto name, Pdu)


def hexbytes(field):
    v = field.get("value")
    if v is None:
        return None
    try:
        return bytes.fromhex(v)
    except ValueError:
        return None


def valued_field(elem):
    """The first descendant field with raw bytes, to locate the element in its data source."""
    for f in elem.iter("field"):
        size = int(f.get("size", "0"))
        if size > 0 and f.get("value") and f.get("pos") is not None:
            b = hexbytes(f)
            if b is not None and len(b) == size:
                return int(f.get("pos")), b
    return None


def parse_pdml(pcap, decode, l7_names):
    """Returns the packets of PCAP with the PDUs of the protocols in L7_NAMES."""
    args = []
    for d in decode:
        args += ["-d", d]
    xml = run_tshark(pcap, args + ["-T", "pdml"])
    packets = []
    root = ET.fromstring(xml)
    for pel in root.iter("packet"):
        p = Packet()
        payload = b""
        payload_off = None
        reasm = None  # (bytes, [(frame, start, end)])
        in_frame_seen = set()
        for proto in pel.findall("proto"):
            name = proto.get("name")
            if name == "frame":
                p.number = int(show(proto, "frame.number"))
                p.time = show(proto, "frame.time_epoch")
            elif name in ("ip", "ipv6"):
                p.src = show(proto, f"{name}.src")
                p.dst = show(proto, f"{name}.dst")
            elif name == "tcp" and p.transport is None:
                p.transport = "tcp"
                p.stream = int(show(proto, "tcp.stream"))
                p.sport, p.dport = int(show(proto, "tcp.srcport")), int(show(proto, "tcp.dstport"))
                p.syn = show(proto, "tcp.flags.syn") == "1"
                p.ack = show(proto, "tcp.flags.ack") == "1"
                p.tcp_len = int(show(proto, "tcp.len", "0"))
                pf = fields(proto, "tcp.payload") or fields(proto, "tcp.segment_data")
                if pf:
                    payload = hexbytes(pf[0]) or b""
                    payload_off = int(pf[0].get("pos"))
                    p.payload, p.payload_off = payload, payload_off
            elif name == "udp" and p.transport is None:
                p.transport = "udp"
                p.stream = int(show(proto, "udp.stream"))
                p.sport, p.dport = int(show(proto, "udp.srcport")), int(show(proto, "udp.dstport"))
            elif name == "fake-field-wrapper":
                segs = fields(proto, "tcp.segment")
                if segs:
                    data, ranges, off = b"", [], 0
                    for s in segs:
                        b = hexbytes(s) or b""
                        ranges.append((int(s.get("show")), off, off + len(b)))
                        data += b
                        off += len(b)
                    reasm = (data, ranges)
            elif name in l7_names:
                first = p.number
                loc = valued_field(proto)
                if p.transport == "tcp" and loc is not None:
                    pos, val = loc
                    in_frame = payload_off is not None and \
                        payload[pos - payload_off:pos - payload_off + len(val)] == val and \
                        pos >= payload_off
                    in_reasm = reasm is not None and reasm[0][pos:pos + len(val)] == val
                    # Reassembled PDUs come before the PDUs that start in the frame itself.
                    if in_reasm and not (in_frame and name in in_frame_seen):
                        start = int(proto.get("pos", str(pos)))
                        if not (reasm[0][start:start + 1]):
                            start = pos
                        first = next((fr for fr, a, b in reasm[1] if a <= start < b), p.number)
                    elif in_frame:
                        in_frame_seen.add(name)
                p.pdus.append((name, Pdu(p, proto, first)))
        packets.append(p)
    return packets


# ---------------------------------------------------------------- common record building


def us(delta):
    v = delta * 1000000
    return int(v) if v == v.to_integral_value() else float(v)


class Ctx:
    """Per-pcap state: frame times, server ports, conversation endpoints."""

    def __init__(self, packets, server_ports):
        self.packets = packets
        self.time = {p.number: p.time for p in packets}
        self.server_ports = server_ports

    def endpoints(self, pkt):
        """(transport/stream, client, server, direction) for a packet."""
        if pkt.dport in self.server_ports and pkt.sport not in self.server_ports:
            c, s, d = (pkt.src, pkt.sport), (pkt.dst, pkt.dport), "c2s"
        elif pkt.sport in self.server_ports and pkt.dport not in self.server_ports:
            c, s, d = (pkt.dst, pkt.dport), (pkt.src, pkt.sport), "s2c"
        else:
            raise FactError(f"frame {pkt.number}: no server port among {pkt.sport}/{pkt.dport}")

        def fmt(ep):
            return f"[{ep[0]}]:{ep[1]}" if ":" in ep[0] else f"{ep[0]}:{ep[1]}"
        return f"{pkt.transport}/{pkt.stream}", fmt(c), fmt(s), d

    def msg_times(self, pdu):
        return {"frame": pdu.frame, "time": self.time[pdu.frame],
                "first_frame": pdu.first_frame, "first_time": self.time[pdu.first_frame]}


def record(ctx, req, resp, paired_by, **facts):
    """One request/response pair. REQ and RESP are Pdus (RESP may be None)."""
    anchor = req if req is not None else resp
    stream, client, server, _ = ctx.endpoints(anchor.pkt)
    r = {"stream": stream, "client": client, "server": server,
         "request": ctx.msg_times(req) if req is not None else None,
         "response": ctx.msg_times(resp) if resp is not None else None,
         "latency_us": None, "latency_reported_us": None, "tshark_time_us": None,
         "paired_by": paired_by if req is not None and resp is not None else None}
    if req is not None and resp is not None:
        r["latency_us"] = us(D(ctx.time[resp.first_frame]) - D(ctx.time[req.first_frame]))
        r["latency_reported_us"] = us(D(ctx.time[resp.frame]) - D(ctx.time[req.frame]))
    r.update(facts)
    return r


def set_tshark_time(r, seconds):
    """Stores tshark's own time field and checks it against the frame times."""
    if seconds is None:
        return
    r["tshark_time_us"] = us(D(seconds))
    if r["latency_reported_us"] is not None and r["tshark_time_us"] != r["latency_reported_us"]:
        raise FactError(f"tshark time {seconds} disagrees with frames {r['request']} "
                        f"{r['response']}")


def by_stream(ctx, pdus):
    """PDUs per conversation, ordered by where they start (a message tshark completes in a
    later frame still comes before a message that starts after its first byte)."""
    out = collections.OrderedDict()
    for pdu in sorted(pdus, key=lambda x: x.first_frame):
        out.setdefault((pdu.pkt.transport, pdu.pkt.stream), []).append(pdu)
    return out


def pdus_of(ctx, *names):
    return [pdu for p in ctx.packets for n, pdu in p.pdus if n in names]


def direction(ctx, pdu):
    return ctx.endpoints(pdu.pkt)[3]


# ---------------------------------------------------------------- HTTP/1.x

TRACE_HEADERS = ["traceparent", "tracestate", "sw8", "b3", "x-b3-traceid", "x-b3-spanid",
                 "x-b3-parentspanid", "x-b3-sampled", "uber-trace-id", "x-request-id",
                 "x-forwarded-for"]


def header_lines(elem, field):
    """Header lines of an HTTP/1 message as (lower-case name, value), in order."""
    out = []
    for line in shows(elem, field):
        name, _, value = line.rstrip("\r\n").partition(":")
        out.append((name.strip().lower(), value.strip()))
    return out


def http1_message(pdu):
    e = pdu.elem
    if show(e, "http.request.method") is not None:
        hdrs = header_lines(e, "http.request.line")
        return "request", {
            "method": show(e, "http.request.method"),
            "resource": show(e, "http.request.uri"),
            "version": show(e, "http.request.version"),
            "host": show(e, "http.host"),
            "user_agent": show(e, "http.user_agent"),
            "content_length": int(show(e, "http.content_length")) if show(
                e, "http.content_length") else None,
            "headers": {k: v for k, v in hdrs if k in TRACE_HEADERS + [
                "expect", "connection", "upgrade", "transfer-encoding"]},
        }
    if show(e, "http.response.code") is not None:
        hdrs = header_lines(e, "http.response.line")
        return "response", {
            "status": show(e, "http.response.code"),
            "phrase": show(e, "http.response.phrase"),
            "version": show(e, "http.response.version"),
            "content_length": int(show(e, "http.content_length")) if show(
                e, "http.content_length") else None,
            "headers": {k: v for k, v in hdrs if k in TRACE_HEADERS + [
                "transfer-encoding", "connection", "upgrade"]},
            "request_in": int(show(e, "http.request_in")) if show(e, "http.request_in") else None,
            "time": show(e, "http.time"),
        }
    return None, None


def facts_http(ctx):
    """HTTP/1.x: pairs by order within the connection (HTTP/1 answers in request order);
    1xx responses other than 101 are interim and attached to the request they precede.
    tshark's http.request_in is cross-checked where it is set (tshark 4.0 links only the first
    of several pipelined requests)."""
    records = []
    for _, pdus in by_stream(ctx, pdus_of(ctx, "http")).items():
        queue = collections.deque()
        for pdu in pdus:
            kind, m = http1_message(pdu)
            if kind == "request":
                queue.append((pdu, m, []))
            elif kind == "response":
                code = int(m["status"])
                if 100 <= code < 200 and code != 101:
                    if queue:
                        queue[0][2].append({"status": m["status"], **ctx.msg_times(pdu)})
                    continue
                if not queue:
                    records.append(record(ctx, None, pdu, None, **resp_facts_http(None, m)))
                    continue
                req, rm, interim = queue.popleft()
                if m["request_in"] is not None and m["request_in"] != req.frame:
                    raise FactError(f"http: tshark pairs response frame {pdu.frame} with "
                                    f"request frame {m['request_in']}, order gives {req.frame}")
                r = record(ctx, req, pdu, "tshark" if m["request_in"] else "order",
                           **resp_facts_http(rm, m))
                if interim:
                    r["interim_responses"] = interim
                set_tshark_time(r, m["time"])
                records.append(r)
        for req, rm, interim in queue:
            r = record(ctx, req, None, None, **resp_facts_http(rm, None))
            if interim:
                r["interim_responses"] = interim
            records.append(r)
    return records


def resp_facts_http(rm, m):
    rm = rm or {}
    return {
        "method": rm.get("method"), "resource": rm.get("resource"),
        "status": m["status"] if m else None,
        "error": bool(m) and int(m["status"]) >= 400,
        "version": rm.get("version") or (m["version"] if m else None),
        "host": rm.get("host"), "user_agent": rm.get("user_agent"),
        "request_content_length": rm.get("content_length"),
        "response_content_length": m["content_length"] if m else None,
        "request_headers": rm.get("headers", {}),
        "response_headers": m["headers"] if m else {},
    }


# ---------------------------------------------------------------- HTTP/2 and gRPC


def h2_headers(elem):
    out = []
    for h in fields(elem, "http2.header"):
        name, value = show(h, "http2.header.name"), show(h, "http2.header.value")
        if name is not None:
            out.append((name, value if value is not None else ""))
    return out


def facts_http2(ctx):
    """HTTP/2: one record per HTTP/2 stream. Request = the client's first HEADERS frame of the
    stream (:method, :path, :authority); response = the server's first HEADERS frame
    (:status); gRPC status = grpc-status of the server's last HEADERS frame (trailers, or the
    only HEADERS frame of a trailers-only response). For an h2c upgrade the request is the
    HTTP/1.1 request carrying "Upgrade: h2c" and the response is stream 1's first HEADERS frame
    (RFC 7540 section 3.2); the 101 is reported as "upgrade_response". tshark 4.0 has no
    request/response time field for HTTP/2, so tshark_time_us is null."""
    streams = collections.OrderedDict()  # (tcp stream, h2 stream) -> dict
    upgrades = {}  # tcp stream -> (request pdu, facts, 101 pdu)
    for _, pdus in by_stream(ctx, pdus_of(ctx, "http2", "http")).items():
        for pdu in pdus:
            tcp = pdu.pkt.stream
            if pdu.elem.get("name") == "http":
                kind, m = http1_message(pdu)
                if kind == "request" and m["headers"].get("upgrade", "").lower() == "h2c":
                    upgrades[tcp] = [pdu, m, None]
                elif kind == "response" and m["status"] == "101" and tcp in upgrades:
                    upgrades[tcp][2] = pdu
                continue
            if show(pdu.elem, "http2.streamid") is None:
                continue  # the connection preface (Magic)
            sid = int(show(pdu.elem, "http2.streamid"))
            ftype = first_label(pdu.elem, "http2.type")
            if sid == 0 or ftype not in ("HEADERS", "DATA", "RST_STREAM", "CONTINUATION"):
                continue
            d = direction(ctx, pdu)
            st = streams.setdefault((tcp, sid), {"req": None, "resp": None, "hdr_req": {},
                                                 "hdr_resp": [], "rst": None, "anchor": pdu,
                                                 "data_frames": {"c2s": 0, "s2c": 0}})
            if ftype == "HEADERS":
                hdrs = h2_headers(pdu.elem)
                if d == "c2s" and st["req"] is None:
                    st["req"], st["hdr_req"] = pdu, dict(hdrs)
                elif d == "s2c":
                    if st["resp"] is None:
                        st["resp"] = pdu
                    st["hdr_resp"].append(dict(hdrs))
            elif ftype == "DATA":
                st["data_frames"][d] += 1
            elif ftype == "RST_STREAM":
                st["rst"] = first_label(pdu.elem, "http2.rst_stream.error")
    records = []
    for (tcp, sid), st in streams.items():
        req, hreq, upgrade = st["req"], st["hdr_req"], None
        if req is None and sid == 1 and tcp in upgrades:
            req, m, upgrade = upgrades.pop(tcp)
            hreq = {":method": m["method"], ":path": m["resource"], ":authority": m["host"],
                    **m["headers"]}
        resp_hdrs = st["hdr_resp"][0] if st["hdr_resp"] else {}
        last = st["hdr_resp"][-1] if st["hdr_resp"] else {}
        status = resp_hdrs.get(":status")
        ctype = hreq.get("content-type", "")
        grpc = ctype.startswith("application/grpc")
        grpc_status = last.get("grpc-status") if grpc else None
        error = (status is not None and int(status) >= 400) or \
            (grpc_status is not None and grpc_status != "0")
        r = record(ctx, req, st["resp"], "stream id", h2_stream=sid,
                   method=hreq.get(":method"), resource=hreq.get(":path"),
                   status=status, grpc=grpc, grpc_status=grpc_status,
                   grpc_message=last.get("grpc-message") if grpc else None,
                   error=error, authority=hreq.get(":authority"),
                   request_headers={k: v for k, v in hreq.items()
                                    if k in TRACE_HEADERS + ["content-type", "user-agent"]},
                   response_headers={k: v for h in st["hdr_resp"] for k, v in h.items()
                                     if k in TRACE_HEADERS + ["content-type", "grpc-status",
                                                              "grpc-message"]},
                   response_header_frames=len(st["hdr_resp"]),
                   data_frames=st["data_frames"], rst_stream=st["rst"])
        if upgrade is not None:
            r["h2c_upgrade"] = True
            r["upgrade_response"] = {"status": "101", **ctx.msg_times(upgrade)}
        records.append(r)
    return records


# ---------------------------------------------------------------- DNS


def tree(elem, title):
    """Children of the unnamed tree item whose text is TITLE ("Answers", "Queries"...)."""
    for f in elem.iter("field"):
        if f.get("name") == "" and f.get("show") == title:
            return list(f.findall("field"))
    return []


def facts_dns(ctx):
    """DNS over UDP and TCP: pairs with tshark's dns.response_to (transaction id within the
    conversation); tshark_time_us = dns.time."""
    records, by_frame, answered = [], {}, set()
    pdus = pdus_of(ctx, "dns")
    for pdu in pdus:
        if show(pdu.elem, "dns.flags.response") == "0":
            by_frame.setdefault(pdu.frame, []).append(pdu)

    def facts(q, a):
        qe = q.elem if q is not None else a.elem
        qtype = fields(qe, "dns.qry.type")
        r = {"transaction_id": show(qe, "dns.id"),
             "opcode": first_label(qe, "dns.flags.opcode"),
             "method": label(qtype[0]).split(" ")[0] if qtype else None,
             "qtype": int(qtype[0].get("show")) if qtype else None,
             "resource": show(qe, "dns.qry.name"),
             "status": None, "rcode_name": None, "error": False, "answers": []}
        if a is not None:
            rc = fields(a.elem, "dns.flags.rcode")
            r["status"] = int(rc[0].get("show"))
            r["rcode_name"] = label(rc[0])
            r["error"] = r["status"] != 0
            r["answers"] = []
            for f in tree(a.elem, "Answers"):
                txt = shows(f, "dns.txt")  # the tree text leaves TXT strings out
                r["answers"].append(f.get("show") + "".join(f', txt "{t}"' for t in txt))
        return r

    for pdu in pdus:
        if show(pdu.elem, "dns.flags.response") != "1":
            continue
        to = show(pdu.elem, "dns.response_to")
        cands = by_frame.get(int(to), []) if to else []
        cands = [q for q in cands if show(q.elem, "dns.id") == show(pdu.elem, "dns.id")]
        if not cands:
            records.append(record(ctx, None, pdu, None, **facts(None, pdu)))
            continue
        q = cands[0]
        answered.add(id(q))
        r = record(ctx, q, pdu, "tshark", **facts(q, pdu))
        set_tshark_time(r, show(pdu.elem, "dns.time"))
        records.append(r)
    for pdu in pdus:
        if show(pdu.elem, "dns.flags.response") == "0" and id(pdu) not in answered:
            records.append(record(ctx, pdu, None, None, **facts(pdu, None)))
    return records


# ---------------------------------------------------------------- MySQL

MYSQL_NO_RESPONSE = {"Quit", "Close Statement", "Send BLOB"}  # COM_QUIT, COM_STMT_CLOSE, ...


def proto_suffix(elem, prefix):
    """What tshark appends to a protocol item's text: "MySQL Protocol - response OK" ->
    "response OK"."""
    text = elem.get("showname") or ""
    return text[len(prefix):] if text.startswith(prefix) else ""


def facts_mysql(ctx):
    """MySQL: request/response by order within the connection (the protocol is strictly
    half-duplex: one command, then its whole response). Request = a client packet with
    mysql.command (or the login request after the server greeting); response = the first server
    packet after it; response_packets counts every server packet up to the next command.
    COM_QUIT and COM_STMT_CLOSE get no response by definition (no_response_expected).
    tshark 4.0 has no MySQL response time field and labels binary result rows
    "OK Packet", so the kind of response comes from the first response packet only."""
    records = []
    for _, pdus in by_stream(ctx, pdus_of(ctx, "mysql")).items():
        greeting, cur = None, None

        def close(cur):
            if cur is not None:
                req, resp, f = cur
                records.append(record(ctx, req, resp, "order", **f))

        for pdu in pdus:
            e, d = pdu.elem, direction(ctx, pdu)
            if d == "s2c" and show(e, "mysql.version") is not None and greeting is None:
                greeting = {"frame": pdu.frame, "time": ctx.time[pdu.frame],
                            "protocol": show(e, "mysql.protocol"),
                            "server_version": show(e, "mysql.version")}
                continue
            if d == "c2s":
                cmd = fields(e, "mysql.command")
                if cmd:
                    close(cur)
                    name = label(cmd[0])
                    f = {"method": name, "command": int(cmd[0].get("show")),
                         "resource": show(e, "mysql.query") or show(e, "mysql.schema"),
                         "statement_id": int(show(e, "mysql.stmt_id")) if show(
                             e, "mysql.stmt_id") else None,
                         "params": [x.get("show") for x in e.iter("field")
                                    if (x.get("name") or "").startswith("mysql.exec.field.")],
                         "no_response_expected": name in MYSQL_NO_RESPONSE}
                    f.update(status=None, error=False, response_kind=None, error_code=None,
                             error_message=None, affected_rows=None, num_fields=None,
                             response_packets=0)
                    cur = [pdu, None, f]
                    if f["no_response_expected"]:
                        close(cur)
                        cur = None
                elif show(e, "mysql.user") is not None:
                    close(cur)
                    f = {"method": "Login", "command": None, "resource": show(e, "mysql.user"),
                         "statement_id": None, "params": [],
                         "user": show(e, "mysql.user"), "schema": show(e, "mysql.schema"),
                         "no_response_expected": False, "greeting": greeting,
                         "status": None, "error": False, "response_kind": None,
                         "error_code": None, "error_message": None, "affected_rows": None,
                         "num_fields": None, "response_packets": 0}
                    cur = [pdu, None, f]
                continue
            if cur is None:
                continue
            f = cur[2]
            f["response_packets"] += 1
            if cur[1] is not None:
                continue
            cur[1] = pdu
            f["response_kind"] = proto_suffix(e, "MySQL Protocol - ") or None
            code = show(e, "mysql.response_code")
            if code == "0xff":
                f["error_code"] = int(show(e, "mysql.error_code"))
                f["status"] = f["error_code"]
                f["error_message"] = show(e, "mysql.error.message")
                f["error"] = True
            elif code == "0x00" and show(e, "mysql.affected_rows") is not None:
                f["affected_rows"] = int(show(e, "mysql.affected_rows"))
            if show(e, "mysql.num_fields") is not None:
                f["num_fields"] = int(show(e, "mysql.num_fields"))
            if show(e, "mysql.stmt_id") is not None:
                f["statement_id"] = int(show(e, "mysql.stmt_id"))
        close(cur)
    return records


# ---------------------------------------------------------------- PostgreSQL

PG_ENDS_REQUEST = {"Simple query", "Sync", "Startup message", "Function call"}
PG_NO_RESPONSE = {"Termination"}


def facts_postgresql(ctx):
    """PostgreSQL: one record per request cycle, paired by order within the connection. A
    request is the run of frontend messages up to the one that makes the server answer with
    ReadyForQuery (Query, Sync, or the StartupMessage), e.g. Parse/Bind/Describe/Execute/Sync;
    its response is every backend message up to ReadyForQuery. method = type of the first
    frontend message (tshark's pgsql.type name), messages = all of them. resource = the SQL
    of the Query or Parse; for a Bind of a named statement (pgbench -M prepared) the SQL of
    the Parse that created it (statement name in "statement"). Terminate has no response.
    tshark 4.0 has no PostgreSQL response time field."""
    records = []
    for _, pdus in by_stream(ctx, pdus_of(ctx, "pgsql")).items():
        statements, cur = {}, None

        def new_cur():
            return {"req": None, "resp": None, "msgs": [], "resp_msgs": [], "sql": None,
                    "stmt": None, "tags": [], "err": None, "done": False, "params": []}

        def close(c):
            if c is None or c["req"] is None:
                return
            err = c["err"] or {}
            records.append(record(
                ctx, c["req"], c["resp"], "order",
                method=c["msgs"][0], messages=c["msgs"], resource=c["sql"],
                statement=c["stmt"], params=c["params"],
                status=err.get("code"), error=bool(err), error_severity=err.get("severity"),
                error_message=err.get("message"), command_tags=c["tags"],
                response_messages=c["resp_msgs"],
                no_response_expected=c["msgs"] == ["Termination"]))

        for pdu in pdus:
            e, d = pdu.elem, direction(ctx, pdu)
            mtype = show(e, "pgsql.type")
            if d == "c2s":
                if cur is None or cur["done"] or cur["resp"] is not None:
                    close(cur)
                    cur = new_cur()
                if cur["req"] is None:
                    cur["req"] = pdu
                cur["msgs"].append(mtype)
                if mtype == "Parse":
                    statements[show(e, "pgsql.statement")] = show(e, "pgsql.query")
                    cur["sql"] = cur["sql"] or show(e, "pgsql.query")
                    cur["stmt"] = show(e, "pgsql.statement")
                elif mtype == "Simple query":
                    cur["sql"] = show(e, "pgsql.query")
                elif mtype == "Bind":
                    cur["stmt"] = show(e, "pgsql.statement")
                    cur["sql"] = cur["sql"] or statements.get(cur["stmt"])
                    cur["params"] = [(hexbytes(f) or b"").decode("utf-8", "replace")
                                     for f in fields(e, "pgsql.val.data")]
                elif mtype == "Startup message":
                    names = shows(e, "pgsql.parameter_name")
                    values = shows(e, "pgsql.parameter_value")
                    params = dict(zip(names, values))
                    cur["sql"] = f"user={params.get('user')} database={params.get('database')}"
                if mtype in PG_ENDS_REQUEST:
                    cur["done"] = True
                if mtype in PG_NO_RESPONSE:
                    close(cur)
                    cur = None
                continue
            if cur is None or cur["req"] is None:
                continue
            if cur["resp"] is None:
                cur["resp"] = pdu
            cur["resp_msgs"].append(mtype)
            if mtype == "Command completion":
                cur["tags"].append(show(e, "pgsql.tag"))
            elif mtype == "Error" and cur["err"] is None:
                cur["err"] = {"code": show(e, "pgsql.code"), "severity": show(e, "pgsql.severity"),
                              "message": show(e, "pgsql.message")}
            elif mtype == "Ready for query":
                close(cur)
                cur = None
        close(cur)
    return records


# ---------------------------------------------------------------- Redis


def resp_text(f):
    """A RESP value as text: bulk strings decoded from resp.bulk_string.value, arrays as
    [a, b], null bulk strings as None."""
    name = f.get("name")
    if name == "resp.bulk_string":
        v = [c for c in f.findall("field") if c.get("name") == "resp.bulk_string.value"]
        if not v:
            length = show(f, "resp.bulk_string.length")
            return "" if length == "0" else None
        return (hexbytes(v[0]) or b"").decode("utf-8", "replace")
    if name == "resp.array":
        return [resp_text(c) for c in f.findall("field") if c.get("name") != "resp.array.length"]
    if name in ("resp.string", "resp.error", "resp.integer"):
        return f.get("show")
    return None


RESP_KIND = {"resp.string": "simple string", "resp.error": "error", "resp.integer": "integer",
             "resp.bulk_string": "bulk string", "resp.array": "array"}


def facts_redis(ctx):
    """Redis (RESP): pairs by order within the connection (replies come in command order;
    pipelined commands, several per segment, are split by tshark into top-level values).
    tshark 4.0 knows only RESP2 types: a RESP3 reply (map %, set ~, null _, double ,, ...)
    shows up as "resp.fragment" followed by its flattened elements. A segment from the server
    that contains a fragment is therefore taken as one reply (each RESP3 reply in our pcaps
    is one segment), with reply_type "resp3 X" where X is the reply's first byte (read from
    the frame, since tshark has no field for it) and tshark_decoded=false."""
    records = []
    for _, pdus in by_stream(ctx, pdus_of(ctx, "resp")).items():
        queue = collections.deque()
        for pdu in pdus:
            d = direction(ctx, pdu)
            children = [c for c in pdu.elem.findall("field")]
            if d == "c2s":
                for c in children:
                    if c.get("name") != "resp.array":
                        queue.append((pdu, {"method": None, "resource": None, "args": [],
                                            "tshark_decoded": False}))
                        continue
                    argv = [a if a is not None else "" for a in resp_text(c)]
                    queue.append((pdu, {"method": argv[0].upper() if argv else None,
                                        "resource": " ".join(argv), "args": argv[1:],
                                        "key": argv[1] if len(argv) > 1 else None,
                                        "tshark_decoded": True}))
                continue
            if any(c.get("name") == "resp.fragment" for c in children):
                pos = int(children[0].get("pos"))
                off = pdu.pkt.payload_off
                first = pdu.pkt.payload[pos - off:pos - off + 1] if off is not None else b""
                replies = [("resp3 " + first.decode("latin-1"), None, None, False)]
            else:
                replies = []
                for c in children:
                    kind = RESP_KIND.get(c.get("name"), c.get("name"))
                    value = resp_text(c)
                    if kind == "bulk string" and value is None:
                        kind = "null bulk string"
                    replies.append((kind, value, value if kind == "error" else None, True))
            for kind, value, err, decoded in replies:
                if not queue:
                    records.append(record(ctx, None, pdu, None, method=None, resource=None,
                                          status=err, error=err is not None, reply_type=kind,
                                          reply=value, tshark_decoded=decoded))
                    continue
                req, f = queue.popleft()
                f = dict(f)
                f["tshark_decoded"] = f["tshark_decoded"] and decoded
                records.append(record(ctx, req, pdu, "order", **f, status=err,
                                      error=err is not None, reply_type=kind, reply=value))
        for req, f in queue:
            records.append(record(ctx, req, None, None, **f, status=None, error=False,
                                  reply_type=None, reply=None))
    return records


# ---------------------------------------------------------------- Kafka


def facts_kafka(ctx):
    """Kafka: pairs with tshark's kafka.request_frame (tshark matches the correlation id within
    the connection; checked here). method = kafka.api_key name, resource = the topic names of
    the request (in order, unique), status = the first non-zero kafka.error of the response
    (0 when none); error_codes lists every kafka.error of the response (top level and per
    partition)."""
    records, reqs, answered = [], {}, set()
    pdus = pdus_of(ctx, "kafka")
    for pdu in pdus:
        if direction(ctx, pdu) == "c2s":
            reqs.setdefault(pdu.frame, []).append(pdu)

    def req_facts(q):
        e = q.elem
        topics = list(dict.fromkeys(shows(e, "kafka.topic_name")))
        hk, hv = shows(e, "kafka.header_key"), shows(e, "kafka.header_value")
        return {"method": first_label(e, "kafka.api_key"),
                "api_key": int(show(e, "kafka.api_key")),
                "api_version": int(show(e, "kafka.api_version")),
                "correlation_id": int(show(e, "kafka.correlation_id")),
                "client_id": show(e, "kafka.client_id"),
                "group_id": show(e, "kafka.consumer_group"),
                "resource": ",".join(topics) if topics else None, "topics": topics,
                "record_headers": [[k, v] for k, v in zip(hk, hv)]}

    for pdu in pdus:
        if direction(ctx, pdu) != "s2c":
            continue
        e = pdu.elem
        codes = [int(x) for x in shows(e, "kafka.error")]
        status = next((c for c in codes if c != 0), 0)
        rf = show(e, "kafka.request_frame")
        cid = show(e, "kafka.correlation_id")
        cands = [q for q in reqs.get(int(rf), []) if show(q.elem, "kafka.correlation_id") == cid
                 and q.pkt.stream == pdu.pkt.stream] if rf else []
        resp = {"status": status, "error": status != 0, "error_codes": codes,
                "error_name": next((label(f) for f in fields(e, "kafka.error")
                                    if f.get("show") != "0"), None),
                "response_topics": list(dict.fromkeys(shows(e, "kafka.topic_name")))}
        if not cands:
            records.append(record(ctx, None, pdu, None, method=first_label(e, "kafka.api_key"),
                                  resource=None, correlation_id=int(cid), **resp))
            continue
        q = cands[0]
        answered.add(id(q))
        records.append(record(ctx, q, pdu, "tshark", **req_facts(q), **resp))
    for pdu in pdus:
        if direction(ctx, pdu) == "c2s" and id(pdu) not in answered:
            records.append(record(ctx, pdu, None, None, **req_facts(pdu), status=None,
                                  error=False, error_codes=[], error_name=None,
                                  response_topics=[]))
    return records


# ---------------------------------------------------------------- MQTT

# request packet type -> response packet type (MQTT 3.1.1 section 2.2.1 / 5.0 section 2.1.2)
MQTT_RESPONSE = {1: 2, 8: 9, 10: 11, 12: 13, 6: 7}  # CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, PUBREL
MQTT_CODE_FIELDS = ["mqtt.conack.val", "mqtt.connack.reason_code", "mqtt.suback.qos",
                    "mqtt.suback.reason_code", "mqtt.unsuback.reason_code",
                    "mqtt.puback.reason_code", "mqtt.pubrec.reason_code",
                    "mqtt.pubcomp.reason_code"]


def mqtt_error(mtype, code, version):
    """CONNACK: any non-zero return/reason code; SUBACK: 0x80 (3.1.1 failure) or any MQTT 5
    reason code >= 0x80; other acks (MQTT 5): reason code >= 0x80."""
    if code is None:
        return False
    if mtype == 2:
        return code != 0
    return code >= 0x80


def facts_mqtt(ctx):
    """MQTT 3.1.1 and 5: a request and its response are matched within the connection:
    CONNECT->CONNACK, PINGREQ->PINGRESP by order; SUBSCRIBE->SUBACK, UNSUBSCRIBE->UNSUBACK,
    PUBLISH QoS 1->PUBACK, PUBLISH QoS 2->PUBREC, PUBREL->PUBCOMP by packet identifier and
    opposite direction (the broker's PUBLISH to a subscriber is a request from the server,
    request_direction "s2c"). PUBLISH QoS 0 and DISCONNECT have no response. status = the
    response's return/reason code (number), status_name = its name."""
    records = []
    for _, pdus in by_stream(ctx, pdus_of(ctx, "mqtt")).items():
        version, pending = None, []
        for pdu in pdus:
            e, d = pdu.elem, direction(ctx, pdu)
            mtype = int(show(e, "mqtt.msgtype"))
            if show(e, "mqtt.ver") is not None:
                version = int(show(e, "mqtt.ver"))
            msgid = show(e, "mqtt.msgid")
            qos = int(show(e, "mqtt.qos")) if show(e, "mqtt.qos") is not None else None
            code_f = next((f for n in MQTT_CODE_FIELDS for f in fields(e, n)), None)
            # A response?
            match = None
            for i, (rq, rf, want_type, want_id) in enumerate(pending):
                if want_type == mtype and (want_id is None or want_id == msgid) and \
                        direction(ctx, rq) != d:
                    match = i
                    break
            if match is not None:
                rq, rf, _, _ = pending.pop(match)
                code = int(code_f.get("show")) if code_f is not None else None
                rf.update(status=code, status_name=label(code_f) if code_f is not None else None,
                          error=mqtt_error(mtype, code, version),
                          response_type=label(fields(e, "mqtt.msgtype")[0]),
                          session_present=show(e, "mqtt.conack.flags.sp"))
                records.append(record(ctx, rq, pdu, "packet id" if msgid else "order", **rf))
                continue
            topics = shows(e, "mqtt.topic")
            f = {"method": label(fields(e, "mqtt.msgtype")[0]), "packet_type": mtype,
                 "request_direction": d, "version": version, "qos": qos,
                 "packet_id": int(msgid) if msgid else None,
                 "resource": ",".join(topics) if topics else None,
                 "client_id": show(e, "mqtt.clientid"), "username": show(e, "mqtt.username"),
                 "keepalive": int(show(e, "mqtt.kalive")) if show(e, "mqtt.kalive") else None,
                 "user_properties": [[k, v] for k, v in zip(shows(e, "mqtt.prop_key"),
                                                             shows(e, "mqtt.prop_value"))],
                 "status": None, "status_name": None, "error": False, "response_type": None,
                 "no_response_expected": False}
            if mtype == 3 and qos in (1, 2):
                pending.append((pdu, f, 4 if qos == 1 else 5, msgid))
            elif mtype in MQTT_RESPONSE:
                pending.append((pdu, f, MQTT_RESPONSE[mtype],
                                msgid if mtype in (6, 8, 10) else None))
            else:
                # PUBLISH QoS 0, DISCONNECT, or an ack without a request in the capture.
                f["no_response_expected"] = mtype in (3, 14)
                if mtype in (3, 14):
                    records.append(record(ctx, pdu, None, None, **f))
                else:
                    records.append(record(ctx, None, pdu, None, **f))
        for rq, rf, _, _ in pending:
            records.append(record(ctx, rq, None, None, **rf))
    return records


# ---------------------------------------------------------------- Memcached

MC_STORAGE = {"set", "add", "replace", "append", "prepend", "cas"}


class ByteStream:
    """One direction of a TCP connection: the payload bytes (tcp.payload / tcp.segment_data
    from tshark) in frame order, remembering which frame carried each byte."""

    def __init__(self):
        self.data = bytearray()
        self.frames = []  # frame of each byte
        self.pos = 0

    def add(self, frame, payload):
        self.data += payload
        self.frames += [frame] * len(payload)

    def line(self):
        end = self.data.find(b"\r\n", self.pos)
        if end < 0:
            return None
        start, self.pos = self.pos, end + 2
        return start, bytes(self.data[start:end])

    def skip(self, n):
        self.pos = min(self.pos + n, len(self.data))


def mc_text_messages(stream, is_request):
    """Splits one direction of the text protocol into messages: (first frame, last frame,
    first line, data lines)."""
    out = []
    while True:
        got = stream.line()
        if got is None:
            return out
        start, line = got
        values = []
        tokens = line.decode("latin-1").split()
        if is_request and tokens and tokens[0] in MC_STORAGE and len(tokens) >= 5:
            try:
                stream.skip(int(tokens[4]) + 2)  # the data block (memcached reads exactly this)
            except ValueError:
                pass
        elif not is_request and line.startswith(b"VALUE "):
            while True:
                try:
                    stream.skip(int(line.split()[3]) + 2)
                except (ValueError, IndexError):
                    break
                values.append(tokens[1] if len(tokens) > 1 else None)
                got = stream.line()
                if got is None:
                    break
                line = got[1]
                tokens = line.decode("latin-1").split()
                if line == b"END" or not line.startswith(b"VALUE "):
                    break
            line = b"END" if line == b"END" else line
        end = max(stream.pos - 1, start)
        out.append((stream.frames[start], stream.frames[min(end, len(stream.frames) - 1)],
                    bytes(stream.data[start:stream.data.find(b"\r\n", start)]).decode(
                        "latin-1"), values, line.decode("latin-1")))


def mc_error(status_line):
    return status_line.split(" ")[0] in ("ERROR", "CLIENT_ERROR", "SERVER_ERROR")


def facts_memcached(ctx):
    """Memcached. Binary protocol (magic 0x80/0x81): tshark decodes every message; pairs by
    opaque and order within the connection (checked), status = memcache.status.
    Text protocol: tshark 4.0 decodes at most one command per frame and leaves unknown
    commands and ERROR/CLIENT_ERROR/SERVER_ERROR lines undecoded ("Continuation"), so the
    script splits each direction's TCP payload bytes (as tshark gives them) into command lines
    (+ data blocks of storage commands, exactly as memcached reads them) and reply lines
    (VALUE blocks up to END), pairs them by order, skipping "noreply" commands and quit (no
    reply). Where tshark decoded a message in the frame it starts in, its memcache.command /
    memcache.key / memcache.response are given as tshark_* for comparison."""
    records = []
    # Binary messages straight from tshark.
    for _, pdus in by_stream(ctx, pdus_of(ctx, "memcache")).items():
        binary = [p for p in pdus if show(p.elem, "memcache.magic") is not None]
        queue = collections.deque()
        for pdu in binary:
            e = pdu.elem
            f = {"protocol": "binary", "method": first_label(e, "memcache.opcode"),
                 "opcode": int(show(e, "memcache.opcode")),
                 "resource": show(e, "memcache.key"), "opaque": int(show(e, "memcache.opaque"))}
            if show(e, "memcache.magic") == "128":
                queue.append((pdu, f))
                continue
            st = fields(e, "memcache.status")
            resp = {"status": int(st[0].get("show")) if st else None,
                    "status_name": label(st[0]) if st else None}
            resp["error"] = bool(resp["status"])
            if queue and queue[0][1]["opaque"] == f["opaque"]:
                req, rf = queue.popleft()
                records.append(record(ctx, req, pdu, "opaque", **rf, **resp))
            else:
                records.append(record(ctx, None, pdu, None, **f, **resp))
        for req, rf in queue:
            records.append(record(ctx, req, None, None, **rf, status=None, status_name=None,
                                  error=False))
    # Text messages from the TCP payload bytes.
    streams = collections.OrderedDict()
    tshark_at = {}
    for p in ctx.packets:
        if p.transport != "tcp" or not p.payload:
            continue
        if any(show(pdu.elem, "memcache.magic") is not None for _, pdu in p.pdus):
            continue
        stream, _, _, d = ctx.endpoints(p)
        st = streams.setdefault(stream, {"c2s": ByteStream(), "s2c": ByteStream(), "pkt": {}})
        st[d].add(p.number, p.payload)
        st["pkt"][p.number] = p
        for _, pdu in p.pdus:
            tshark_at[p.number] = {"tshark_command": show(pdu.elem, "memcache.command"),
                                   "tshark_key": show(pdu.elem, "memcache.key"),
                                   "tshark_response": show(pdu.elem, "memcache.response")}
    for stream, st in streams.items():
        reqs = mc_text_messages(st["c2s"], True)
        resps = collections.deque(mc_text_messages(st["s2c"], False))

        def mkpdu(first, last):
            pdu = Pdu(st["pkt"][last], None, first)
            return pdu

        for first, last, line, _, _ in reqs:
            tokens = line.split()
            cmd = tokens[0] if tokens else ""
            noreply = cmd == "quit" or (tokens[-1] == "noreply" if tokens else False)
            f = {"protocol": "text", "method": cmd, "resource": line,
                 "keys": tokens[1:] if cmd in ("get", "gets", "gat", "gats") else tokens[1:2],
                 "no_response_expected": noreply,
                 **{k: v for k, v in tshark_at.pop(first, {}).items() if k != "tshark_response"}}
            f.setdefault("tshark_command", None)
            f.setdefault("tshark_key", None)
            if noreply or not resps:
                records.append(record(ctx, mkpdu(first, last), None, None, **f, status=None,
                                      error=False, values=[], tshark_response=None))
                continue
            rfirst, rlast, rline, values, final = resps.popleft()
            status = rline if not values else "END"
            records.append(record(ctx, mkpdu(first, last), mkpdu(rfirst, rlast), "order", **f,
                                  status=status, error=mc_error(status), values=values,
                                  tshark_response=tshark_at.pop(rfirst, {}).get(
                                      "tshark_response")))
        for rfirst, rlast, rline, values, _ in resps:
            records.append(record(ctx, None, mkpdu(rfirst, rlast), None, protocol="text",
                                  method=None, resource=None, status=rline,
                                  error=mc_error(rline), values=values))
    return records


# ---------------------------------------------------------------- TLS


def tls_handshakes(elem):
    """(type number, handshake element) of every handshake message in a tls item."""
    out = []
    for f in elem.iter("field"):
        if f.get("name") == "tls.handshake":
            t = [c for c in f.findall("field") if c.get("name") == "tls.handshake.type"]
            if t:
                out.append((int(t[0].get("show")), f))
    return out


def version_name(f):
    return label(f) if f is not None else None


def facts_tls(ctx):
    """TLS handshake: request = the client's ClientHello, response = the server's first
    ServerHello or Alert after it, paired by order within the connection. method = handshake
    type name, resource = SNI. The server's ALPN choice is visible only in TLS 1.2 (TLS 1.3
    sends it in the encrypted EncryptedExtensions); the certificate validity likewise."""
    records = []
    for _, pdus in by_stream(ctx, pdus_of(ctx, "tls")).items():
        cur = None
        for pdu in pdus:
            e, d = pdu.elem, direction(ctx, pdu)
            hs = tls_handshakes(e)
            if d == "c2s":
                for t, h in hs:
                    if t != 1:
                        continue
                    if cur is not None:
                        records.append(record(ctx, cur[0], None, None, **cur[1]))
                    sv = fields(h, "tls.handshake.extensions.supported_version")
                    cur = (pdu, {
                        "method": label(fields(h, "tls.handshake.type")[0]),
                        "resource": show(h, "tls.handshake.extensions_server_name"),
                        "sni": show(h, "tls.handshake.extensions_server_name"),
                        "alpn_offered": shows(h, "tls.handshake.extensions_alpn_str"),
                        "client_version": version_name(fields(h, "tls.handshake.version")[0]),
                        "client_supported_versions": [label(x) for x in sv],
                        "client_cipher_suites": len(fields(h, "tls.handshake.ciphersuite")),
                        "record_version": version_name(
                            (fields(e, "tls.record.version") or [None])[0])})
                continue
            if cur is None:
                continue
            alert = fields(e, "tls.alert_message.desc")
            server_hello = next((h for t, h in hs if t == 2), None)
            if server_hello is None and not alert:
                continue
            f = dict(cur[1])
            if server_hello is not None:
                sv = fields(server_hello, "tls.handshake.extensions.supported_version")
                cs = fields(server_hello, "tls.handshake.ciphersuite")
                nb = [show(x, "x509af.utcTime") for x in fields(e, "x509af.notBefore")]
                na = [show(x, "x509af.utcTime") for x in fields(e, "x509af.notAfter")]
                f.update(response_type=label(fields(server_hello, "tls.handshake.type")[0]),
                         version=label(sv[0]) if sv else version_name(
                             fields(server_hello, "tls.handshake.version")[0]),
                         cipher_suite=label(cs[0]) if cs else None,
                         cipher_suite_id=cs[0].get("show") if cs else None,
                         alpn_selected=show(server_hello, "tls.handshake.extensions_alpn_str"),
                         server_handshake_messages=[label(fields(h, "tls.handshake.type")[0])
                                                    for _, h in hs],
                         certificate_not_before=nb[0] if nb else None,
                         certificate_not_after=na[0] if na else None,
                         status=None, alert=None, error=False)
            else:
                f.update(response_type="Alert", version=None, cipher_suite=None,
                         cipher_suite_id=None, alpn_selected=None, server_handshake_messages=[],
                         certificate_not_before=None, certificate_not_after=None,
                         status=int(alert[0].get("show")), alert=label(alert[0]), error=True)
            records.append(record(ctx, cur[0], pdu, "order", **f))
            cur = None
        if cur is not None:
            records.append(record(ctx, cur[0], None, None, **cur[1]))
    return records


# ---------------------------------------------------------------- checks

# Cross-check: the frames that a display filter selects (client-to-server PDUs of the
# protocol) must be exactly the frames the requests were found in.
REQUEST_FILTERS = {
    "http": "http.request",
    "dns": "dns.flags.response == 0",
    "mysql": "mysql.command || mysql.user",
    "kafka": "kafka && tcp.dstport == {port}",
}

# What each recording is meant to contain (scripts/record-l7-testdata's intent): exact or
# minimum counts and (method, status) pairs that must be present (status None: no response
# or a response without a status). A re-recording that
# misses one fails instead of silently producing weaker test data.
EXPECT = {
    "http1_basic": {"pairs": 9, "errors": 3, "has": [("GET", "404"), ("GET", "500"),
                                                      ("GET", "502"), ("HEAD", "200"),
                                                      ("POST", "200")]},
    "http1_pipeline": {"pairs": 3, "errors": 1, "has": [("GET", "404")]},
    "http1_chunked_continue": {"pairs": 4, "has": [("GET", "200"), ("POST", "201")],
                               "interim": 1},
    "http1_upgrade": {"pairs": 1, "has": [("GET", "101")]},
    "http1_trace_headers": {"pairs": 7, "errors": 0},
    "http2_h2c": {"pairs": 8, "errors": 3, "has": [("GET", "404"), ("GET", "500"),
                                                    ("GET", "502"), ("POST", "201")]},
    "http2_upgrade": {"pairs": 2, "errors": 1, "has": [("GET", "200"), ("GET", "404")]},
    "grpc": {"pairs": 4, "errors": 1, "has": [("POST", "200")]},
    "dns_udp": {"pairs": 11, "errors": 4, "has": [("A", 0), ("AAAA", 0), ("MX", 0),
                                                   ("TXT", 0), ("SRV", 0), ("A", 3), ("A", 5),
                                                   ("A", 2)]},
    "dns_tcp": {"pairs": 4, "errors": 1, "has": [("A", 3), ("SRV", 0)]},
    "mysql_client": {"pairs": 18, "errors": 3, "has": [("Login", None), ("Use Database", None),
                                                        ("Query", 1064), ("Query", 1146),
                                                        ("Quit", None)]},
    "mysql_stmt": {"pairs": 10, "errors": 1, "has": [("Prepare Statement", None),
                                                      ("Execute Statement", None),
                                                      ("Close Statement", None),
                                                      ("Prepare Statement", 1146)]},
    "pg_simple": {"pairs": 13, "errors": 3, "has": [("Simple query", "42P01"),
                                                     ("Startup message", None)]},
    "pg_extended": {"pairs": 18, "errors": 0, "has": [("Parse", None), ("Bind", None)]},
    "redis_resp2": {"pairs": 16, "errors": 2},
    "redis_pipeline": {"pairs": 42, "errors": 1},
    "redis_resp3": {"pairs": 14, "errors": 1, "has": [("HELLO", None)]},
    "kafka_mock": {"min_pairs": 25, "min_errors": 2,
                   "has": [("ApiVersions", 0), ("Metadata", 0), ("Produce", 6), ("Produce", 0),
                           ("FindCoordinator", 0), ("JoinGroup", 0), ("SyncGroup", 0),
                           ("Heartbeat", 0), ("Fetch", 0), ("OffsetCommit", 0),
                           ("LeaveGroup", 0)]},
    "mqtt311": {"pairs": 16, "errors": 1, "has": [("Connect Command", 5), ("Ping Request", None),
                                                   ("Subscribe Request", 2),
                                                   ("Publish Release", None)]},
    "mqtt5": {"pairs": 16, "errors": 1, "has": [("Connect Command", 135),
                                                 ("Ping Request", None),
                                                 ("Unsubscribe Request", 17)]},
    "memcached_text": {"pairs": 23, "errors": 4, "has": [("get", "END"), ("bogus_command", "ERROR"),
                                                          ("set", "CLIENT_ERROR bad data chunk")]},
    "memcached_binary": {"pairs": 10, "errors": 2, "has": [("Get", 1), ("Unknown", 129)]},
    "tls_curl_nginx": {"pairs": 3, "errors": 0},
    "tls_openssl": {"pairs": 4, "errors": 1, "has": [("Client Hello", 70)]},
}


def check(proto, pcap, facts, ports, decode):
    problems = []
    name = os.path.splitext(os.path.basename(pcap))[0]
    exp = EXPECT.get(name)
    if exp is None:
        problems.append(f"no expectations for {name} in EXPECT")
        exp = {}
    c = facts["counts"]
    if "pairs" in exp and c["pairs"] != exp["pairs"]:
        problems.append(f"{c['pairs']} pairs, expected {exp['pairs']}")
    if "errors" in exp and c["errors"] != exp["errors"]:
        problems.append(f"{c['errors']} errors, expected {exp['errors']}")
    if c["pairs"] < exp.get("min_pairs", 0) or c["errors"] < exp.get("min_errors", 0):
        problems.append(f"counts {c} below the minimum")
    have = {(r["method"], r.get("status")) for r in facts["records"] if r["request"]}
    for want in exp.get("has", []):
        if want not in have:
            problems.append(f"no {want[0]} request with status {want[1]!r}")
    if "interim" in exp:
        n = sum(len(r.get("interim_responses", [])) for r in facts["records"])
        if n != exp["interim"]:
            problems.append(f"{n} interim responses, expected {exp['interim']}")
    flt = REQUEST_FILTERS.get(proto)
    if flt:
        frames = set()
        for port in ports:
            args = [x for d in decode for x in ("-d", d)]
            out = run_tshark(pcap, args + ["-Y", flt.format(port=port), "-T", "fields", "-e",
                                           "frame.number"]).decode()
            frames |= {int(x) for x in out.split()}
            if "{port}" not in flt:
                break
        got = {r["request"]["frame"] for r in facts["records"] if r["request"]}
        if frames != got:
            problems.append(f"-Y '{flt}' selects frames {sorted(frames)}, requests are in "
                            f"{sorted(got)}")
    if problems:
        raise FactError(f"{pcap}: " + "; ".join(problems))


# ---------------------------------------------------------------- driver

EXTRACTORS = {
    "http": (["http"], facts_http),
    "http2": (["http2", "http"], facts_http2),
    "dns": (["dns"], facts_dns),
    "mysql": (["mysql"], facts_mysql),
    "postgresql": (["pgsql"], facts_postgresql),
    "redis": (["resp"], facts_redis),
    "kafka": (["kafka"], facts_kafka),
    "mqtt": (["mqtt"], facts_mqtt),
    "memcached": (["memcache"], facts_memcached),
    "tls": (["tls"], facts_tls),
}

FIELD_NOTES = {
    "http": "method=http.request.method resource=http.request.uri status=http.response.code "
            "version=http.request.version host=http.host headers=http.request.line/"
            "http.response.line tshark_time_us=http.time pairing check=http.request_in",
    "http2": "stream=http2.streamid frame type=http2.type headers=http2.header "
             "(http2.header.name/http2.header.value, HPACK-decoded by tshark): :method, :path, "
             ":authority, :status, content-type, grpc-status, grpc-message; h2c upgrade "
             "request=http.request.method/http.request.uri/http.request.line",
    "dns": "method=dns.qry.type (value name, first word) resource=dns.qry.name "
           "status=dns.flags.rcode (number; rcode_name = its value name) opcode=dns.flags.opcode "
           "answers=the Answers tree items as tshark prints them; pairing=dns.response_to "
           "tshark_time_us=dns.time",
    "mysql": "method=mysql.command (value name; command = its number) resource=mysql.query "
             "(COM_QUERY/COM_STMT_PREPARE) or mysql.schema (COM_INIT_DB) or mysql.user (login) "
             "statement_id=mysql.stmt_id params=mysql.exec.field.* status=mysql.error_code "
             "error_message=mysql.error.message affected_rows=mysql.affected_rows "
             "num_fields=mysql.num_fields response_kind=text of tshark's MySQL item "
             "greeting=mysql.protocol/mysql.version",
    "postgresql": "method/messages=pgsql.type resource=pgsql.query (Query, Parse) "
                  "statement=pgsql.statement params=pgsql.val.data (Bind; bytes as UTF-8) "
                  "status=pgsql.code (SQLSTATE of the first ErrorResponse) "
                  "error_severity=pgsql.severity error_message=pgsql.message "
                  "command_tags=pgsql.tag; startup resource from pgsql.parameter_name/value",
    "redis": "command = top-level resp.array of the client, its resp.bulk_string.value items "
             "(method = first, upper-cased; resource = the whole command line; key = second) "
             "reply = top-level resp.string/resp.error/resp.integer/resp.bulk_string/resp.array "
             "of the server; status = the resp.error text",
    "kafka": "method=kafka.api_key (value name) api_version=kafka.api_version "
             "correlation_id=kafka.correlation_id client_id=kafka.client_id "
             "group_id=kafka.consumer_group resource/topics=kafka.topic_name "
             "record_headers=kafka.header_key/kafka.header_value status/error_codes=kafka.error "
             "pairing=kafka.request_frame (+ correlation id); server port = destination of the "
             "SYNs (decoded with -d tcp.port==P,kafka)",
    "mqtt": "method=mqtt.msgtype (value name; packet_type = number) resource=mqtt.topic "
            "(PUBLISH topic, SUBSCRIBE/UNSUBSCRIBE filters) packet_id=mqtt.msgid qos=mqtt.qos "
            "version=mqtt.ver of the connection's CONNECT client_id=mqtt.clientid "
            "user_properties=mqtt.prop_key/mqtt.prop_value status=mqtt.conack.val (3.1.1) or "
            "mqtt.connack.reason_code/suback.qos/suback.reason_code/unsuback.reason_code/"
            "puback.reason_code/pubrec.reason_code/pubcomp.reason_code",
    "memcached": "binary: method=memcache.opcode (value name) resource=memcache.key "
                 "opaque=memcache.opaque status=memcache.status (number; status_name its name); "
                 "text: command/reply lines split from tcp.payload bytes (see the extractor), "
                 "tshark_command/tshark_key/tshark_response = memcache.command/memcache.key/"
                 "memcache.response of the frame the message starts in, where tshark decoded it",
    "tls": "method=tls.handshake.type (value name) resource/sni=tls.handshake.extensions_server_name "
           "alpn_offered/alpn_selected=tls.handshake.extensions_alpn_str "
           "client_version/version=tls.handshake.version, or tls.handshake.extensions."
           "supported_version of the ServerHello when present (TLS 1.3) "
           "client_supported_versions=tls.handshake.extensions.supported_version "
           "cipher_suite=tls.handshake.ciphersuite of the ServerHello "
           "certificate_not_before/after=x509af.notBefore/notAfter utcTime "
           "status/alert=tls.alert_message.desc",
}


def server_ports_of(proto, packets):
    spec = PROTOCOLS[proto]["decode"]
    if spec is None:
        return {p.dport for p in packets if p.transport == "tcp" and p.syn and not p.ack}
    return {int(d.split(",")[0].split("==")[1]) for d in spec}


def derive(proto, pcap):
    names, fn = EXTRACTORS[proto]
    # First pass without L7 decoding only when the ports are learned from the pcap.
    if PROTOCOLS[proto]["decode"] is None:
        pre = parse_pdml(pcap, [], [])
        ports = server_ports_of(proto, pre)
        decode = [f"tcp.port=={p},{proto}" for p in sorted(ports)]
    else:
        decode = PROTOCOLS[proto]["decode"]
        ports = server_ports_of(proto, [])
    packets = parse_pdml(pcap, decode, set(names))
    ctx = Ctx(packets, ports)
    records = fn(ctx)
    records.sort(key=lambda r: (r["request"] or r["response"])["first_frame"])
    counts = {
        "frames": len(packets),
        "streams": len({(p.transport, p.stream) for p in packets if p.stream is not None}),
        "requests": sum(1 for r in records if r["request"] is not None),
        "responses": sum(1 for r in records if r["response"] is not None),
        "pairs": sum(1 for r in records if r["request"] and r["response"]),
        "unanswered_requests": sum(1 for r in records if r["request"] and not r["response"]
                                   and not r.get("no_response_expected")),
        "no_response_expected": sum(1 for r in records if r.get("no_response_expected")),
        "responses_without_request": sum(1 for r in records if r["response"] and
                                         not r["request"]),
        "errors": sum(1 for r in records if r.get("error")),
    }
    facts = {
        "generated_by": "scripts/l7testdata/tshark_l7_facts.py",
        "tshark": tshark_version(),
        "tshark_args": TSHARK_OPTS + [x for d in decode for x in ("-d", d)],
        "pcap": os.path.basename(pcap),
        "protocol": proto,
        "fields": FIELD_NOTES.get(proto, ""),
        "times": "latency_us = response.first_time - request.first_time (first byte of each "
                 "message); latency_reported_us = response.time - request.time (frames tshark "
                 "dissects the messages in); tshark_time_us = tshark's own field, if any",
        "counts": counts,
        "records": records,
    }
    check(proto, pcap, facts, ports, decode)
    return facts


def doc_block(pcap):
    name = os.path.splitext(os.path.basename(pcap))[0]
    with open(re.sub(r"\.pcap$", "", pcap) + ".json") as f:
        facts = json.load(f)
    c = facts["counts"]
    kinds = collections.Counter()
    for r in facts["records"]:
        status = r.get("status")
        if r["request"] is not None and r["response"] is None:
            status = "no response" if r.get("no_response_expected") else "unanswered"
        kinds[(r.get("method"), status)] += 1
    lines = [
        f"<!-- l7facts:{name} begin (generated by scripts/l7testdata/tshark_l7_facts.py) -->",
        f"`{name}.pcap`: {os.path.getsize(pcap)} bytes, {c['frames']} frames, {c['streams']} "
        f"connection{'s' if c['streams'] != 1 else ''}; {c['requests']} requests, "
        f"{c['responses']} responses, {c['pairs']} pairs, {c['errors']} errors"
        + (f", {c['no_response_expected']} without a response by design"
           if c.get("no_response_expected") else "")
        + (f", {c['unanswered_requests']} unanswered" if c["unanswered_requests"] else "") + ".",
        "",
        "| method | status | count |",
        "|---|---|---|",
    ]
    for (method, status), n in kinds.items():
        st = "–" if status is None else str(status).replace("|", "\\|")
        if len(st) > 60:
            st = st[:57] + "..."
        lines.append(f"| {method} | {st} | {n} |")
    lines.append(f"<!-- l7facts:{name} end -->")
    return name, "\n".join(lines)


def update_doc(doc, pcaps):
    with open(doc) as f:
        text = f.read()
    for pcap in pcaps:
        name, block = doc_block(pcap)
        pattern = re.compile(rf"<!-- l7facts:{re.escape(name)} begin.*?<!-- l7facts:"
                             rf"{re.escape(name)} end -->", re.S)
        if not pattern.search(text):
            raise FactError(f"{doc} has no l7facts block for {name}")
        text = pattern.sub(lambda _: block, text)
    text = re.sub(r"<!-- tshark-version -->.*?<!-- /tshark-version -->",
                  f"<!-- tshark-version -->{tshark_version()}<!-- /tshark-version -->", text)
    with open(doc, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--protocol", choices=sorted(PROTOCOLS))
    p.add_argument("--print", action="store_true")
    p.add_argument("--doc")
    p.add_argument("pcaps", nargs="+")
    args = p.parse_args()
    if args.doc:
        try:
            update_doc(args.doc, args.pcaps)
        except FactError as e:
            print(f"tshark_l7_facts: {e}", file=sys.stderr)
            sys.exit(1)
        return
    if not args.protocol:
        p.error("--protocol is required")
    try:
        for pcap in args.pcaps:
            facts = derive(args.protocol, pcap)
            out = json.dumps(facts, indent=1, ensure_ascii=False) + "\n"
            if args.print:
                sys.stdout.write(out)
                continue
            dst = re.sub(r"\.pcap$", "", pcap) + ".json"
            with open(dst, "w") as f:
                f.write(out)
            c = facts["counts"]
            print(f"tshark_l7_facts: {os.path.basename(pcap)}: {c['requests']} requests, "
                  f"{c['responses']} responses, {c['pairs']} pairs, {c['errors']} errors -> "
                  f"{os.path.basename(dst)}")
    except FactError as e:
        print(f"tshark_l7_facts: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
