#!/usr/bin/env python3
"""Stand-in for `mongosh --eval "db.adminCommand('ping').ok"` (the chart's readiness probe):
sends one OP_MSG ping to the local server and prints 1 when it answers ok."""

import socket
import struct
import sys


def bson_ping() -> bytes:
    # {"ping": 1, "$db": "admin"}
    body = (
        b"\x10ping\x00"
        + struct.pack("<i", 1)
        + b"\x02$db\x00"
        + struct.pack("<i", 6)
        + b"admin\x00"
    )
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def main() -> int:
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 27017
    doc = bson_ping()
    msg = struct.pack("<I", 0) + b"\x00" + doc
    header = struct.pack("<iiii", 16 + len(msg), 1, 0, 2013)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(header + msg)
        size = struct.unpack("<i", s.recv(4, socket.MSG_WAITALL))[0]
        reply = s.recv(size - 4, socket.MSG_WAITALL)
    ok = b"\x01ok\x00" in reply and reply.split(b"\x01ok\x00", 1)[1][:8] == struct.pack("<d", 1.0)
    print(1 if ok else 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
