#!/usr/bin/env python3
"""`flowscope pcap` on hostile input: empty, non-pcap, truncated and garbage-filled capture files.

Each case must end with a clear message and a defined exit status, never a crash (a signal), and
garbage packets must be counted as decode errors in the summary. Needs only the flowscope binary
(FLOWSCOPE_BIN) and FS_SOURCE_DIR; no root, no network.
"""
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

BIN = os.environ["FLOWSCOPE_BIN"]
SRC = os.environ["FS_SOURCE_DIR"]
results = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name} {detail}")


def run(path, *args):
    p = subprocess.run([BIN, "pcap", path, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def pcap_header(linktype=1, snaplen=65535):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def record(data, ts=1_700_000_000, orig_len=None):
    return struct.pack("<IIII", ts, 0, len(data), orig_len or len(data)) + data


def summary_value(stderr, pattern):
    m = re.search(pattern, stderr)
    return int(m.group(1)) if m else None


with tempfile.TemporaryDirectory() as d:
    # Missing file.
    rc, out, err = run(os.path.join(d, "nope.pcap"))
    check("missing file: exit 1 and message", rc == 1 and "no such file" in err, err)

    # Empty file.
    empty = os.path.join(d, "empty.pcap")
    open(empty, "wb").close()
    rc, out, err = run(empty)
    check("empty file: exit 1 and message", rc == 1 and "empty" in err, err)

    # Not a capture file.
    text = os.path.join(d, "text.pcap")
    with open(text, "w") as f:
        f.write("this is not a capture file\n" * 10)
    rc, out, err = run(text)
    check("text file: exit 1 and message", rc == 1 and "not a readable pcap" in err, err)

    # A directory.
    rc, out, err = run(d)
    check("directory: exit 1", rc == 1 and "directory" in err, err)

    # Truncated in the middle of a record: the packets before are reported, then an error.
    with open(os.path.join(SRC, "testdata", "tcp_graceful.pcap"), "rb") as f:
        good = f.read()
    trunc = os.path.join(d, "trunc.pcap")
    with open(trunc, "wb") as f:
        f.write(good[: len(good) - 30])
    rc, out, err = run(trunc)
    packets = summary_value(err, r"packets\s+(\d+)")
    check("truncated file: exit 1 with data-loss message", rc == 1 and "after" in err, err)
    check("truncated file: earlier packets still analysed",
          packets is not None and packets > 0 and len(out.splitlines()) >= 1, err)

    # Garbage frames: random bytes on every link type we decode, plus a few well-formed ones.
    rnd = random.Random(1234)
    for linktype in (1, 101, 113, 276, 0):
        garbage = os.path.join(d, f"garbage_{linktype}.pcap")
        with open(garbage, "wb") as f:
            f.write(pcap_header(linktype))
            for i in range(3000):
                n = rnd.choice([0, 1, 13, 14, 20, 34, 54, 60, 100, 1500])
                data = bytes(rnd.getrandbits(8) for _ in range(n))
                f.write(record(data, ts=1_700_000_000 + i // 100))
        rc, out, err = run(garbage, "--output", "network", "--interval", "1s")
        errors = summary_value(err, r"decode errors (\d+)")
        check(f"garbage linktype {linktype}: no crash, exit 0", rc == 0, f"rc={rc} {err[-400:]}")
        check(f"garbage linktype {linktype}: decode errors counted",
              errors is not None and errors > 0, err[-400:])

    # Unsupported link type is counted, not fatal.
    odd = os.path.join(d, "odd_link.pcap")
    with open(odd, "wb") as f:
        f.write(pcap_header(linktype=147))  # DLT_USER0
        f.write(record(b"\x00" * 60))
    rc, out, err = run(odd)
    check("unsupported link type: exit 0 and counted",
          rc == 0 and "unsupported link 1" in err, err)

    # Record claiming a huge captured length: libpcap refuses it; we report, not crash.
    huge = os.path.join(d, "huge.pcap")
    with open(huge, "wb") as f:
        f.write(pcap_header())
        f.write(struct.pack("<IIII", 1, 0, 0x7FFFFFF0, 0x7FFFFFF0) + b"\x00" * 64)
    rc, out, err = run(huge)
    check("absurd record length: exit 1 with message", rc == 1 and "flowscope" in err, err)

    # Bad options get exit 2 and name the value.
    rc, out, err = run(empty, "--output", "bogus")
    check("bad --output: usage error", rc != 0 and "bogus" in (err + out), err)

print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
