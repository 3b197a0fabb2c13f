#!/usr/bin/env python3
"""Mixed GET load on one loopback exporter, bounded by time and by request count (scripts/soak.sh).

    soak_load.py PORT SECONDS THREADS MAX_REQUESTS OUT.json
"""
import http.client, json, sys, threading, time
from collections import Counter

port, seconds, threads, max_requests, out = (int(sys.argv[1]), float(sys.argv[2]),
                                             int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
MIX = ["/readyz", "/healthz", "/metrics", "/readyz", "/healthz", "/metrics",
       "/probe?target=lite", "/health", "/healthz", "/metrics"]
deadline = time.monotonic() + seconds
lock = threading.Lock()
counts = Counter()
sent = [0]
worst = Counter()

def one(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    return r.status

def worker(n):
    conn, reused, i = None, False, n
    while time.monotonic() < deadline:
        with lock:
            if sent[0] >= max_requests:
                return
            sent[0] += 1
        path = MIX[i % len(MIX)]
        i += 1
        key = path.split("?")[0]
        t = time.monotonic()
        status = None
        for attempt in range(2):
            try:
                if conn is None:
                    conn, reused = http.client.HTTPConnection("127.0.0.1", port, timeout=10), False
                status = one(conn, path)
                reused = True
                break
            except Exception as e:
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
                # A kept-alive connection the server closed: retry once on a fresh one.
                if not reused or attempt == 1:
                    status = "error:" + type(e).__name__
                    break
        took = time.monotonic() - t
        with lock:
            counts[(key, str(status))] += 1
            worst[key] = max(worst[key], took)
        time.sleep(0.002)

ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
json.dump({"counts": [[k[0], k[1], v] for k, v in sorted(counts.items())],
           "worst_seconds": dict(worst), "sent": sent[0]}, open(out, "w"))
