#!/usr/bin/env python3
"""A tiny OpenAI-compatible embeddings API for scripts/check_live_stack.sh (standard library
only): the live stack's `[[rag_probes]]` entry needs an embeddings server beside Milvus Lite,
and no real one may be called from a test machine.

    fake_embeddings.py [--dim 8] [--port 0] [--self-test]

Binds 127.0.0.1 (port 0: a free one) and prints `embeddings http://127.0.0.1:PORT` once it
listens (scripts/lib.sh's wait_line reads it). Then:

    POST /v1/embeddings  -> 200 {"object":"list","data":[{"object":"embedding","index":0,
                            "embedding":[1.0, 0.0, ...]}],"model":...,"usage":...}
                            with --dim floats, or the request's `dimensions` when it sends one
                            (as OpenAI's text-embedding-3 models do), at most MAX_DIM
    GET  /calls          -> 200 {"embeddings": N}: how many embeddings it answered, so the
                            check can tell the probe really went through this server
    anything else        -> 404 / 405 with an OpenAI-style error body

It is a test double, but it still faces a socket: a request body past MAX_BODY is refused
with 413 without being read, a client that stops sending is cut after TIMEOUT seconds, a body
that is not JSON (or not UTF-8) gets 400, and it never echoes what it received. SIGTERM ends it.
`--self-test` starts it on a free port, checks those answers and exits 0 or 1.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A probe text is a phrase; the exporter sends at most 8 KiB of it. 64 KiB is room for any
# honest request and bounds what one request makes this process hold.
MAX_BODY = 64 * 1024
# Milvus's own ceiling for a float vector (`proxy.maxDimension`): a larger `dimensions` is an
# error here as it would be at a real API.
MAX_DIM = 32_768
# Seconds a client may take to send its request (a slow peer is cut, never waited for).
TIMEOUT = 5.0


def embedding(dim: int) -> list[float]:
    """[1.0, 0.0, ...]: a valid vector for every metric (L2, IP and COSINE: non-zero norm)."""
    return [1.0] + [0.0] * (dim - 1)


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-embeddings/1"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # The socket timeout (StreamRequestHandler applies self.timeout): a request head or
        # body that stops arriving ends the connection after it.
        self.timeout = self.server.timeout_s
        super().setup()

    # One line per request on stderr is the log; never the body (it could hold anything).
    def log_message(self, fmt: str, *args) -> None:
        if not self.server.quiet:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the peer left before its answer: nothing to tell it
            self.close_connection = True

    def error(self, status: int, message: str) -> None:
        self.close_connection = True
        self.reply(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def do_GET(self) -> None:
        if self.path == "/calls":
            with self.server.lock:
                n = self.server.calls
            self.reply(200, {"embeddings": n})
        elif self.path == "/v1/embeddings":
            self.error(405, "use POST")
        else:
            self.error(404, "not found")

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/v1/embeddings":
            self.error(404, "not found")
            return
        raw_len = self.headers.get("Content-Length")
        if raw_len is None:
            self.error(411, "a Content-Length is required")
            return
        try:
            length = int(raw_len.strip())
        except ValueError:
            length = -1
        if length < 0:
            self.error(400, "invalid Content-Length")
            return
        if length > MAX_BODY:
            self.error(413, f"request body larger than {MAX_BODY} bytes")
            return
        try:
            body = self.rfile.read(length)
        except OSError:  # the timeout above: a client that stopped sending
            self.close_connection = True
            return
        if len(body) != length:
            self.error(400, "request body shorter than its Content-Length")
            return
        try:
            req = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.error(400, "request body is not JSON")
            return
        if not isinstance(req, dict) or not req.get("input"):
            self.error(400, "`input` is required")
            return
        dim = self.server.dim
        asked = req.get("dimensions")
        if asked is not None:
            if not isinstance(asked, int) or isinstance(asked, bool) or not 1 <= asked <= MAX_DIM:
                self.error(400, f"`dimensions` must be an integer from 1 to {MAX_DIM}")
                return
            dim = asked
        model = req.get("model") if isinstance(req.get("model"), str) else "fake"
        with self.server.lock:
            self.server.calls += 1
        self.reply(
            200,
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": embedding(dim)}],
                "model": model[:256],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            },
        )


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # Restarting on the same port must not wait for TIME_WAIT.
    allow_reuse_address = True

    def __init__(self, port: int, dim: int, timeout_s: float = TIMEOUT, quiet: bool = False):
        super().__init__(("127.0.0.1", port), Handler)
        self.dim = dim
        self.timeout_s = timeout_s
        self.quiet = quiet
        self.calls = 0
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        # One line, not socketserver's traceback: a peer that vanished mid-request is not news.
        if not self.quiet:
            sys.stderr.write(f"{client_address[0]} request failed: {sys.exc_info()[1]!r}\n")


def closed_within(port: int, sent: bytes, seconds: float) -> bool:
    """Sends `sent` and stops: true when the server closes the connection within `seconds`."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as c:
        c.sendall(sent)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = c.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not data:
                return True
        return False


