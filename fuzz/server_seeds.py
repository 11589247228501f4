#!/usr/bin/env python3
"""Seed corpus of the `server` fuzz target (stdlib only): a valid exchange per server, a few
pipelined and split ones, and a few malformed ones.

    python3 fuzz/server_seeds.py        # rewrites fuzz/corpus/server/

Input layout (fuzz/fuzz_targets/server.rs): [server][k][k piece lengths][stream], server =
index into SERVERS + 9 * service (0 cmd, 1 upper, 2 echo). Output is deterministic.
"""

import hashlib
import json
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus", "server")
SERVERS = ["naive", "ready", "struct", "json", "framed", "framed-json", "upload", "u16be", "lines"]
SERVICES = ["cmd", "upper", "echo"]


def i32(n):
    return struct.pack("<i", n)


def framed(body):
    return i32(len(body)) + body


def framed_json(body, **extra):
    header = json.dumps(dict(file_size=len(body), **extra)).encode()
    return i32(len(header)) + header + body


def upload(name, body, md5=None, size=None):
    fields = {"file_name": name, "file_size": len(body) if size is None else size}
    if md5 is not False:
        fields["md5"] = md5 or hashlib.md5(body).hexdigest()
    header = json.dumps(fields).encode()
    return i32(len(header)) + header + body


def u16be(body):
    return struct.pack(">H", len(body)) + body


def seed(name, server, stream, pieces=(), service="cmd"):
    selector = SERVERS.index(server) + 9 * SERVICES.index(service)
    data = bytes([selector, len(pieces)]) + bytes(pieces) + stream
    with open(os.path.join(CORPUS, f"{server}-{name}"), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    os.makedirs(CORPUS)
    # One exchange per server (the faithful servers take one read as one command).
    seed("echo", "naive", b"echo hello")
    seed("seq", "naive", b"seq 3")
    seed("upper", "naive", b"hello", service="upper")
    seed("echo", "ready", b"echo helloready", [10])
    seed("seq-two", "ready", b"seq 3readyecho xready", [5, 5, 6, 5])
    seed("bad-token", "ready", b"echo hireadx", [7])
    seed("echo", "struct", b"echo hello")
    seed("lines", "struct", b"echo a\nseq 2\n")
    seed("echo", "json", b"echo hello")
    seed("echo-service", "json", b"hello", service="echo")
    seed("shell-syntax", "naive", b"echo $(id); ls | cat")
    # framed, struct header: pipelined, split at every byte of the first header, truncated,
    # negative and huge lengths.
    seed("echo", "framed", framed(b"echo hello"))
    seed("pipelined", "framed", framed(b"echo hello") + framed(b"seq 3"), [1, 1, 1, 1, 3])
    seed("upper", "framed", framed(b"hello"), service="upper")
    seed("truncated", "framed", framed(b"echo hello")[:7])
    seed("negative", "framed", i32(-1) + b"xx")
    seed("huge", "framed", i32(2**31 - 1) + b"echo")
    seed("zero", "framed", i32(0))
    # framed, JSON header.
    seed("echo", "framed-json", framed_json(b"echo hello"))
    seed("md5", "framed-json", framed_json(b"seq 3", md5=hashlib.md5(b"seq 3").hexdigest()),
         [3, 9])
    seed("pipelined", "framed-json", framed_json(b"echo a") + framed_json(b"echo b", name="x"))
    seed("not-json", "framed-json", i32(5) + b"{nope")
    disagree = b'{"file_size": 2, "data_size": 3}'
    seed("sizes-disagree", "framed-json", i32(len(disagree)) + disagree + b"hi")
    terabyte = b'{"file_size": 1099511627776}'
    seed("terabyte", "framed-json", i32(len(terabyte)) + terabyte + b"x")
    # upload: a good file, two in a row, a wrong md5, no md5, a path, a huge announce.
    seed("file", "upload", upload("a.txt", b"hello\n"))
    seed("two", "upload", upload("a.txt", b"x" * 100) + upload("b.txt", b""), [20, 7])
    seed("md5-mismatch", "upload", upload("a.txt", b"hello\n", md5="0" * 32))
    seed("md5-missing", "upload", upload("a.txt", b"hello\n", md5=False))
    seed("dotdot", "upload", upload("../x", b"hi"))
    seed("path", "upload", upload("/etc/passwd", b"hi"))
    seed("terabyte", "upload", upload("big.bin", b"abc", size=1 << 40))
    # Descriptions: length:u16be and lines.
    seed("echo", "u16be", u16be(b"echo hello"))
    seed("pipelined", "u16be", u16be(b"echo a") + u16be(b"seq 2"), [1, 2])
    seed("truncated", "u16be", u16be(b"echo hello")[:5])
    # (a reply holding the delimiter cannot be framed: `echo -n` for valid exchanges)
    seed("echo", "lines", b"echo -n hello\n")
    seed("pipelined", "lines", b"echo -n a\necho -n b\n", [3, 4])
    seed("reply-has-newline", "lines", b"echo hello\n")
    seed("no-newline", "lines", b"echo hello")
    seed("upper", "lines", b"hello\n", service="upper")


if __name__ == "__main__":
    main()
