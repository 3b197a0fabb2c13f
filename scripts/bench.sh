#!/usr/bin/env bash
# Performance benchmarks of milvus_exporter, one command from a fresh clone:
#
#   scripts/bench.sh                 # everything, ≤ 15 min on 2 cores (build included)
#   BENCH_SKIP=lite scripts/bench.sh # skip scenarios by name: http metrics lite profile load cold size gzip fleet
#
# Installs wrk with apt-get when it is missing, builds the release binary and the helper
# programs in examples/, runs each scenario against loopback only, and prints ONE table
# (scenario, measured, baseline from the same run, ratio, target, met?) that it also writes
# to target/bench/results.md (or $BENCH_OUT). Only ratios within one run mean anything on a
# shared machine; absolute numbers move with whatever else runs.
#
# Scenarios:
#  1 http    /healthz and cached /readyz under wrk -t2 -c64 -d10s vs a minimal hyper server
#  2 metrics /metrics with 10,000 collections (p50, throughput, RSS) and idle RSS at 10
#  3 lite    refresh of 1,000 collections of real Milvus Lite at max_concurrency 16 vs 1,
#            and the RPCs of one refresh counted by the fake Milvus
#  4 load    ~5,000 req/s of mixed probes and scrapes for 30 s at ttl 3s: refreshes counted
#  5 cold    process start → first 200 on /healthz, median of 30
#  6 size    release binary size
#  7 gzip    /metrics with 10,000 collections: bytes on the wire and p50, gzip vs identity
#  8 fleet   100 and 1,000 targets of 100 collections: RSS per live target, /probe p50/p99 of
#            the healthy ones and the exporter's own /metrics p99, with 0 % and 10 % hung
#
# Environment: BENCH_OUT (table path), BENCH_DURATION (wrk seconds, default 10),
# BENCH_STANDALONE=1 (also refresh Milvus standalone 2.3.5, scenario 3d),
# BENCH_LITE_COLLECTIONS (default 1000), BENCH_BUDGET (seconds, default 900),
# CARGO_TARGET_DIR (build dir, default target/).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
T0=$SECONDS
BUDGET="${BENCH_BUDGET:-900}"
DUR="${BENCH_DURATION:-10}"
LITE_N="${BENCH_LITE_COLLECTIONS:-1000}"
SKIP=" ${BENCH_SKIP:-} "
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
OUT="${BENCH_OUT:-$REPO/target/bench/results.md}"
mkdir -p "$(dirname "$OUT")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/milvus-exporter-bench.XXXXXX")"
PIDS=()

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    # Milvus Lite runs in its own process group (its pid is the group id); the rest do not.
    stop_group "$pid" 1 || true
    stop_pid "$pid" 1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

left() { echo $((BUDGET - (SECONDS - T0))); }
skipped() { [[ "$SKIP" == *" $1 "* ]]; }
# Runs a scenario only if its estimated cost fits in what is left of the budget.
fits() {
  local need="$1" name="$2"
  if (($(left) < need)); then
    log "skipping $name: $(left)s left of the ${BUDGET}s budget, it needs ~${need}s"
    row "$name" "skipped: ${BUDGET}s budget spent (build took $((BUILD_END - BUILD_START))s)" "—" "—" "—" "n/a"
    return 1
  fi
}

# ------------------------------------------------------------------------------------------
# Results table
# ------------------------------------------------------------------------------------------
ROWS=()
row() { # scenario measured baseline ratio target met
  ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |")
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f×", a / b }'; }
# yes/no for "a OP b" on numbers.
cmp() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
  r = (op == "<=") ? (a <= b) : (op == ">=") ? (a >= b) : (op == "<") ? (a < b) : (op == "==") ? (a == b) : (a > b);
  print (r ? "yes" : "**no**") }'; }
