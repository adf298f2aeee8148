#!/usr/bin/python3
"""UDP echo server and request/reply client for scripts/record-testdata.

server: echoes every datagram back to its sender ("reply to " + payload) and exits after
--count datagrams. It writes --ready FILE once bound.
client: from a fixed local port, sends --count requests one at a time and waits for each
reply; with --expect-unreachable it sends one datagram to a port with no listener and waits
for the ICMP port unreachable (seen as ECONNREFUSED on the connected socket).
"""

import argparse
import socket
import sys
import time


def log(*args):
    print("udp_peer:", *args, file=sys.stderr, flush=True)


def family_of(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def run_server(args):
    sock = socket.socket(family_of(args.bind), socket.SOCK_DGRAM)
    sock.bind((args.bind, args.port))
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    for _ in range(args.count):
        data, peer = sock.recvfrom(65535)
        sock.sendto(b"reply to " + data, peer)
    sock.close()


def run_client(args):
    sock = socket.socket(family_of(args.connect), socket.SOCK_DGRAM)
    sock.bind((args.bind or "0.0.0.0", args.local_port))
    sock.connect((args.connect, args.port))
    sock.settimeout(2.0)
    if args.expect_unreachable:
        sock.send(b"hello, is anybody there?")
        try:
            sock.recv(65535)
        except ConnectionRefusedError:
            log("client: port unreachable, as intended")
            return
        raise SystemExit("udp_peer: expected ECONNREFUSED")
    for i in range(args.count):
        req = f"request {i} from port {args.local_port} ".encode() + b"x" * (20 * i)
        sock.send(req)
        reply = sock.recv(65535)
        if reply != b"reply to " + req:
            raise SystemExit(f"udp_peer: bad reply {reply!r}")
        time.sleep(args.gap)
    sock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--ready")
    c = sub.add_parser("client")
    c.add_argument("--connect", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--bind", default="")
    c.add_argument("--local-port", type=int, required=True)
    c.add_argument("--count", type=int, default=3)
    c.add_argument("--gap", type=float, default=0.02)
    c.add_argument("--expect-unreachable", action="store_true")
    args = p.parse_args()
    if args.role == "server":
        run_server(args)
    else:
        run_client(args)


if __name__ == "__main__":
    main()