def self_test() -> int:
    srv = Server(0, 8, timeout_s=0.5, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    base = f"http://127.0.0.1:{port}"
    failures = []

    def post(data: bytes, path: str = "/v1/embeddings", headers: dict | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(base + path, data=data, method="POST", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def expect(name: str, got, want) -> None:
        if got != want:
            failures.append(f"{name}: got {got!r}, want {want!r}")

    st, j = post(json.dumps({"model": "m", "input": ["health check"]}).encode())
    expect("embedding status", st, 200)
    expect("embedding length", len(j["data"][0]["embedding"]), 8)
    st, j = post(json.dumps({"model": "m", "input": ["x"], "dimensions": 3}).encode())
    expect("dimensions honoured", len(j.get("data", [{}])[0].get("embedding", [])), 3)
    for bad in (0, -1, MAX_DIM + 1, 10**30, "8", True, 2.5):
        st, _ = post(json.dumps({"model": "m", "input": ["x"], "dimensions": bad}).encode())
        expect(f"dimensions {bad!r} refused", st, 400)
    expect("not JSON", post(b"\xff\xfe not json")[0], 400)
    expect("no input", post(b'{"model":"m"}')[0], 400)
    expect("a JSON list", post(b"[1,2]")[0], 400)
    expect("too large", post(b"x" * (MAX_BODY + 1))[0], 413)
    for bad_len in ("-1", "abc", str(10**30)):
        head = f"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: {bad_len}\r\n\r\n".encode()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(head)
            status = c.recv(64).split(b" ")[1:2]
        expect(f"Content-Length {bad_len} refused", status, [b"413" if bad_len.isdigit() else b"400"])
    # A slow peer: a head that never ends, a body shorter than its Content-Length.
    expect("unfinished head cut", closed_within(port, b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n", 5), True)
    expect(
        "short body cut",
        closed_within(port, b"POST /v1/embeddings HTTP/1.1\r\nContent-Length: 100\r\n\r\n{", 5),
        True,
    )
    expect("other path", post(b"{}", "/v1/other")[0], 404)
    with urllib.request.urlopen(base + "/calls", timeout=5) as r:
        expect("calls counted", json.loads(r.read()), {"embeddings": 2})
    srv.shutdown()
    srv.server_close()
    for f in failures:
        print(f"FAIL {f}")
    print("fake_embeddings self-test: " + ("ok" if not failures else f"{len(failures)} failed"))
    return 1 if failures else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=8, help="floats per embedding (default 8)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one)")
    p.add_argument("--self-test", action="store_true")
    args = p.parse_args()
    if args.self_test:
        return self_test()
    if not 1 <= args.dim <= MAX_DIM:
        p.error(f"--dim must be from 1 to {MAX_DIM}")
    if not 0 <= args.port <= 65535:
        p.error("--port must be from 0 to 65535")
    srv = Server(args.port, args.dim)
    # SIGTERM (stop_group) ends serve_forever from another thread; shutdown() would deadlock here.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown, daemon=True).start())
    print(f"embeddings http://127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
