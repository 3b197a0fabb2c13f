#!/usr/bin/env bash
# Soak test: the release exporter against real Milvus Lite under a steady mixed load on
# loopback, with Milvus Lite restarted every minute. Bounded in time and in requests.
#
#   scripts/soak.sh                          10 minutes
#   SOAK_SECONDS=180 scripts/soak.sh         3 minutes
#
# Knobs (environment): SOAK_SECONDS (600), SOAK_RESTART_EVERY (60), SOAK_WARMUP (30),
# SOAK_THREADS (8 load threads), SOAK_MAX_REQUESTS (5000000), SOAK_RSS_GROWTH_PCT (20).
#
# Fails (exit 1) when the exporter's RSS grows more than SOAK_RSS_GROWTH_PCT percent between
# the end of the warm-up and the end, when any /healthz answer is not 200 (a connection error
# counts), when any /metrics answer is 5xx, or when the exporter does not exit 0 on SIGTERM.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOAK_SECONDS="${SOAK_SECONDS:-600}"
RESTART_EVERY="${SOAK_RESTART_EVERY:-60}"
WARMUP="${SOAK_WARMUP:-30}"
THREADS="${SOAK_THREADS:-8}"
MAX_REQUESTS="${SOAK_MAX_REQUESTS:-5000000}"
RSS_GROWTH_PCT="${SOAK_RSS_GROWTH_PCT:-20}"
for v in SOAK_SECONDS RESTART_EVERY WARMUP THREADS MAX_REQUESTS RSS_GROWTH_PCT; do
  case "${!v}" in ''|*[!0-9]*) echo "soak.sh: $v must be a whole number" >&2; exit 2 ;; esac
done
if [ "$SOAK_SECONDS" -le "$WARMUP" ]; then
  echo "soak.sh: SOAK_SECONDS ($SOAK_SECONDS) must exceed the warm-up ($WARMUP)" >&2
  exit 2
fi

