#!/usr/bin/python3
"""Raw-socket HTTP/1.1 clients for what curl cannot do.

  http_clients.py pipeline --port P PATH...
      One connection; all requests written with a single send() before any response is read
      (HTTP/1.1 pipelining), then reads until every response has arrived and closes.
  http_clients.py websocket --port P
      One connection: GET /ws with Connection: Upgrade / Upgrade: websocket, reads the 101,
      sends two masked text frames and a close frame, reads the echoes and the close.
"""

import argparse
import base64
import os
import re
import socket
import sys


def read_responses(sock, count):
    """Reads COUNT Content-Length-delimited responses; returns their status lines."""
    buf, statuses = b"", []
    while len(statuses) < count:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                sys.exit(f"connection closed after {len(statuses)} responses")
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(buf) < n:
            buf += sock.recv(65536)
        buf = buf[n:]
        statuses.append(head.split(b"\r\n", 1)[0].decode())
    return statuses


def pipeline(args):
    reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: fs-pipeline/1\r\n"
                    b"Accept: */*\r\n\r\n" % (p.encode(), args.port) for p in args.paths)
    with socket.create_connection(("127.0.0.1", args.port)) as s:
        s.sendall(reqs)
        for line in read_responses(s, len(args.paths)):
            print(line)


def recv_frame(sock):
    hdr = b""
    while len(hdr) < 2:
        hdr += sock.recv(2 - len(hdr))
    n = hdr[1] & 0x7F
    payload = b""
    while len(payload) < n:
        payload += sock.recv(n - len(payload))
    return hdr[0] & 0x0F, payload


def send_frame(sock, opcode, payload):
    mask = os.urandom(4)
    sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask +
                 bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def websocket(args):
    key = base64.b64encode(os.urandom(16))
    with socket.create_connection(("127.0.0.1", args.port)) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: fs-websocket/1\r\n"
                  b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: %s\r\n\r\n" % (args.port, key))
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        print(buf.split(b"\r\n", 1)[0].decode())
        for text in (b"hello flowscope", b"second message"):
            send_frame(s, 1, text)
            print(recv_frame(s))
        send_frame(s, 8, b"\x03\xe8")
        print(recv_frame(s))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("pipeline")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("paths", nargs="+")
    a = sub.add_parser("websocket")
    a.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    {"pipeline": pipeline, "websocket": websocket}[args.mode](args)


if __name__ == "__main__":
    main()
