#!/usr/bin/python3
"""Memcached clients for the L7 recordings (the memcached CLI tools cannot send arbitrary or
malformed commands).

  memcached_client.py text --port P
      One connection, text protocol; each command waits for its reply (except "noreply"
      ones), then a pipelined batch (get, get, version in one write), a CLIENT_ERROR, a bad
      data chunk (CLIENT_ERROR, then ERROR for the leftover bytes) and quit.
  memcached_client.py binary --port P
      One connection, binary protocol (magic 0x80): SET, GET hit, GET miss, INCREMENT,
      DELETE, an unknown opcode, NOOP, VERSION, QUIT; opaque = sequence number.
"""

import argparse
import socket
import struct
import sys


class Text:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                sys.exit("memcached closed the connection")
            self.buf += data
        out, _, self.buf = self.buf.partition(b"\r\n")
        return out

    def reply(self):
        """Reads one reply (a retrieval reply runs up to END)."""
        lines = [self.line()]
        while lines[0].startswith(b"VALUE") and lines[-1] != b"END":
            lines.append(self.line())
        return lines

    def cmd(self, data, expect=True):
        self.s.sendall(data)
        if expect:
            print(data.split(b"\r\n")[0].decode(), "->", self.reply()[-1].decode())


def text(port):
    c = Text(port)
    c.cmd(b"set fs:greeting 0 0 15\r\nhello flowscope\r\n")
    c.cmd(b"get fs:greeting\r\n")
    c.cmd(b"get fs:missing\r\n")
    c.cmd(b"add fs:greeting 0 0 3\r\nnew\r\n")            # NOT_STORED
    c.cmd(b"gets fs:greeting\r\n")
    c.cmd(b"append fs:greeting 0 0 1\r\n!\r\n")
    c.cmd(b"incr fs:counter 1\r\n")                      # NOT_FOUND
    c.cmd(b"set fs:counter 5 300 1\r\n5\r\n")
    c.cmd(b"incr fs:counter 37\r\n")
    c.cmd(b"decr fs:counter 2\r\n")
    c.cmd(b"touch fs:counter 600\r\n")
    c.cmd(b"set fs:quiet 0 0 2 noreply\r\nqq\r\n", expect=False)
    c.cmd(b"get fs:greeting fs:counter fs:missing fs:quiet\r\n")
    c.cmd(b"delete fs:greeting\r\n")
    c.cmd(b"delete fs:greeting\r\n")                     # NOT_FOUND
    c.cmd(b"set fs:greeting 0 0 5\r\nhello\r\n")
    c.cmd(b"bogus_command arg\r\n")                      # ERROR
    # Three requests in one write (pipelined), three replies.
    c.s.sendall(b"get fs:counter\r\nget fs:missing\r\nversion\r\n")
    for _ in range(3):
        print("pipelined ->", c.reply()[-1].decode())
    c.cmd(b"incr fs:greeting 1\r\n")   # CLIENT_ERROR cannot increment non-numeric value
    c.cmd(b"version\r\n")
    # Last: a data block longer than announced. memcached answers CLIENT_ERROR bad data chunk
    # after the announced 3 bytes + 2, then parses the leftover "f" line as a command: ERROR.
    c.s.sendall(b"set fs:bad 0 0 3\r\nabcdef\r\n")
    print("bad chunk ->", c.reply()[-1].decode())
    print("leftover ->", c.reply()[-1].decode())
    c.s.sendall(b"quit\r\n")
    c.s.recv(10)
    c.s.close()


OPS = {"get": 0x00, "set": 0x01, "delete": 0x04, "increment": 0x05, "quit": 0x07,
       "noop": 0x0a, "version": 0x0b}


def binary(port):
    s = socket.create_connection(("127.0.0.1", port))
    opaque = 0

    def req(opcode, key=b"", extras=b"", value=b"", expect=True):
        nonlocal opaque
        opaque += 1
        body = extras + key + value
        s.sendall(struct.pack("!BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0,
                              len(body), opaque, 0) + body)
        if not expect:
            return
        hdr = b""
        while len(hdr) < 24:
            hdr += s.recv(24 - len(hdr))
        magic, op, _, _, _, status, total, opq, _ = struct.unpack("!BBHBBHIIQ", hdr)
        body = b""
        while len(body) < total:
            body += s.recv(total - len(body))
        if magic != 0x81 or opq != opaque:
            sys.exit(f"bad binary reply magic={magic:#x} opaque={opq} want {opaque}")
        print(f"op {opcode:#04x} -> status {status:#06x}")

    req(OPS["set"], b"fs:bin", struct.pack("!II", 0, 0), b"binary value")
    req(OPS["get"], b"fs:bin")
    req(OPS["get"], b"fs:bin-missing")                              # key not found
    req(OPS["increment"], b"fs:bin-counter", struct.pack("!QQI", 5, 100, 0))
    req(OPS["increment"], b"fs:bin-counter", struct.pack("!QQI", 5, 100, 0))
    req(OPS["delete"], b"fs:bin")
    req(0x3f, b"")                                                  # unknown command
    req(OPS["noop"])
    req(OPS["version"])
    req(OPS["quit"])
    s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["text", "binary"])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    {"text": text, "binary": binary}[args.mode](args.port)


if __name__ == "__main__":
    main()