PY="$("$REPO/scripts/venv.sh" | tail -1)"
echo "soak: building the release binary"
(cd "$REPO" && cargo build --release --quiet)
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/milvus_exporter"
[ -x "$BIN" ] || { echo "soak.sh: no binary at $BIN" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/milvus-exporter-soak.XXXXXX")"
LITE_PID=""
EXPORTER_PID=""
LOAD_PID=""
cleanup() {
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
  [ -n "$EXPORTER_PID" ] && kill -KILL "$EXPORTER_PID" 2>/dev/null || true
  [ -n "$LITE_PID" ] && kill -KILL -- "-$LITE_PID" 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
MPORT="$(free_port)"
EPORT="$(free_port)"
MURL="http://127.0.0.1:$MPORT"
mkdir -p "$WORK/data"

start_lite() {
  # Its own session and process group, so a restart can kill all of it.
  setsid "$PY" -m milvus_lite server --data-dir "$WORK/data" --host 127.0.0.1 --port "$MPORT" \
    >>"$WORK/lite.log" 2>&1 </dev/null &
  LITE_PID=$!
  "$PY" "$REPO/scripts/milvus_lite.py" wait --uri "$MURL" --timeout 60 --quiet
}
stop_lite() {
  [ -n "$LITE_PID" ] || return 0
  kill -KILL -- "-$LITE_PID" 2>/dev/null || true
  wait "$LITE_PID" 2>/dev/null || true
  LITE_PID=""
  for _ in $(seq 1 300); do
    "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1',$MPORT)) else 1)" && return 0
    sleep 0.1
  done
  echo "soak.sh: port $MPORT still answers 30 s after killing Milvus Lite" >&2
  return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$EXPORTER_PID/status" 2>/dev/null || echo 0; }

echo "soak: starting Milvus Lite on $MURL (work dir $WORK)"
start_lite
"$PY" "$REPO/scripts/milvus_lite.py" seed --uri "$MURL" --profile test >/dev/null

cat >"$WORK/exporter.toml" <<EOF
[milvus]
address = "$MURL"
timeout = "2s"
[cache]
ttl = "2s"
refresh_interval = "5s"
[readiness]
# The soak watches the exporter, not this machine's disk and memory.
disabled_rules = ["memory", "disk"]
required_collections = ["docs"]
[[targets]]
name = "lite"
address = "$MURL"
timeout = "2s"
EOF
"$BIN" --config "$WORK/exporter.toml" --web.listen-address "127.0.0.1:$EPORT" \
  2>"$WORK/exporter.log" &
EXPORTER_PID=$!
for _ in $(seq 1 100); do
  "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$EPORT/healthz', timeout=1)" \
    2>/dev/null && break
  sleep 0.1
done
RSS_START="$(rss_kib)"
echo "soak: exporter pid $EXPORTER_PID on 127.0.0.1:$EPORT, RSS at start ${RSS_START} KiB"

cat >"$WORK/load.py" <<'EOF'
"""Mixed GET load on one loopback exporter, bounded by time and by request count."""
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
EOF

START=$(date +%s)
"$PY" "$WORK/load.py" "$EPORT" "$SOAK_SECONDS" "$THREADS" "$MAX_REQUESTS" "$WORK/load.json" &
LOAD_PID=$!

RSS_WARM=""
RESTARTS=0
NEXT_RESTART=$((START + RESTART_EVERY))
echo "soak: load running for ${SOAK_SECONDS}s, Milvus Lite restarted every ${RESTART_EVERY}s"
while kill -0 "$LOAD_PID" 2>/dev/null; do
  NOW=$(date +%s)
  if [ -z "$RSS_WARM" ] && [ $((NOW - START)) -ge "$WARMUP" ]; then
    RSS_WARM="$(rss_kib)"
    echo "soak: t=$((NOW - START))s RSS after warm-up ${RSS_WARM} KiB"
  fi
  if [ "$NOW" -ge "$NEXT_RESTART" ] && [ $((START + SOAK_SECONDS - NOW)) -gt 15 ]; then
    stop_lite
    start_lite
    # Milvus Lite keeps rows but not load state across a restart; load again, as an operator
    # would, so readiness is expected to come back (and the soak shows that it does).
    "$PY" -c 'import sys; from pymilvus import MilvusClient; c = MilvusClient(uri=sys.argv[1]); [c.load_collection(n) for n in ("docs", "faq")]' "$MURL" >/dev/null
    RESTARTS=$((RESTARTS + 1))
    echo "soak: t=$(( $(date +%s) - START ))s Milvus Lite restarted ($RESTARTS), exporter RSS $(rss_kib) KiB"
    NEXT_RESTART=$((NOW + RESTART_EVERY))
  fi
  sleep 1
done
wait "$LOAD_PID" || true
LOAD_PID=""
RSS_END="$(rss_kib)"
HWM="$(awk '/^VmHWM:/ {print $2}' "/proc/$EXPORTER_PID/status" 2>/dev/null || echo 0)"

kill -TERM "$EXPORTER_PID"
T0=$(date +%s%N)
set +e
wait "$EXPORTER_PID"
EXIT=$?
set -e
STOP_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
EXPORTER_PID=""
stop_lite || true

echo
echo "=== soak summary: ${SOAK_SECONDS}s, $RESTARTS Milvus Lite restarts ==="
echo "exporter RSS: start ${RSS_START} KiB, after warm-up ${RSS_WARM:-?} KiB, end ${RSS_END} KiB, peak (VmHWM) ${HWM} KiB"
echo "SIGTERM: exit $EXIT after ${STOP_MS} ms"
"$PY" - "$WORK/load.json" "$RSS_WARM" "$RSS_END" "$RSS_GROWTH_PCT" "$EXIT" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))
warm, end, pct, exit_code = int(sys.argv[2] or 0), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
total = sum(c for _, _, c in data["counts"])
print(f"requests: {total} sent ({data['sent']} started)")
for path, status, c in data["counts"]:
    print(f"  {path:<10} {status:<28} {c}")
print("worst latency: " + ", ".join(f"{p} {s*1000:.0f} ms" for p, s in sorted(data["worst_seconds"].items())))
problems = []
bad_healthz = sum(c for p, s, c in data["counts"] if p == "/healthz" and s != "200")
bad_metrics = sum(c for p, s, c in data["counts"] if p == "/metrics" and (s.startswith("5") or s.startswith("error")))
if bad_healthz:
    problems.append(f"{bad_healthz} /healthz answers were not 200")
if bad_metrics:
    problems.append(f"{bad_metrics} /metrics answers were 5xx or failed")
if warm and end > warm * (100 + pct) / 100:
    problems.append(f"RSS grew {100 * (end - warm) / warm:.1f}% after warm-up (limit {pct}%)")
if exit_code != 0:
    problems.append(f"exporter exited {exit_code} on SIGTERM")
if total == 0:
    problems.append("no requests were made")
if problems:
    print("SOAK FAILED: " + "; ".join(problems))
    sys.exit(1)
growth = 100 * (end - warm) / warm if warm else 0.0
print(f"SOAK PASSED: RSS growth after warm-up {growth:+.1f}%, every /healthz 200, no /metrics 5xx")
EOF
