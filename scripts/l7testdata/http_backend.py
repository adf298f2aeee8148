#!/usr/bin/python3
"""Tiny HTTP/1.1 origin server for the L7 HTTP recordings (behind nginx or talked to directly).

  http_backend.py --port P [--ready FILE]

  GET  /chunked   200, Transfer-Encoding: chunked, three chunks (the chunk boundaries are sent
                  as separate writes, 20 ms apart)
  POST /upload    reads the Content-Length body, 201 with a short text body
  GET  /ws        WebSocket handshake (RFC 6455): 101 Switching Protocols, then echoes each
                  text frame it receives until a close frame, answered with a close frame
  anything else   404
Connections are kept alive (HTTP/1.1) until the client closes. Serves until killed.
"""

import argparse
import base64
import hashlib
import socketserver
import struct
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.buf = b""

    def read_until(self, marker):
        while marker not in self.buf:
            data = self.request.recv(65536)
            if not data:
                return None
            self.buf += data
        head, _, self.buf = self.buf.partition(marker)
        return head

    def read_exact(self, n):
        while len(self.buf) < n:
            data = self.request.recv(65536)
            if not data:
                return None
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handle(self):
        while True:
            head = self.read_until(b"\r\n\r\n")
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            body = b""
            if "content-length" in headers:
                body = self.read_exact(int(headers["content-length"]))
            if path == "/chunked" and method == "GET":
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n")
                for chunk in (b"first chunk\n", b"second, longer chunk of text\n", b"third\n"):
                    time.sleep(0.02)
                    self.request.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                time.sleep(0.02)
                self.request.sendall(b"0\r\n\r\n")
            elif path == "/upload" and method == "POST":
                text = b"stored %d bytes\n" % len(body)
                self.request.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n"
                                     b"Content-Length: %d\r\n\r\n%s" % (len(text), text))
            elif path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                accept = base64.b64encode(hashlib.sha1(
                    (headers["sec-websocket-key"] + WS_GUID).encode()).digest())
                self.request.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                                     b"\r\n\r\n")
                self.websocket()
                return
            else:
                self.request.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    def websocket(self):
        while True:
            hdr = self.read_exact(2)
            if hdr is None:
                return
            opcode, n = hdr[0] & 0x0F, hdr[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.read_exact(2))[0]
            mask = self.read_exact(4) if hdr[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.read_exact(n)))
            if opcode == 8:  # close: answer with a close frame
                self.request.sendall(b"\x88" + bytes([len(payload)]) + payload)
                return
            self.request.sendall(bytes([0x80 | opcode, len(payload)]) + payload)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ready")
    args = p.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    if args.ready:
        open(args.ready, "w").close()
    srv.serve_forever()


if __name__ == "__main__":
    main()
