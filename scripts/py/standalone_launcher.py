#!/usr/bin/env python3
"""`milvus-server` (the milvus==2.3.5 wheel) with its port probe fixed; run by scripts/standalone.sh
with the standalone venv's python, arguments as for milvus-server.

milvus/__init__.py picks every port by trying to bind 127.0.0.1:PORT, then PORT+1, ... without
SO_REUSEADDR, so TIME_WAIT leftovers of a killed server move /healthz off 9091 (and could move
gRPC off 19530). Here the probe uses SO_REUSEADDR and a taken port is an error, never a move.

Several of Milvus' fixed ports (53100, 21121-21124, 22930) lie in Linux's ephemeral range
(32768-60999): any outgoing connection on the machine may hold one as its local port for a
moment. A port that is taken is therefore asked again for up to PORT_WAIT seconds before it
counts as taken (a real listener never lets go; a passing client connection does).
"""
import sys

del sys.path[0]  # this folder: nothing in it may shadow the milvus package
import socket  # noqa: E402
import time  # noqa: E402
import milvus  # noqa: E402

PORT_WAIT = 30.0

def try_bind_port(self, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except OSError:
        sock.close()
        return None

def resolve_port(self, port_start):
    deadline = time.monotonic() + PORT_WAIT
    sock = try_bind_port(self, port_start)
    while sock is None and time.monotonic() < deadline:
        time.sleep(0.5)
        sock = try_bind_port(self, port_start)
    if sock is None:
        print(f"standalone launcher: port {port_start} on 127.0.0.1 is taken (for {PORT_WAIT:.0f} s); not moving to another port",
              file=sys.stderr, flush=True)
        raise RuntimeError(f"port {port_start} taken")
    return port_start, sock

milvus.MilvusServerConfig.try_bind_port = try_bind_port
milvus.MilvusServerConfig.resolve_port = resolve_port
sys.argv[0] = "milvus-server"
sys.exit(milvus.main())
