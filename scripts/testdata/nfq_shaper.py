#!/usr/bin/python3
"""Deterministic packet loss, delay and reordering through NFQUEUE (raw netlink, no libraries).

This kernel has no sch_netem, so scripts/record-testdata emulates a lossy or reordering path
with an iptables NFQUEUE rule in the client's namespace and this program as the queue
consumer. In mangle POSTROUTING (client->server packets) a packet handed to NFQUEUE has already
left the TCP stack, so a DROP verdict is a real loss on the path before the capture point (the
sender must retransmit, the capture never sees the original) and a late ACCEPT is a real delay.
In mangle PREROUTING (server->client packets) a drop is a loss after the capture point: the
capture has both the original and the retransmission.

Policy, applied to IPv4 TCP packets in arrival order:
  --delay-ms D        every packet is held D ms, in order (a delay line, like netem delay)
  --swap-every M      every M-th new data segment is held back until the next new data
                      segment has gone out: two adjacent segments arrive swapped
  --drop-bytes LIST   comma-separated stream offsets (0 = first payload byte after the SYN);
                      the first transmission of the segment that carries each offset is
                      dropped, its retransmissions pass
It writes --ready FILE once bound to the queue and prints its counters on SIGTERM/SIGINT.
Protocol: linux/netfilter/nfnetlink_queue.h (NFQNL_MSG_CONFIG / _PACKET / _VERDICT).
"""

import argparse
import collections
import json
import os
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_PAYLOAD = 10
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NF_DROP = 0
NF_ACCEPT = 1


def nla(attr_type, data):
    length = 4 + len(data)
    return struct.pack("=HH", length, attr_type) + data + b"\0" * ((4 - length % 4) % 4)


class Queue:
    def __init__(self, num):
        self.num = num
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.bind((0, 0))

    def send(self, msg_type, attrs, flags=NLM_F_REQUEST):
        self.seq += 1
        payload = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack(">H", self.num) + attrs
        hdr = struct.pack("=IHHII", 16 + len(payload), (NFNL_SUBSYS_QUEUE << 8) | msg_type,
                          flags, self.seq, 0)
        self.sock.send(hdr + payload)

    def expect_ack(self):
        data = self.sock.recv(65536)
        _, mtype, _, _, _ = struct.unpack_from("=IHHII", data, 0)
        if mtype == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", data, 16)
            if err != 0:
                raise SystemExit(f"nfq_shaper: netlink config error {os.strerror(-err)}")

    def bind(self, copy_range):
        self.send(NFQNL_MSG_CONFIG,
                  nla(NFQA_CFG_CMD, struct.pack(">BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)),
                  NLM_F_REQUEST | NLM_F_ACK)
        self.expect_ack()
        self.send(NFQNL_MSG_CONFIG,
                  nla(NFQA_CFG_PARAMS, struct.pack(">IB", copy_range, NFQNL_COPY_PACKET)),
                  NLM_F_REQUEST | NLM_F_ACK)
        self.expect_ack()

    def verdict(self, packet_id, verdict):
        self.send(NFQNL_MSG_VERDICT, nla(NFQA_VERDICT_HDR, struct.pack(">II", verdict, packet_id)))

    def packets(self):
        """Yields (packet_id, payload bytes) for every packet in one recv."""
        data = self.sock.recv(1 << 20)
        off = 0
        while off + 16 <= len(data):
            length, mtype, _, _, _ = struct.unpack_from("=IHHII", data, off)
            if length < 16:
                break
            if mtype == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                packet_id, payload = None, b""
                aoff = off + 16 + 4
                while aoff + 4 <= off + length:
                    alen, atype = struct.unpack_from("=HH", data, aoff)
                    if alen < 4:
                        break
                    atype &= 0x3FFF
                    if atype == NFQA_PACKET_HDR:
                        (packet_id,) = struct.unpack_from(">I", data, aoff + 4)
                    elif atype == NFQA_PAYLOAD:
                        payload = data[aoff + 4:aoff + alen]
                    aoff += (alen + 3) & ~3
                if packet_id is not None:
                    yield packet_id, payload
            off += (length + 3) & ~3


def tcp_info(pkt):
    """Returns (seq, payload_len, flags) of an IPv4 TCP packet, or None."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != socket.IPPROTO_TCP:
        return None
    ihl = (pkt[0] & 0xF) * 4
    (total,) = struct.unpack_from(">H", pkt, 2)
    if len(pkt) < ihl + 20:
        return None
    (seq,) = struct.unpack_from(">I", pkt, ihl + 4)
    doff = (pkt[ihl + 12] >> 4) * 4
    return seq, total - ihl - doff, pkt[ihl + 13]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--queue", type=int, default=0)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--swap-every", type=int, default=0)
    p.add_argument("--drop-bytes", default="")
    p.add_argument("--ready")
    args = p.parse_args()
    drop = {int(x) for x in args.drop_bytes.split(",") if x}
    delay = args.delay_ms / 1000.0

    q = Queue(args.queue)
    q.bind(copy_range=128)
    stats = collections.Counter()
    held = collections.deque()  # (release_time, packet_id), in release order
    swap = None  # (deadline, packet_id) of a segment waiting for its successor
    isn = None
    highest_end = None  # end seq of the highest data segment seen (no wrap in small captures)
    new_segments = 0

    def stop(*_):
        if swap:
            held.append(swap)
        for _, pid in held:
            q.verdict(pid, NF_ACCEPT)
        print("nfq_shaper:", json.dumps(dict(stats), sort_keys=True), file=sys.stderr, flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")

    while True:
        timeout = None
        deadlines = ([held[0][0]] if held else []) + ([swap[0]] if swap else [])
        if deadlines:
            timeout = max(0.0, min(deadlines) - time.monotonic())
        readable, _, _ = select.select([q.sock], [], [], timeout)
        now = time.monotonic()
        if readable:
            for pid, pkt in q.packets():
                stats["packets"] += 1
                info = tcp_info(pkt)
                is_new_data = drop_it = False
                if info and info[2] & 0x02:  # SYN or SYN-ACK: the sender's initial sequence
                    isn = info[0]
                if info and info[1] > 0:
                    seq, plen, _ = info
                    end = (seq + plen) & 0xFFFFFFFF
                    if highest_end is None or ((end - highest_end) & 0xFFFFFFFF) < 0x80000000 \
                            and end != highest_end:
                        is_new_data = True
                        highest_end = end
                        new_segments += 1
                        if isn is not None:
                            start = (seq - isn - 1) & 0xFFFFFFFF
                            hit = {o for o in drop if start <= o < start + plen}
                            drop -= hit
                            drop_it = bool(hit)
                    else:
                        stats["retransmitted_passed"] += 1
                if drop_it:
                    q.verdict(pid, NF_DROP)
                    stats["dropped"] += 1
                elif is_new_data and swap is not None:
                    held.append((now + delay, pid))
                    held.append((now + delay, swap[1]))  # goes out right after its successor
                    swap = None
                    stats["swapped"] += 1
                elif is_new_data and args.swap_every and new_segments % args.swap_every == 0:
                    swap = (now + delay + 0.2, pid)  # released alone if no successor comes
                elif delay == 0.0:
                    q.verdict(pid, NF_ACCEPT)
                else:
                    held.append((now + delay, pid))
        if swap is not None and swap[0] <= now:
            held.append(swap)
            swap = None
            stats["swap_timeouts"] += 1
        while held and held[0][0] <= now:
            q.verdict(held.popleft()[1], NF_ACCEPT)
        stats["new_data_segments"] = new_segments


if __name__ == "__main__":
    main()
