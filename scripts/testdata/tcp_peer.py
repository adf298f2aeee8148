#!/usr/bin/python3
"""TCP client and server whose connection behaviour is chosen deliberately.

Used by scripts/record-testdata to produce the tcp_*.pcap files in testdata/. Each mode fixes
who sends what and, above all, how the connection ends (FIN from either side, RST from either
side, half-close, zero window, ...). Run the server first; it writes --ready FILE once it
listens, and exits after serving --conns connections.

The wire protocol is trivial: the client sends one line "<VERB> <n>\\n" padded to a fixed
request size and the server answers with n bytes, except for the upload modes where the client
sends n bytes after the line and the server answers "OK\\n".
"""

import argparse
import socket
import struct
import sys
import threading
import time

REQ_SIZE = 100  # bytes of every request line, padded with '.'
RESP_SIZE = 1000  # default response body size


def log(*args):
    print("tcp_peer:", *args, file=sys.stderr, flush=True)


def family_of(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def make_request(verb, n):
    line = f"{verb} {n} ".encode()
    return line + b"." * (REQ_SIZE - len(line) - 1) + b"\n"


def body(n, seed=0):
    pattern = bytes((i * 7 + seed) % 26 + 65 for i in range(256))
    return (pattern * (n // 256 + 1))[:n]


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        if not chunk:
            raise ConnectionError(f"eof after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock):
    total = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return total
        total += len(chunk)


def read_request(conn):
    line = recv_exact(conn, REQ_SIZE)
    verb, n = line.split(b" ")[:2]
    return verb.decode(), int(n)


def set_linger_zero(sock):
    # SO_LINGER on with timeout 0: close() discards the socket and sends RST.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---------------------------------------------------------------- server side


def serve_one(conn, mode, args):
    if mode in ("graceful", "download", "rst_client"):
        _, n = read_request(conn)
        conn.sendall(body(n))
        # Wait for the client's FIN (graceful) or RST (rst_client), then close.
        try:
            recv_until_eof(conn)
        except ConnectionResetError:
            log("server: connection reset by client, as intended")
        conn.close()
    elif mode in ("server_close_first", "port_reuse"):
        _, n = read_request(conn)
        conn.sendall(body(n))
        time.sleep(0.05)
        conn.close()  # our FIN goes first
    elif mode == "rst_server":
        _, n = read_request(conn)
        conn.sendall(body(n))
        time.sleep(0.2)  # let the response be ACKed so that only the RST remains
        set_linger_zero(conn)
        conn.close()
    elif mode == "half_close":
        # Request, then the client's FIN; afterwards we keep sending for a while.
        got = recv_until_eof(conn)
        log(f"server: half_close got {got} bytes then eof")
        for i in range(args.chunks):
            conn.sendall(body(args.chunk_size, seed=i))
            time.sleep(args.chunk_gap)
        conn.close()
    elif mode in ("upload", "zero_window"):
        _, n = read_request(conn)
        if mode == "zero_window":
            log(f"server: not reading for {args.stall} s")
            time.sleep(args.stall)
        recv_exact(conn, n)
        conn.sendall(b"OK\n")
        recv_until_eof(conn)
        conn.close()
    elif mode == "mixed":
        # Several request/response rounds; "CLOSE" asks the server to close first.
        while True:
            try:
                verb, n = read_request(conn)
            except ConnectionError:
                break
            conn.sendall(body(n))
            if verb == "CLOSE":
                time.sleep(0.02)
                break
        conn.close()
    else:
        raise SystemExit(f"tcp_peer: unknown server mode {mode}")


def run_server(args):
    lsock = socket.socket(family_of(args.bind), socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.rcvbuf:
        # Set on the listener so that the accepted socket inherits it and the window scale
        # in the SYN-ACK already reflects the small buffer.
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    lsock.bind((args.bind, args.port))
    lsock.listen(16)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    threads = []
    for _ in range(args.conns):
        conn, peer = lsock.accept()
        log(f"server: accepted {peer[0]}:{peer[1]} mode={args.mode}")
        if args.threaded:
            t = threading.Thread(target=serve_one, args=(conn, args.mode, args))
            t.start()
            threads.append(t)
        else:
            serve_one(conn, args.mode, args)
    for t in threads:
        t.join()
    lsock.close()


# ---------------------------------------------------------------- client side


def connect(args, reuse=False):
    sock = socket.socket(family_of(args.connect), socket.SOCK_STREAM)
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.local_port or args.bind:
        sock.bind((args.bind or ("::" if ":" in args.connect else "0.0.0.0"), args.local_port))
    sock.settimeout(args.timeout)
    sock.connect((args.connect, args.port))
    sock.settimeout(None)
    return sock


def run_client(args):
    mode = args.mode
    if mode == "refused":
        try:
            connect(args)
        except ConnectionRefusedError:
            log("client: connection refused, as intended")
            return
        raise SystemExit("tcp_peer: connect unexpectedly succeeded")
    if mode == "syn_unanswered":
        try:
            connect(args)
        except (socket.timeout, TimeoutError):
            log("client: connect timed out, as intended")
            return
        raise SystemExit("tcp_peer: connect unexpectedly finished")
    if mode == "port_reuse":
        for i in range(args.rounds):
            sock = connect(args, reuse=True)
            sock.sendall(make_request("GET", RESP_SIZE))
            got = recv_until_eof(sock)  # the server closes first
            sock.close()
            log(f"client: round {i} got {got} bytes, local port {args.local_port}")
            time.sleep(0.2)  # our LAST_ACK must be over before we bind the port again
        return

    if mode == "mixed":
        run_mixed_clients(args)
        return

    sock = connect(args)
    if mode in ("graceful", "download", "rst_client", "rst_server", "server_close_first"):
        n = args.size if mode == "download" else RESP_SIZE
        sock.sendall(make_request("GET", n))
        recv_exact(sock, n)
        if mode in ("graceful", "download"):
            time.sleep(0.05)
            sock.close()  # our FIN goes first
        elif mode == "rst_client":
            time.sleep(0.05)
            set_linger_zero(sock)
            sock.close()
        elif mode == "server_close_first":
            assert recv_until_eof(sock) == 0
            sock.close()
        elif mode == "rst_server":
            try:
                extra = sock.recv(1)
                log(f"client: expected a reset, got {extra!r}")
            except ConnectionResetError:
                log("client: connection reset by server, as intended")
            sock.close()
    elif mode == "half_close":
        sock.sendall(make_request("GET", 0))
        sock.shutdown(socket.SHUT_WR)
        got = recv_until_eof(sock)
        log(f"client: half_close received {got} bytes after our FIN")
        sock.close()
    elif mode in ("upload", "zero_window"):
        sock.sendall(make_request("PUT", args.size))
        sock.sendall(body(args.size))
        assert recv_exact(sock, 3) == b"OK\n"
        time.sleep(0.05)
        sock.close()
    else:
        raise SystemExit(f"tcp_peer: unknown client mode {mode}")


def mixed_client(args, index):
    # Client i uses local port local_port+i; rounds are staggered so that the connections'
    # packets interleave. Clients 0..2 close first, the others ask the server to close.
    time.sleep(0.03 * index)
    sock = socket.socket(family_of(args.connect), socket.SOCK_STREAM)
    sock.bind((args.bind or "0.0.0.0", args.local_port + index))
    sock.connect((args.connect, args.port))
    server_closes = index >= 3
    for r in range(args.rounds):
        last = r == args.rounds - 1
        n = 200 + 700 * index + 300 * r
        sock.sendall(make_request("CLOSE" if (last and server_closes) else "GET", n))
        recv_exact(sock, n)
        time.sleep(0.05 + 0.01 * index)
    if server_closes:
        assert recv_until_eof(sock) == 0
    sock.close()


def run_mixed_clients(args):
    threads = [threading.Thread(target=mixed_client, args=(args, i)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--mode", required=True)
    s.add_argument("--ready")
    s.add_argument("--conns", type=int, default=1)
    s.add_argument("--threaded", action="store_true")
    s.add_argument("--rcvbuf", type=int, default=0)
    s.add_argument("--stall", type=float, default=1.5)
    s.add_argument("--chunks", type=int, default=5)
    s.add_argument("--chunk-size", type=int, default=1000)
    s.add_argument("--chunk-gap", type=float, default=0.1)
    c = sub.add_parser("client")
    c.add_argument("--connect", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--mode", required=True)
    c.add_argument("--bind", default="")
    c.add_argument("--local-port", type=int, default=0)
    c.add_argument("--timeout", type=float, default=5.0)
    c.add_argument("--size", type=int, default=65536)
    c.add_argument("--rounds", type=int, default=2)
    c.add_argument("--clients", type=int, default=5)
    args = p.parse_args()
    if args.role == "server":
        run_server(args)
    else:
        run_client(args)


if __name__ == "__main__":
    main()
