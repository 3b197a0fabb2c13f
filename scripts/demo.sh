#!/usr/bin/env bash
# See milvus_exporter work against real Milvus Lite, on one machine, loopback only.
#
#   scripts/demo.sh                 # runs until Ctrl-C
#   DEMO_ONESHOT=1 scripts/demo.sh  # exits right after printing (for tests)
#
# Env: MILVUS_PORT (default 19530), EXPORTER_PORT (default 9727), VENV (see venv.sh),
#      CARGO_TARGET_DIR (where the release binary is looked for),
#      DEMO_SKIP_BUILD=1 to use an existing target/release/milvus_exporter.
# Steps: venv -> start Milvus Lite -> wait -> seed (profile demo) -> cargo build
# --release -> start the exporter -> wait for /healthz -> print URLs and `check`.
# On exit (Ctrl-C, error or oneshot) the exporter and Milvus Lite are stopped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
MILVUS_PORT="${MILVUS_PORT:-19530}"
EXPORTER_PORT="${EXPORTER_PORT:-9727}"
MILVUS_URL="http://127.0.0.1:${MILVUS_PORT}"
EXPORTER_URL="http://127.0.0.1:${EXPORTER_PORT}"
CONFIG="config/milvus_exporter.toml"
RUN_DIR="$REPO/.run"
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/milvus_exporter"

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\ndemo.sh: error: %s\n' "$*" >&2; exit 1; }

MILVUS_PID=""
EXPORTER_PID=""
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$EXPORTER_PID" ]]; then
    stop_pid "$EXPORTER_PID" 5 || true
    wait "$EXPORTER_PID" 2>/dev/null || true
  fi
  if [[ -n "$MILVUS_PID" ]]; then
    # start_group made Milvus Lite the leader of its own process group.
    stop_group "$MILVUS_PID" 0 || true
    rm -f "$RUN_DIR/milvus-lite.pgid"
  fi
  if [[ -n "$MILVUS_PID$EXPORTER_PID" ]]; then
    echo "demo.sh: stopped the exporter and Milvus Lite (logs in .run/)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "Python venv with Milvus Lite (scripts/venv.sh)"
PY="$(scripts/venv.sh | tail -n1)"
[[ -x "$PY" ]] || die "scripts/venv.sh did not produce a python ($PY)"

for spec in "Milvus Lite:MILVUS_PORT:$MILVUS_PORT" "the exporter:EXPORTER_PORT:$EXPORTER_PORT"; do
  IFS=: read -r what var port <<<"$spec"
  port_bindable "$port" || die "port 127.0.0.1:$port (for $what) is already in use. Stop whatever listens there (ss -ltnp 'sport = :$port') or pick another port: $var=<port> scripts/demo.sh"
done

mkdir -p "$RUN_DIR"
say "Starting Milvus Lite on $MILVUS_URL (data .run/demo-milvus, log .run/milvus-lite.log)"
start_group "$RUN_DIR/milvus-lite.pgid" "$RUN_DIR/milvus-lite.log" "$PY" -m milvus_lite server \
  --data-dir "$RUN_DIR/demo-milvus" --host 127.0.0.1 --port "$MILVUS_PORT" \
  || die "Milvus Lite did not start (log: .run/milvus-lite.log)"
MILVUS_PID=$LIB_PGID
if ! "$PY" scripts/milvus_lite.py wait --uri "$MILVUS_URL" --timeout 60; then
  tail -n 30 "$RUN_DIR/milvus-lite.log" >&2 || true
  die "Milvus Lite did not answer on $MILVUS_URL within 60 s (log: .run/milvus-lite.log)"
fi
group_alive "$MILVUS_PID" || die "Milvus Lite exited (log: .run/milvus-lite.log)"

say "Seeding demo collections (docs, faq loaded; archive released)"
"$PY" scripts/milvus_lite.py seed --uri "$MILVUS_URL" --profile demo \
  || die "seeding Milvus Lite failed"

if [[ "${DEMO_SKIP_BUILD:-0}" == 1 && -x "$BIN" ]]; then
  say "Using existing $BIN (DEMO_SKIP_BUILD=1)"
else
  say "Building the exporter (cargo build --release)"
  cargo build --release || die "cargo build --release failed"
fi
[[ -x "$BIN" ]] || die "$BIN not found after the build"
[[ -f "$CONFIG" ]] || die "$CONFIG not found"

say "Starting milvus_exporter on $EXPORTER_URL (log .run/exporter.log)"
"$BIN" --config "$CONFIG" --milvus.address "$MILVUS_URL" \
  --web.listen-address "127.0.0.1:$EXPORTER_PORT" >"$RUN_DIR/exporter.log" 2>&1 </dev/null &
EXPORTER_PID=$!

if ! wait_http --pid "$EXPORTER_PID" "$EXPORTER_URL/healthz" 30 "the exporter's /healthz" 2>/dev/null; then
  tail -n 30 "$RUN_DIR/exporter.log" >&2 || true
  kill -0 "$EXPORTER_PID" 2>/dev/null || die "the exporter exited during startup (log: .run/exporter.log)"
  die "$EXPORTER_URL/healthz did not answer within 30 s (log: .run/exporter.log)"
fi

cat <<EOF

milvus_exporter is up, scraping Milvus Lite at $MILVUS_URL

  $EXPORTER_URL/                 landing page
  $EXPORTER_URL/metrics          Prometheus metrics
  $EXPORTER_URL/readyz           readiness (Kubernetes)
  $EXPORTER_URL/readyz?verbose   readiness, per check
  $EXPORTER_URL/health           health report
  $EXPORTER_URL/healthz          liveness (Kubernetes)

  try: curl -s $EXPORTER_URL/metrics | grep '^milvus_'
EOF

say "milvus_exporter check --config $CONFIG --milvus.address $MILVUS_URL"
set +e
"$BIN" check --config "$CONFIG" --milvus.address "$MILVUS_URL"
check_rc=$?
set -e
echo "(check exited $check_rc)"

if [[ "${DEMO_ONESHOT:-0}" == 1 ]]; then
  echo "DEMO_ONESHOT=1: stopping."
  exit 0
fi

echo
echo "Running. Press Ctrl-C to stop the exporter and Milvus Lite."
set +e
wait "$EXPORTER_PID"
rc=$?
set -e
EXPORTER_PID=""
echo "demo.sh: the exporter exited with status $rc (log: .run/exporter.log)" >&2
exit "$rc"