fmt() { awk -v a="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, a }'; }

print_table() {
  {
    echo "# milvus_exporter benchmarks"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, build ${BUILD_TIME:-?}s, rev $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' (+ local changes)'), load average at start ${LOAD0}; ${SECONDS}s in all."
    echo
    echo "| scenario | measured | baseline (same run) | ratio | target | met? |"
    echo "| --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
    if ((${#NOTES[@]})); then
      echo
      printf -- '- %s\n' "${NOTES[@]}"
    fi
  } >"$OUT"
  echo
  cat "$OUT"
  echo
  log "written to $OUT"
}
NOTES=()
note() { NOTES+=("$*"); }

# ------------------------------------------------------------------------------------------
# Tools
# ------------------------------------------------------------------------------------------
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk (Debian package) with apt-get"
  [[ "$(id -u)" == 0 ]] || die "wrk is missing and this is not root: apt-get install wrk"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq wrk >&2
fi
command -v curl >/dev/null 2>&1 || die "curl is needed"

log "building release binary and bench helpers (CARGO_TARGET_DIR=$TARGET_DIR)"
BUILD_START=$SECONDS
CARGO_TARGET_DIR="$TARGET_DIR" timeout $((BUDGET - 60)) \
  cargo build --release --bin milvus_exporter \
  --example baseline_server --example fake_milvus_server --example refresh_bench --example coldstart >&2 \
  || die "release build failed or took longer than the budget"
BUILD_END=$SECONDS
BUILD_TIME=$((BUILD_END - BUILD_START))
log "built in $((BUILD_END - BUILD_START))s"
REL="$TARGET_DIR/release"
EXPORTER="$REL/milvus_exporter"
EX="$REL/examples"

# ------------------------------------------------------------------------------------------
# Process helpers (free_port, wait_line, wait_http, start_group, stop_pid: scripts/lib.sh)
# ------------------------------------------------------------------------------------------

# start_fake N [extra args...]: sets FAKE_PID FAKE_URL FAKE_CTL.
start_fake() {
  local n="$1"
  shift
  local out="$WORK/fake.$n.$RANDOM.out"
  "$EX/fake_milvus_server" --collections "$n" "$@" >"$out" 2>"$out.err" &
  FAKE_PID=$!
  PIDS+=("$FAKE_PID")
  FAKE_URL="$(wait_line "$out" milvus 20)"
  FAKE_CTL="$(wait_line "$out" control 20)"
}

# start_exporter NAME MILVUS_URL TTL TIMEOUT: sets EXP_PID EXP_URL. Refresh on demand only.
start_exporter() {
  local name="$1" port cfg
  port="$(free_port)"
  cfg="$WORK/$name.toml"
  cat >"$cfg" <<EOF
[web]
listen_address = "127.0.0.1:$port"
[log]
level = "warn"
[milvus]
address = "$2"
timeout = "$4"
max_concurrency = 16
[cache]
ttl = "$3"
refresh_interval = "0s"
EOF
  "$EXPORTER" --config "$cfg" >"$WORK/$name.log" 2>&1 &
  EXP_PID=$!
  PIDS+=("$EXP_PID")
  EXP_URL="http://127.0.0.1:$port"
  wait_http --any "$EXP_URL/healthz" 20 2>/dev/null || die "$EXP_URL/healthz did not answer within 20s"
}

# CPU time (user + system) of a process so far, milliseconds.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# run_wrk NAME URL [wrk args...]: sets RPS P50 P99 (ms) ERRS from wrk --latency.
run_wrk() {
  local name="$1" url="$2"
  shift 2
  wrk --latency "$@" "$url" >"$WORK/wrk.$name.out" 2>&1 || die "wrk $name failed: $(cat "$WORK/wrk.$name.out")"
  local f="$WORK/wrk.$name.out"
  to_ms='function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }'
  RPS="$(awk '/^Requests\/sec:/ { print $2 }' "$f")"
  P50="$(awk "$to_ms"' $1 == "50%" { print ms($2) }' "$f")"
  P99="$(awk "$to_ms"' $1 == "99%" { print ms($2) }' "$f")"
  ERRS="$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { for (i = 3; i <= NF; i += 2) n += $(i + 1) } END { print n + 0 }' "$f")"
  log "wrk $name: $RPS req/s, p50 ${P50} ms, p99 ${P99} ms, errors $ERRS"
}

# ------------------------------------------------------------------------------------------
# 1. /healthz and cached /readyz vs a constant-OK hyper server
# ------------------------------------------------------------------------------------------
if ! skipped http && fits $((4 * DUR + 20)) "http"; then
  log "scenario 1: /healthz and cached /readyz vs baseline (wrk -t2 -c64 -d${DUR}s)"
  "$EX/baseline_server" >"$WORK/baseline.out" 2>&1 &
  BASE_PID=$!
  PIDS+=("$BASE_PID")
  BASE_URL="$(wait_line "$WORK/baseline.out" listening 20)"
  start_fake 10
  start_exporter http "$FAKE_URL" 1h 10s
  curl -s -o /dev/null "$EXP_URL/readyz" # first refresh; after it /readyz is served from cache
  # Short warm-up of each server so the first measurement is not the one paying for it.
  for u in "$BASE_URL/" "$EXP_URL/healthz" "$EXP_URL/readyz"; do
    wrk -t2 -c64 -d1s "$u" >/dev/null 2>&1 || true
  done
  run_wrk baseline "$BASE_URL/" -t2 -c64 -d"${DUR}s"
  B_RPS=$RPS B_P99=$P99
  run_wrk healthz "$EXP_URL/healthz" -t2 -c64 -d"${DUR}s"
  H_RPS=$RPS H_P99=$P99 H_ERR=$ERRS
  run_wrk readyz "$EXP_URL/readyz" -t2 -c64 -d"${DUR}s"
  R_RPS=$RPS R_P99=$P99 R_ERR=$ERRS
  # The same hyper server sending the /readyz body instead of OK: what the bytes alone cost.
  curl -s -o "$WORK/readyz.json" "$EXP_URL/readyz"
  "$EX/baseline_server" --body-file "$WORK/readyz.json" >"$WORK/baseline-body.out" 2>&1 &
  BODY_PID=$!
  PIDS+=("$BODY_PID")
  BODY_URL="$(wait_line "$WORK/baseline-body.out" listening 20)"
  wrk -t2 -c64 -d1s "$BODY_URL/" >/dev/null 2>&1 || true
  run_wrk baseline_body "$BODY_URL/" -t2 -c64 -d"${DUR}s"
  BB_RPS=$RPS
  stop_pid "$BODY_PID" 2 || true
  READYZ_BYTES="$(stat -c %s "$WORK/readyz.json")"
  READYZ_STATUS="$(curl -s -o /dev/null -w '%{http_code}' "$EXP_URL/readyz")"
  HEALTH_CALLS="$(curl -s "$FAKE_CTL/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["CheckHealth"])')"
  row "1 /healthz throughput (req/s)" "$(fmt "$H_RPS" 0)" "$(fmt "$B_RPS" 0) (hyper OK)" "$(ratio "$H_RPS" "$B_RPS")" "≥ 0.80×" "$(cmp "$H_RPS" '>=' "$(awk -v b="$B_RPS" 'BEGIN{print 0.8*b}')")"
  row "1 /healthz p99 (ms)" "$(fmt "$H_P99" 2)" "$(fmt "$B_P99" 2)" "$(ratio "$H_P99" "$B_P99")" "≤ 2×" "$(cmp "$H_P99" '<=' "$(awk -v b="$B_P99" 'BEGIN{print 2*b}')")"
  row "1 /readyz cached throughput (req/s)" "$(fmt "$R_RPS" 0)" "$(fmt "$B_RPS" 0) (hyper OK)" "$(ratio "$R_RPS" "$B_RPS")" "≥ 0.80×" "$(cmp "$R_RPS" '>=' "$(awk -v b="$B_RPS" 'BEGIN{print 0.8*b}')")"
  row "1 /readyz cached p99 (ms)" "$(fmt "$R_P99" 2)" "$(fmt "$B_P99" 2)" "$(ratio "$R_P99" "$B_P99")" "≤ 2×" "$(cmp "$R_P99" '<=' "$(awk -v b="$B_P99" 'BEGIN{print 2*b}')")"
  note "1: the same hyper server answering the ${READYZ_BYTES}-byte /readyz body instead of OK: $(fmt "$BB_RPS" 0) req/s, $(ratio "$BB_RPS" "$B_RPS") of OK; cached /readyz is $(ratio "$R_RPS" "$BB_RPS") of that server, /healthz $(ratio "$H_RPS" "$B_RPS") of OK."
  note "1: wrk -t2 -c64 -d${DUR}s --latency on the same 2 cores as the servers; /readyz answered $READYZ_STATUS; non-2xx/socket errors: healthz $H_ERR, readyz $R_ERR; CheckHealth calls during the whole scenario: $HEALTH_CALLS (ttl 1h: served from cache)."
  stop_pid "$EXP_PID" 2 || true
  stop_pid "$FAKE_PID" 2 || true
  stop_pid "$BASE_PID" 2 || true
fi

# ------------------------------------------------------------------------------------------
# 2. /metrics with 10,000 collections; RSS at 10,000 and idle at 10
# ------------------------------------------------------------------------------------------
if ! skipped metrics && fits $((2 * DUR + 30)) "metrics"; then
  log "scenario 2: /metrics with 10,000 collections"
  start_fake 10000
  start_exporter metrics10k "$FAKE_URL" 1h 60s
  REFRESH_START=$SECONDS
  curl -s --max-time 60 -o "$WORK/metrics10k.txt" "$EXP_URL/metrics"
  SERIES="$(grep -c '^milvus_collection_rows{' "$WORK/metrics10k.txt" || true)"
  BODY_KB="$(($(stat -c %s "$WORK/metrics10k.txt") / 1024))"
  [[ "$SERIES" == 10000 ]] || note "2: expected 10000 milvus_collection_rows series, got $SERIES"
  wrk -t1 -c1 -d1s "$EXP_URL/metrics" >/dev/null 2>&1 || true
  HALF="$((DUR / 2 > 2 ? DUR / 2 : 2))"
  # Latency as one scraper sees it (one request at a time), then throughput with 4 in flight.
  run_wrk metrics "$EXP_URL/metrics" -t1 -c1 -d"${DUR}s" --timeout 10s
  M_P50=$P50 M_P99=$P99
  run_wrk metrics_om "$EXP_URL/metrics" -t1 -c1 -d"${HALF}s" --timeout 10s \
    -H 'Accept: application/openmetrics-text;version=1.0.0'
  OM_P50=$P50
  run_wrk metrics_c4 "$EXP_URL/metrics" -t2 -c4 -d"${HALF}s" --timeout 10s
  M_RPS=$RPS M4_P50=$P50
  sleep 1
  RSS10K="$(rss_mib "$EXP_PID")"
  HWM10K="$(hwm_mib "$EXP_PID")"
  row "2 /metrics 10k collections p50 (ms, text 0.0.4, one scraper)" "$(fmt "$M_P50" 2)" "—" "—" "≤ 20 ms" "$(cmp "$M_P50" '<=' 20)"
  row "2 /metrics 10k OpenMetrics p50 (ms, one scraper)" "$(fmt "$OM_P50" 2)" "$(fmt "$M_P50" 2) (0.0.4)" "$(ratio "$OM_P50" "$M_P50")" "≤ 20 ms" "$(cmp "$OM_P50" '<=' 20)"
  "$EX/refresh_bench" render --collections 10000 --rounds 15 >"$WORK/render.out" 2>"$WORK/render.err" \
    || die "refresh_bench render failed: $(cat "$WORK/render.err")"
  R_TEXT="$(awk '$2 == "render_ms_text004" { print $3 }' "$WORK/render.out")"
  R_OM="$(awk '$2 == "render_ms_openmetrics" { print $3 }' "$WORK/render.out")"
  row "2 /metrics 10k: rendering, paid by the first scrape after each refresh (ms, text 0.0.4)" "$(fmt "$R_TEXT" 2)" "$(fmt "$R_OM" 2) (OpenMetrics)" "$(ratio "$R_TEXT" "$R_OM")" "report" "—"
  row "2 /metrics 10k collections throughput (req/s, 4 in flight)" "$(fmt "$M_RPS" 1)" "—" "—" "report" "—"
  row "2 RSS with 10k collections (MiB)" "$RSS10K" "—" "—" "≤ 30 MiB" "$(cmp "$RSS10K" '<=' 30)"
  note "2: body ${BODY_KB} KiB, ${SERIES} collections; p50/p99 one scraper (wrk -t1 -c1) ${M_P50}/${M_P99} ms; with 4 in flight (wrk -t2 -c4) p50 ${M4_P50} ms; RSS read 1 s after the load (VmRSS), peak VmHWM ${HWM10K} MiB."
  stop_pid "$EXP_PID" 2 || true
  stop_pid "$FAKE_PID" 2 || true

  start_fake 10
  start_exporter idle10 "$FAKE_URL" 10s 3s
  curl -s -o /dev/null "$EXP_URL/metrics"
  curl -s -o /dev/null "$EXP_URL/readyz"
  sleep 2
  RSS10="$(rss_mib "$EXP_PID")"
  row "2 RSS idle with 10 collections (MiB)" "$RSS10" "—" "—" "≤ 15 MiB" "$(cmp "$RSS10" '<=' 15)"
  stop_pid "$EXP_PID" 2 || true
  stop_pid "$FAKE_PID" 2 || true
fi

# ------------------------------------------------------------------------------------------
# 3. Refresh of 1,000 collections against Milvus Lite; RPCs per refresh against the fake
# ------------------------------------------------------------------------------------------
if ! skipped lite && fits 40 "rpc count"; then
  log "scenario 3a: RPCs of one health refresh at 10, 1,000 and 10,000 collections (fake Milvus counts)"
  for n in 10 1000 10000; do
    "$EX/refresh_bench" fake --collections "$n" --concurrency 16 >"$WORK/rpc$n.out" 2>"$WORK/rpc$n.err" \
      || die "refresh_bench fake --collections $n failed: $(cat "$WORK/rpc$n.err")"
  done
  R10="$(awk '$2 == "fake_rpcs_per_refresh" { print $3 }' "$WORK/rpc10.out")"
  R1K="$(awk '$2 == "fake_rpcs_per_refresh" { print $3 }' "$WORK/rpc1000.out")"
  R10K="$(awk '$2 == "fake_rpcs_per_refresh" { print $3 }' "$WORK/rpc10000.out")"
  INV1K="$(awk '$2 == "fake_rpcs_inventory" { print $3 }' "$WORK/rpc1000.out")"
  MAXF="$(awk '$2 == "fake_max_in_flight" { print $3 }' "$WORK/rpc1000.out")"
  row "3 RPCs per health refresh, 1,000 collections" "$R1K" "$R10 (10 collections)" "$(ratio "$R1K" "$R10")" "the same constant" "$(cmp "$R1K" '==' "$R10")"
  row "3 RPCs per health refresh, 10,000 collections" "$R10K" "$R10 (10 collections)" "$(ratio "$R10K" "$R10")" "the same constant" "$(cmp "$R10K" '==' "$R10")"
  row "3 RPCs of one inventory pass, 1,000 collections (every inventory_interval)" "$INV1K" "2×1000 = 2000" "$(ratio "$INV1K" 2000)" "2/collection" "$(cmp "$INV1K" '<=' 2000)"
  note "3: $(grep '^fake:' "$WORK/rpc1000.err" | sed 's/^fake: //')."
fi
if ! skipped lite && fits 40 "fake delay"; then
  log "scenario 3c: refresh of 1,000 collections, fake Milvus answering after 1 ms, concurrency 16 vs 1"
  "$EX/refresh_bench" fake --collections 1000 --concurrency 16 --delay-ms 1 --rounds 3 \
    >"$WORK/delay.out" 2>"$WORK/delay.err" || die "refresh_bench fake --delay-ms failed: $(cat "$WORK/delay.err")"
  D16="$(awk '$2 == "fake_delay_refresh_ms_c16" { print $3 }' "$WORK/delay.out")"
  D1="$(awk '$2 == "fake_delay_refresh_ms_c1" { print $3 }' "$WORK/delay.out")"
  row "3 refresh with the inventory inline, 1,000 collections, fake with 1 ms per RPC, concurrency 16 (ms)" "$(fmt "$D16" 0)" "$(fmt "$D1" 0) (same library, max_concurrency 1)" "$(ratio "$D1" "$D16") faster" "≥ 8×" "$(cmp "$(awk -v a="$D1" -v b="$D16" 'BEGIN{print a/b}')" '>=' 8)"
  DH="$(awk '$2 == "fake_delay_health_ms" { print $3 }' "$WORK/delay.out")"
  DF="$(awk '$2 == "fake_delay_full_ms" { print $3 }' "$WORK/delay.out")"
  row "3 health refresh, 1,000 collections, fake with 1 ms per RPC (ms)" "$(fmt "$DH" 0)" "$(fmt "$DF" 0) (every collection asked, as before the two cadences)" "$(ratio "$DF" "$DH") faster" "report" "—"
fi
if ! skipped lite && fits 180 "lite"; then
  log "scenario 3b: refresh of $LITE_N collections of Milvus Lite"
  LITE_OK=1
  PY="$(VENV="${BENCH_VENV:-$REPO/.venv}" timeout $(($(left) - 120)) scripts/venv.sh 2>"$WORK/venv.err" | tail -1)" \
    || { LITE_OK=0; note "3: no Milvus Lite venv: $(tail -3 "$WORK/venv.err" | tr '\n' ' ')"; }
  if ((LITE_OK)); then
    LPORT="$(free_port)"
    mkdir -p "$WORK/lite-data"
    start_group "$WORK/lite.pgid" "$WORK/lite.log" \
      "$PY" -m milvus_lite server --data-dir "$WORK/lite-data" --host 127.0.0.1 --port "$LPORT" \
      || LITE_OK=0
    LITE_PID=$LIB_PGID
    PIDS+=("$LITE_PID")
    LURI="http://127.0.0.1:$LPORT"
    ((LITE_OK)) && timeout 90 "$PY" scripts/milvus_lite.py wait --uri "$LURI" --timeout 80 --quiet >&2 \
      || { LITE_OK=0; note "3: Milvus Lite did not start: $(tail -3 "$WORK/lite.log" | tr '\n' ' ')"; }
  fi
  if ((LITE_OK)); then
    BULK_START=$SECONDS
    timeout $(($(left) - 60)) "$PY" scripts/milvus_lite.py bulk --uri "$LURI" --count "$LITE_N" \
      --prefix bulk_ --max-seconds $(($(left) - 70)) >"$WORK/bulk.out" 2>&1 \
      || { LITE_OK=0; note "3: bulk creation failed: $(tail -2 "$WORK/bulk.out" | tr '\n' ' ')"; }
    log "created $LITE_N collections in $((SECONDS - BULK_START))s"
  fi
  if ((LITE_OK)); then
    LITE_CPU0="$(awk '{ print $14 + $15 }' "/proc/$LITE_PID/stat")"
    timeout $(($(left) - 20)) "$EX/refresh_bench" lite --uri "$LURI" --expect "$LITE_N" --rounds 5 \
      --concurrency 16 >"$WORK/lite.out" 2>"$WORK/lite.err" \
      || { LITE_OK=0; note "3: refresh_bench lite failed: $(tail -3 "$WORK/lite.err" | tr '\n' ' ')"; }
    LITE_CPU1="$(awk '{ print $14 + $15 }' "/proc/$LITE_PID/stat")"
    # 12 refreshes: one warm-up and 5 rounds at each concurrency.
    LITE_CPU_MS="$(awk -v a="$LITE_CPU0" -v b="$LITE_CPU1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (b - a) * 1000 / hz / 12 }')"
  fi
  # Where Milvus Lite's time goes while the exporter refreshes it at concurrency 16. Lite 3.x
  # is a Python gRPC server, so py-spy (pinned, in a tools venv of its own) samples the thread
  # holding the GIL: the split between gRPC's own machinery and Lite's handlers, with the
  # server's CPU use, is the profile that says who bounds the refresh.
  LITE_PROFILE=""
  if ((LITE_OK)) && ! skipped profile && fits 60 "lite profile"; then
    TOOLS="$TARGET_DIR/bench/tools-venv"
    if [[ ! -x "$TOOLS/bin/py-spy" ]]; then
      { python3 -m venv "$TOOLS" && timeout 120 "$TOOLS/bin/pip" install -q py-spy==0.4.3; } >"$WORK/pyspy-install.log" 2>&1 \
        || note "3: py-spy could not be installed, no profile of Milvus Lite: $(tail -2 "$WORK/pyspy-install.log" | tr '\n' ' ')"
    fi
    if [[ -x "$TOOLS/bin/py-spy" ]]; then
      "$TOOLS/bin/py-spy" record --pid "$LITE_PID" --gil --nonblocking --rate 200 --format raw \
        --output "$WORK/lite.folded" >"$WORK/pyspy.log" 2>&1 &
      SPY_PID=$!
      PIDS+=("$SPY_PID")
      wait_line "$WORK/pyspy.log" "py-spy>" 20 >/dev/null
      SPY_T0="$(date +%s.%N)"
      SPY_CPU0="$(awk '{ print $14 + $15 }' "/proc/$LITE_PID/stat")"
      timeout 120 "$EX/refresh_bench" lite --uri "$LURI" --expect "$LITE_N" --rounds 4 --concurrency 16 \
        --no-baseline >"$WORK/lite-profiled.out" 2>>"$WORK/lite.err" || note "3: profiled refreshes failed"
      SPY_CPU1="$(awk '{ print $14 + $15 }' "/proc/$LITE_PID/stat")"
      SPY_T1="$(date +%s.%N)"
      kill -INT "$SPY_PID" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$SPY_PID" 2>/dev/null || break; sleep 0.1; done
      LITE_PROFILE="$(python3 scripts/py/pyspy_summary.py "$WORK/lite.folded" "$WORK/pyspy.log" "$SPY_T0" "$SPY_T1" "$SPY_CPU0" "$SPY_CPU1" "$(getconf CLK_TCK)" "$(dirname "$OUT")/lite-profile.txt")" || note "3: the py-spy profile could not be summarised: $(tail -2 "$WORK/pyspy.log" | tr '\n' ' ')"
    fi
  fi
  if ((LITE_OK)); then
    L16="$(awk '$2 == "lite_refresh_ms_c16" { print $3 }' "$WORK/lite.out")"
    L1="$(awk '$2 == "lite_refresh_ms_c1" { print $3 }' "$WORK/lite.out")"
    row "3 Lite refresh of $LITE_N collections, concurrency 16 (ms)" "$(fmt "$L16" 0)" "$(fmt "$L1" 0) (same library, max_concurrency 1)" "$(ratio "$L1" "$L16") faster" "≥ 8×" "$(cmp "$(awk -v a="$L1" -v b="$L16" 'BEGIN{print a/b}')" '>=' 8)"
    note "3: Lite refresh rounds (ms): $(grep '^lite:' "$WORK/lite.err" | sed 's/^lite: //'); medians of 5 interleaved rounds after one warm-up each. Milvus Lite's server used ${LITE_CPU_MS} ms of CPU per refresh: on $(nproc) cores no client can refresh it in less than $(awk -v c="$LITE_CPU_MS" -v n="$(nproc)" 'BEGIN { printf "%.0f", c / n }') ms, so the best possible ratio here is about $(fmt "$(awk -v a="$L1" -v b="$LITE_CPU_MS" -v n="$(nproc)" 'BEGIN{print a/(b/n)}')" 1)× (Lite, not the exporter, is the bottleneck)."
    [[ -n "$LITE_PROFILE" ]] && note "3: profile of Milvus Lite (py-spy, GIL-holding thread only) while refreshed at concurrency 16: $LITE_PROFILE (full profile: $(dirname "$OUT")/lite-profile.txt)."
  else
    row "3 Lite refresh of $LITE_N collections" "not measured" "—" "—" "≥ 8×" "n/a"
  fi
  # Milvus's CPU spent on the exporter, per minute, at a refresh every 10 s: before the two
  # cadences every refresh asked every collection (inventory with every refresh, "0s"); now the health
  # refresh does not, and the inventory pass (its CPU measured on the first refresh) runs every
  # 5 minutes, so a fifth of it is added per minute.
  if ((LITE_OK)) && fits 150 "lite cost"; then
    log "scenario 3e: Milvus Lite CPU per minute spent on the exporter at $LITE_N collections"
    COST_OK=1
    for mode in 0s 5m; do
      timeout 100 "$EX/refresh_bench" cost --uri "$LURI" --pid "$LITE_PID" --expect "$LITE_N" \
        --inventory "$mode" --window-s 60 --every-s 10 --hz "$(getconf CLK_TCK)" \
        >"$WORK/cost-$mode.out" 2>>"$WORK/cost.err" || COST_OK=0
    done
    if ((COST_OK)); then
      BEFORE="$(awk '$2 == "cost_cpu_ms_per_min" { print $3 }' "$WORK/cost-0s.out")"
      HEALTH="$(awk '$2 == "cost_cpu_ms_per_min" { print $3 }' "$WORK/cost-5m.out")"
      PASS="$(awk '$2 == "cost_first_refresh_cpu_ms" { print $3 }' "$WORK/cost-5m.out")"
      AFTER="$(awk -v h="$HEALTH" -v p="$PASS" 'BEGIN { print h + p / 5 }')"
      row "3 Milvus Lite CPU per minute on the exporter, $LITE_N collections, refresh every 10 s (ms)" "$(fmt "$AFTER" 0)" "$(fmt "$BEFORE" 0) (every refresh asks every collection, as before)" "$(ratio "$BEFORE" "$AFTER") less" "report" "—"
      note "3e: $(grep '^cost:' "$WORK/cost.err" | sed 's/^cost: //' | tr '\n' ' ')(after = health refreshes + one inventory pass every 5 min / 5)."
    else
      note "3e: refresh_bench cost failed: $(tail -3 "$WORK/cost.err" | tr '\n' ' ')"
    fi
  fi
  [[ -n "${LITE_PID:-}" ]] && { stop_group "$LITE_PID" 2 || true; }
fi

# ------------------------------------------------------------------------------------------
# 3d (opt-in, BENCH_STANDALONE=1). The same refresh against Milvus standalone 2.3.5, a Go
# server, with its CPU counted: does a multi-threaded Milvus on these 2 cores fare better than
# Lite? Opt-in because it installs a ~250 MB wheel and takes the fixed ports 19530/9091/2379.
# ------------------------------------------------------------------------------------------
if [[ "${BENCH_STANDALONE:-0}" == 1 ]] && ! skipped lite && fits 240 "standalone"; then
  log "scenario 3d: refresh of $LITE_N collections of Milvus standalone 2.3.5"
  SA_OK=1
  timeout $(($(left) - 120)) scripts/standalone.sh start --data "$WORK/standalone-data" >"$WORK/standalone.log" 2>&1 \
    || { SA_OK=0; note "3d: Milvus standalone did not start: $(tail -2 "$WORK/standalone.log" | tr '\n' ' ')"; }
  if ((SA_OK)); then
    SA_PY="$(VENV="${BENCH_VENV:-$REPO/.venv}" scripts/venv.sh 2>/dev/null | tail -1)"
    timeout $(($(left) - 60)) "$SA_PY" scripts/milvus_lite.py bulk --uri http://127.0.0.1:19530 --count "$LITE_N" \
      --prefix bulk_ --no-load --max-seconds $(($(left) - 70)) >"$WORK/sa-bulk.out" 2>&1 \
      || { SA_OK=0; note "3d: bulk creation failed: $(tail -2 "$WORK/sa-bulk.out" | tr '\n' ' ')"; }
  fi
  if ((SA_OK)); then
    SA_PGID="$(tr -dc '0-9' <"$REPO/.run/standalone.pgid")"
    sa_cpu() { local t=0 p; for p in $(pgrep -g "$SA_PGID"); do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
    # CPU of the profiled concurrency-16 refreshes only (warm-up + 4 rounds), then the comparison.
    SA_C0="$(sa_cpu)"
    timeout 300 "$EX/refresh_bench" lite --uri http://127.0.0.1:19530 --expect "$LITE_N" --rounds 4 --concurrency 16 \
      --no-baseline >"$WORK/sa-c16.out" 2>"$WORK/sa.err" || SA_OK=0
    SA_C1="$(sa_cpu)"
    ((SA_OK)) && timeout 300 "$EX/refresh_bench" lite --uri http://127.0.0.1:19530 --expect "$LITE_N" --rounds 5 \
      --concurrency 16 >"$WORK/sa.out" 2>>"$WORK/sa.err" || SA_OK=0
    ((SA_OK)) || note "3d: refresh_bench against standalone failed: $(tail -3 "$WORK/sa.err" | tr '\n' ' ')"
  fi
  if ((SA_OK)); then
    S16="$(awk '$2 == "lite_refresh_ms_c16" { print $3 }' "$WORK/sa.out")"
    S1="$(awk '$2 == "lite_refresh_ms_c1" { print $3 }' "$WORK/sa.out")"
    SA_CPU_MS="$(awk -v a="$SA_C0" -v b="$SA_C1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", (b - a) * 1000 / hz / 5 }')"
    row "3 standalone 2.3.5 refresh of $LITE_N collections, concurrency 16 (ms)" "$(fmt "$S16" 0)" "$(fmt "$S1" 0) (same library, max_concurrency 1)" "$(ratio "$S1" "$S16") faster" "≥ 8×" "$(cmp "$(awk -v a="$S1" -v b="$S16" 'BEGIN{print a/b}')" '>=' 8)"
    note "3d: Milvus standalone 2.3.5 used ${SA_CPU_MS} ms of CPU per refresh at concurrency 16: on $(nproc) cores that is at least $(awk -v c="$SA_CPU_MS" -v n="$(nproc)" 'BEGIN { printf "%.0f", c / n }') ms a refresh, so the best possible ratio is about $(fmt "$(awk -v a="$S1" -v b="$SA_CPU_MS" -v n="$(nproc)" 'BEGIN{print a/(b/n)}')" 1)×; rounds: $(grep '^lite:' "$WORK/sa.err" | sed 's/^lite: //')."
  fi
  scripts/standalone.sh stop >>"$WORK/standalone.log" 2>&1 || note "3d: scripts/standalone.sh stop failed: $(tail -1 "$WORK/standalone.log")"
fi

# ------------------------------------------------------------------------------------------
# 4. ~5,000 req/s of mixed probes and scrapes for 30 s at ttl 3s: refreshes asked of Milvus
# ------------------------------------------------------------------------------------------
if ! skipped load && fits 40 "load"; then
  log "scenario 4: ~5,000 req/s mixed for 30 s, ttl 3s"
  cat >"$WORK/mixed.lua" <<'EOF'
-- Mixed traffic at a paced rate: each connection waits `pause` ms after every answer.
local paths = { "/healthz", "/readyz", "/metrics", "/readyz", "/healthz" }
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
delay = function()
  return 10
end
EOF
  start_fake 100
  start_exporter load "$FAKE_URL" 3s 3s
  # The window opens on a stale cache, so its first request refreshes at t = 0 and then one
  # every ttl: ceil(30 / 3) = 10 exactly. /health waits for the exporter's start-up refresh,
  # which is then left to age past the ttl (the one sleep here: it is the ttl, not a wait
  # for readiness).
  curl -s "$EXP_URL/health" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["checks"]["collections"]["success"] else 1)' \
    || die "the load exporter's start-up refresh failed"
  sleep 3.2
  curl -s -o /dev/null "$FAKE_CTL/reset"
  run_wrk load "$EXP_URL" -t2 -c56 -d30s -s "$WORK/mixed.lua"
  L_RPS=$RPS L_ERR=$ERRS L_P99=$P99
  CALLS="$(curl -s "$FAKE_CTL/calls")"
  REFRESHES="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["CheckHealth"])' "$CALLS")"
  EXPECT=$(((30 + 2) / 3))
  row "4 refreshes in 30 s at $(fmt "$L_RPS" 0) req/s, ttl 3s (CheckHealth calls)" "$REFRESHES" "ceil(30/3) = $EXPECT" "$(ratio "$REFRESHES" "$EXPECT")" "exactly $EXPECT" "$(awk -v r="$REFRESHES" -v e="$EXPECT" 'BEGIN { print ((r == e) ? "yes" : "**no**") }')"
  note "4: wrk -t2 -c56 paced 10 ms per connection over /healthz, /readyz, /metrics (2:2:1), 100 collections; $(fmt "$L_RPS" 0) req/s achieved, p99 ${L_P99} ms, errors $L_ERR; RPCs of the fake in the window: $CALLS."
  stop_pid "$EXP_PID" 2 || true
  stop_pid "$FAKE_PID" 2 || true
fi

# ------------------------------------------------------------------------------------------
# 5. Cold start
# ------------------------------------------------------------------------------------------
if ! skipped cold && fits 30 "cold"; then
  log "scenario 5: cold start, 30 runs"
  start_fake 10
  cat >"$WORK/cold.toml" <<EOF
[log]
level = "warn"
[milvus]
address = "$FAKE_URL"
EOF
  "$EX/coldstart" --exe "$EXPORTER" --config "$WORK/cold.toml" --runs 30 >"$WORK/cold.out" 2>"$WORK/cold.err" \
    || die "coldstart failed: $(cat "$WORK/cold.err")"
  C_MED="$(awk '$2 == "coldstart_median_ms" { print $3 }' "$WORK/cold.out")"
  row "5 cold start → first 200 on /healthz (ms, median of 30)" "$(fmt "$C_MED" 1)" "—" "—" "≤ 50 ms" "$(cmp "$C_MED" '<=' 50)"
  note "5: $(sed 's/^coldstart: //' "$WORK/cold.err" | tail -1)."
  stop_pid "$FAKE_PID" 2 || true
fi

# ------------------------------------------------------------------------------------------
# 7. gzip: /metrics at 10,000 collections, bytes on the wire and p50, gzip against identity
# ------------------------------------------------------------------------------------------
# What Prometheus sends on every scrape.
PROM_ACCEPT='Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1'
if ! skipped gzip && fits $((2 * DUR + 40)) "gzip"; then
  log "scenario 7: /metrics with 10,000 collections, gzip against identity"
  start_fake 10000
  start_exporter gzip10k "$FAKE_URL" 1h 60s
  # The refresh and the plain rendering, then the first gzip scrape (which compresses), then
  # a second (memoised). Both bodies are checked: the gzip one must decode to the plain one.
  curl -s --max-time 60 -o "$WORK/gz-plain.txt" -H "$PROM_ACCEPT" "$EXP_URL/metrics"
  GZ_FIRST="$(curl -s --max-time 60 -o "$WORK/gz-first.bin" -w '%{time_total}' -H "$PROM_ACCEPT" -H 'Accept-Encoding: gzip' "$EXP_URL/metrics")"
  GZ_SECOND="$(curl -s --max-time 60 -o "$WORK/gz.bin" -w '%{time_total}' -H "$PROM_ACCEPT" -H 'Accept-Encoding: gzip' "$EXP_URL/metrics")"
  ID_BYTES="$(stat -c %s "$WORK/gz-plain.txt")"
  GZ_BYTES="$(stat -c %s "$WORK/gz.bin")"
  gzip -dc <"$WORK/gz.bin" >"$WORK/gz-decoded.txt" || die "the gzip /metrics answer does not decode"
  if ! diff -q <(grep -v '^milvus_exporter_cache_age_seconds ' "$WORK/gz-plain.txt") \
    <(grep -v '^milvus_exporter_cache_age_seconds ' "$WORK/gz-decoded.txt") >/dev/null; then
    die "the gzip /metrics answer does not decode to the identity one"
  fi
  for h in identity gzip; do
    wrk -t1 -c1 -d1s -H "$PROM_ACCEPT" -H "Accept-Encoding: $h" "$EXP_URL/metrics" >/dev/null 2>&1 || true
  done
  run_wrk metrics_identity "$EXP_URL/metrics" -t1 -c1 -d"${DUR}s" --timeout 10s -H "$PROM_ACCEPT"
  ID_P50=$P50 ID_P99=$P99
  run_wrk metrics_gzip "$EXP_URL/metrics" -t1 -c1 -d"${DUR}s" --timeout 10s -H "$PROM_ACCEPT" -H 'Accept-Encoding: gzip'
  GZ_P50=$P50 GZ_P99=$P99 GZ_ERR=$ERRS
  row "7 /metrics 10k collections, bytes on the wire (gzip, OpenMetrics)" "$GZ_BYTES" "$ID_BYTES (identity)" "$(ratio "$ID_BYTES" "$GZ_BYTES") fewer" "≥ 8× fewer" "$(cmp "$(awk -v a="$ID_BYTES" -v b="$GZ_BYTES" 'BEGIN{print a/b}')" '>=' 8)"
  row "7 /metrics 10k p50, gzip memoised (ms, one scraper)" "$(fmt "$GZ_P50" 2)" "$(fmt "$ID_P50" 2) (identity)" "$(ratio "$GZ_P50" "$ID_P50")" "≤ 1.5×" "$(cmp "$GZ_P50" '<=' "$(awk -v b="$ID_P50" 'BEGIN{print 1.5*b}')")"
  note "7: wrk -t1 -c1 -d${DUR}s with Prometheus's Accept header; p99 gzip ${GZ_P99} ms, identity ${ID_P99} ms; errors $GZ_ERR. The first gzip scrape of a snapshot compresses it (flate2 level 1): $(fmt "$(awk -v t="$GZ_FIRST" 'BEGIN{print t*1000}')" 1) ms in all, the next one $(fmt "$(awk -v t="$GZ_SECOND" 'BEGIN{print t*1000}')" 1) ms (curl, plain body already rendered)."
  stop_pid "$EXP_PID" 2 || true
  stop_pid "$FAKE_PID" 2 || true
fi

# ------------------------------------------------------------------------------------------
# 8. fleet: 100 and 1,000 targets of 100 collections each, 0 % and 10 % of them hung
# ------------------------------------------------------------------------------------------
# Targets are discovered ones, as Prometheus's service discovery sends them
# (/probe?target=ADDRESS, the default module, [fleet] allowed_targets = 127.0.0.1/32), on fake
# Milvus processes serving many ports each: one for the healthy targets, one for the hung ones
# (every RPC delayed an hour). A discovered target and a named [[targets]] entry take one path
# (the same cache and checks); BENCH_FLEET_NAMED=1 measures the named ones instead.
# fleet_target NAME URL: the config a target needs; fleet_probe_path NAME URL: how it is
# probed. The warm-up and the wrk scripts take every path from the second.
if [[ "${BENCH_FLEET_NAMED:-0}" == 1 ]]; then
  FLEET_KIND="named [[targets]] (/probe?target=NAME)"
  fleet_target() { printf '[[targets]]\nname = "%s"\naddress = "%s"\ntimeout = "2s"\n' "$1" "$2"; }
  fleet_probe_path() { printf '/probe?target=%s' "$1"; }
else
  FLEET_KIND="discovered targets (/probe?target=ADDRESS, default module)"
  fleet_target() { :; }
  fleet_probe_path() { printf '/probe?target=%s' "${2#http://}"; }
fi

# start_fleet NAME HEALTHY_FILE HUNG_FILE: an exporter for the targets listed (one
# "name url" a line) in the two files; sets EXP_PID EXP_URL.
start_fleet() {
  local name="$1" port cfg first
  port="$(free_port)"
  cfg="$WORK/$name.toml"
  first="$(awk 'NR == 1 { print $2 }' "$2")"
  {
    printf '[web]\nlisten_address = "127.0.0.1:%s"\n[log]\nlevel = "error"\n' "$port"
    printf '[milvus]\naddress = "%s"\ntimeout = "2s"\n[cache]\nttl = "2s"\nrefresh_interval = "0s"\n' "$first"
    printf '[readiness]\ndisabled_rules = ["memory", "disk"]\n'
    printf '[fleet]\nallowed_targets = ["127.0.0.1/32"]\nmax_targets = 2000\n'
    cat "$2" "$3" | while read -r n u; do fleet_target "$n" "$u"; done
  } >"$cfg"
  "$EXPORTER" --config "$cfg" >"$WORK/$name.log" 2>&1 &
  EXP_PID=$!
  PIDS+=("$EXP_PID")
  EXP_URL="http://127.0.0.1:$port"
  wait_http --any "$EXP_URL/healthz" 30 2>/dev/null || die "$EXP_URL/healthz did not answer within 30s: $(tail -3 "$WORK/$name.log")"
}

# fleet_lua FILE NAMES_FILE [PAUSE_MS]: a wrk script cycling /probe over the targets, each
# connection pausing PAUSE_MS after every answer (none by default).
fleet_lua() {
  {
    echo "local paths = {"
    while read -r n u; do printf '  "%s",\n' "$(fleet_probe_path "$n" "$u")"; done <"$2"
    echo "}"
    echo 'local i = 0'
    echo 'request = function() i = i + 1; return wrk.format("GET", paths[(i % #paths) + 1]) end'
    if [[ -n "${3:-}" ]]; then echo "delay = function() return $3 end"; fi
  } >"$1"
}

if ! skipped fleet && fits 240 "fleet"; then
  for N in 100 1000; do
    if ! fits 90 "fleet $N"; then continue; fi
    HUNG_N=$((N / 10))
    log "scenario 8: fleet of $N targets (100 collections each), 0 % and 10 % ($HUNG_N) hung"
    out="$WORK/fleet-ok.$N.out"
    "$EX/fake_milvus_server" --collections 100 --ports "$N" >"$out" 2>"$out.err" &
    PIDS+=("$!")
    OK_FAKE=$!
    hout="$WORK/fleet-hung.$N.out"
    "$EX/fake_milvus_server" --collections 100 --delay-ms 3600000 --ports "$HUNG_N" >"$hout" 2>"$hout.err" &
    PIDS+=("$!")
    HUNG_FAKE=$!
    OK_URLS="$(wait_line "$out" milvus-ports 60)" || die "fleet fake did not start"
    HUNG_URLS="$(wait_line "$hout" milvus-ports 60)" || die "hung fleet fake did not start"
    tr ' ' '\n' <<<"$OK_URLS" | awk '{ printf "ok-%04d %s\n", NR - 1, $0 }' >"$WORK/fleet-all.$N"
    head -n $((N - HUNG_N)) "$WORK/fleet-all.$N" >"$WORK/fleet-healthy.$N"
    tr ' ' '\n' <<<"$HUNG_URLS" | awk '{ printf "hung-%04d %s\n", NR - 1, $0 }' >"$WORK/fleet-hung.$N"
    : >"$WORK/fleet-none"
    fleet_lua "$WORK/fleet-healthy.$N.lua" "$WORK/fleet-healthy.$N"
    fleet_lua "$WORK/fleet-hung.$N.lua" "$WORK/fleet-hung.$N" 1000
    for mode in 0 10; do
      if ((mode == 0)); then
        start_fleet "fleet$N-0" "$WORK/fleet-all.$N" "$WORK/fleet-none"
        LIVE=$N WARM="$WORK/fleet-all.$N"
      else
        start_fleet "fleet$N-10" "$WORK/fleet-healthy.$N" "$WORK/fleet-hung.$N"
        LIVE=$((N - HUNG_N)) WARM="$WORK/fleet-healthy.$N"
      fi
      curl -s -o /dev/null --max-time 30 "$EXP_URL/metrics"
      RSS0="$(rss_mib "$EXP_PID")"
      CPU0="$(cpu_ms "$EXP_PID")"
      # Every healthy target once (its first refresh and inventory pass), 8 at a time.
      while read -r n u; do echo "$EXP_URL$(fleet_probe_path "$n" "$u")"; done <"$WARM" \
        | xargs -P 8 -n 16 sh -c 'for u; do curl -s -o /dev/null --max-time 30 "$u"; done' warm || true
      CPU1="$(cpu_ms "$EXP_PID")"
      sleep 1
      RSS1="$(rss_mib "$EXP_PID")"
      # Past the ttl (2 s; the one sleep here is the ttl, not a readiness wait), every target
      # once more: what one Prometheus scrape of a target costs once its inventory is taken
      # (a health refresh, the rendering and the answer).
      sleep 1.5
      CPU4="$(cpu_ms "$EXP_PID")"
      while read -r n u; do echo "$EXP_URL$(fleet_probe_path "$n" "$u")"; done <"$WARM" \
        | xargs -P 8 -n 16 sh -c 'for u; do curl -s -o /dev/null --max-time 30 "$u"; done' warm || true
      CPU5="$(cpu_ms "$EXP_PID")"
      eval "CPU_SCRAPE_$mode=$(awk -v a="$CPU4" -v b="$CPU5" -v n="$LIVE" 'BEGIN { printf "%.2f", (b - a) / n }')"
      PER_KIB="$(awk -v a="$RSS0" -v b="$RSS1" -v n="$LIVE" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')"
      if ((mode == 10)); then
        # The hung targets, each scraped by its own connection once a second after its last
        # answer (a short scrape interval): a scrape that finds no fresh snapshot waits out
        # its refresh's 2 s deadline, one within the ttl gets the failed snapshot at once.
        wrk -t1 -c"$HUNG_N" -d"$((DUR + 2))s" --timeout 10s --latency -s "$WORK/fleet-hung.$N.lua" "$EXP_URL" \
          >"$WORK/wrk.fleet-hung.$N.out" 2>&1 &
        HUNG_WRK=$!
        sleep 1
      fi
      CPU2="$(cpu_ms "$EXP_PID")"
      wrk -t1 -c1 -d"${DUR}s" --timeout 10s --latency "$EXP_URL/metrics" >"$WORK/wrk.fleet-metrics.$N.$mode.out" 2>&1 &
      MET_WRK=$!
      run_wrk "fleet-probe.$N.$mode" "$EXP_URL" -t1 -c4 -d"${DUR}s" --timeout 10s -s "$WORK/fleet-healthy.$N.lua"
      eval "PR_P50_$mode=$P50 PR_P99_$mode=$P99 PR_ERR_$mode=$ERRS PR_RPS_$mode=$RPS"
      wait "$MET_WRK" || true
      CPU3="$(cpu_ms "$EXP_PID")"
      PR_REQ="$(awk '/requests in/ { print $1 }' "$WORK/wrk.fleet-probe.$N.$mode.out")"
      f="$WORK/wrk.fleet-metrics.$N.$mode.out"
      to_ms='function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }'
      eval "MET_P99_$mode=$(awk "$to_ms"' $1 == "99%" { print ms($2) }' "$f")"
      eval "MET_ERR_$mode=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }' "$f")"
      eval "MET_REQ_$mode=$(awk '/requests in/ { print $1 }' "$f")"
      if ((mode == 10)); then
        wait "$HUNG_WRK" || true
        f="$WORK/wrk.fleet-hung.$N.out"
        HUNG_P50="$(awk "$to_ms"' $1 == "50%" { print ms($2) }' "$f")"
        HUNG_REQ="$(awk '/requests in/ { print $1 }' "$f")"
        HUNG_NON2XX="$(awk '/Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }' "$f")"
      fi
      eval "RSS0_$mode=$RSS0 RSS1_$mode=$RSS1 PER_$mode=$PER_KIB LIVE_$mode=$LIVE"
      # CPU of one target's first probe (refresh and inventory pass of 100 collections), and
      # of one cached answer (the probe window's CPU over its /probe and /metrics answers).
      eval "CPU_FIRST_$mode=$(awk -v a="$CPU0" -v b="$CPU1" -v n="$LIVE" 'BEGIN { printf "%.2f", (b - a) / n }')"
      eval "CPU_CACHED_$mode=$(awk -v a="$CPU2" -v b="$CPU3" -v n="$PR_REQ" -v m="$(eval echo "\$MET_REQ_$mode")" 'BEGIN { printf "%.3f", (b - a) / (n + m) }')"
      stop_pid "$EXP_PID" 2 || true
    done
    stop_pid "$OK_FAKE" 2 || true
    stop_pid "$HUNG_FAKE" 2 || true
    row "8 RSS per live target, $N targets of 100 collections (KiB)" "$PER_0" "$RSS0_0 MiB before the first probe, $RSS1_0 MiB after" "—" "report" "—"
    row "8 /probe p50 of healthy targets, $N targets, 10 % hung (ms)" "$(fmt "$PR_P50_10" 2)" "$(fmt "$PR_P50_0" 2) (0 % hung)" "$(ratio "$PR_P50_10" "$PR_P50_0")" "report" "—"
    row "8 /probe p99 of healthy targets, $N targets, 10 % hung (ms)" "$(fmt "$PR_P99_10" 2)" "$(fmt "$PR_P99_0" 2) (0 % hung)" "$(ratio "$PR_P99_10" "$PR_P99_0")" "report" "—"
    row "8 exporter's own /metrics p99 while 10 % of $N targets hang (ms)" "$(fmt "$MET_P99_10" 2)" "$(fmt "$MET_P99_0" 2) (0 % hung)" "$(ratio "$MET_P99_10" "$MET_P99_0")" "≤ 2×, all 200" "$(awk -v a="$MET_P99_10" -v b="$MET_P99_0" -v e="$MET_ERR_10" 'BEGIN { print ((a <= 2 * b && e == 0) ? "yes" : "**no**") }')"
    row "8 exporter CPU per scrape of a target, $N targets (ms: health refresh + answer)" "$CPU_SCRAPE_0" "$CPU_FIRST_0 (first probe: + inventory of 100 collections); $CPU_CACHED_0 per cached answer" "—" "report" "—"
    note "8 ($N targets): $FLEET_KIND, each timeout 2s, ttl 2s; fakes of 100 collections, one process for the healthy ports and one for the $HUNG_N hung ones (1 h per RPC). RSS (VmRSS) before the first probe and after every target's first probe: 0 % hung ${RSS0_0} → ${RSS1_0} MiB (${LIVE_0} live), 10 % hung ${RSS0_10} → ${RSS1_10} MiB (${LIVE_10} live, ${PER_10} KiB each). /probe over the healthy targets wrk -t1 -c4 -d${DUR}s (non-2xx: ${PR_ERR_0} / ${PR_ERR_10}); /metrics wrk -t1 -c1 beside it: ${MET_REQ_0} / ${MET_REQ_10} requests, non-2xx ${MET_ERR_0} / ${MET_ERR_10}; the hung targets' own probes (${HUNG_N} connections): ${HUNG_REQ} answers, p50 ${HUNG_P50} ms, non-2xx ${HUNG_NON2XX}."
  done
fi

# ------------------------------------------------------------------------------------------
# 6. Binary size
# ------------------------------------------------------------------------------------------
if ! skipped size; then
  SIZE="$(stat -c %s "$EXPORTER")"
  PROFILE="$(awk '/^\[profile.release\]/ { on = 1; next } /^\[/ { on = 0 } on && NF && !/^#/ { printf "%s%s", sep, $0; sep = ", " }' Cargo.toml)"
  row "6 release binary size (MiB)" "$(awk -v s="$SIZE" 'BEGIN { printf "%.2f", s / 1048576 }')" "—" "—" "report" "—"
  note "6: [profile.release] ${PROFILE:-defaults}."
fi

print_table
