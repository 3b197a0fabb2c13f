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
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
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
  stop_pid "$LOAD_PID" || true
  stop_pid "$EXPORTER_PID" 0 || true
  stop_group "$LITE_PID" 0 || true
}
trap cleanup EXIT

MPORT="$(free_port)"
EPORT="$(free_port)"
MURL="http://127.0.0.1:$MPORT"
mkdir -p "$WORK/data"

start_lite() {
  # Its own session and process group, so a restart can kill all of it.
  start_group --append "$WORK/lite.pgid" "$WORK/lite.log" \
    "$PY" -m milvus_lite server --data-dir "$WORK/data" --host 127.0.0.1 --port "$MPORT"
  LITE_PID=$LIB_PGID
  "$PY" "$REPO/scripts/milvus_lite.py" wait --uri "$MURL" --timeout 60 --quiet
}
stop_lite() {
  [ -n "$LITE_PID" ] || return 0
  stop_group "$LITE_PID" 0 || true
  LITE_PID=""
  wait_tcp_closed "$MPORT" 30 "Milvus Lite, killed,"
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
# As before lib.sh: a slow start is not fatal here (the load counts /healthz failures anyway).
wait_http "http://127.0.0.1:$EPORT/healthz" 10 "the exporter's /healthz" || true
RSS_START="$(rss_kib)"
echo "soak: exporter pid $EXPORTER_PID on 127.0.0.1:$EPORT, RSS at start ${RSS_START} KiB"


START=$(date +%s)
"$PY" "$REPO/scripts/py/soak_load.py" "$EPORT" "$SOAK_SECONDS" "$THREADS" "$MAX_REQUESTS" "$WORK/load.json" &
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
"$PY" "$REPO/scripts/py/soak_summary.py" "$WORK/load.json" "$RSS_WARM" "$RSS_END" "$RSS_GROWTH_PCT" "$EXIT"
