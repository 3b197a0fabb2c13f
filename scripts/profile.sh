#!/usr/bin/env bash
# CPU profile of the /metrics path at 10,000 collections, one command:
#
#   scripts/profile.sh            # writes target/bench/metrics-profile.txt and prints its top
#
# Two profiles with `perf` (Debian's linux-perf, installed with apt-get when missing), of
# binaries built with the `profiling` profile (release with symbols kept):
#   render   the rendering the first scrape after each refresh pays (refresh_bench render:
#            a real refresh of the in-process fake Milvus, then the families rendered
#            200 times in each format), flat profile by symbol;
#   serve    the exporter answering /metrics for 10,000 collections under wrk (the memoised
#            answer every later scrape gets), by shared object and by symbol.
# Bounded: each recording lasts at most PROFILE_SECONDS (default 10) seconds.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"
SECS="${PROFILE_SECONDS:-10}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
OUT="$REPO/target/bench/metrics-profile.txt"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/milvus-exporter-profile.XXXXXX")"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
die() { printf 'profile: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'profile: %s\n' "$*" >&2; }

need=()
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if ((${#need[@]})); then
  [[ "$(id -u)" == 0 ]] || die "missing ${need[*]} and this is not root: apt-get install ${need[*]}"
  log "installing ${need[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

log "building with the profiling profile (release, symbols kept)"
cargo build --profile profiling --bin milvus_exporter --example refresh_bench --example fake_milvus_server >&2
BIN="$TARGET_DIR/profiling"
mkdir -p "$(dirname "$OUT")"

top() { # perf.data sort-key lines (awk reads to the end: no SIGPIPE under pipefail)
  perf report -i "$1" --no-children --sort "$2" --stdio 2>/dev/null \
    | awk -v n="$3" '/^ +[0-9]/ && c++ < n { print substr($0, 1, 160) }'
}

log "1/2 render: refresh_bench render --collections 10000 --rounds 200"
timeout $((SECS * 6)) perf record -F 999 -o "$WORK/render.data" -- \
  "$BIN/examples/refresh_bench" render --collections 10000 --rounds 200 >"$WORK/render.out" 2>&1 \
  || die "perf record of the render failed: $(tail -3 "$WORK/render.out")"

log "2/2 serve: /metrics with 10,000 collections under wrk for ${SECS}s"
"$BIN/examples/fake_milvus_server" --collections 10000 >"$WORK/fake.out" 2>&1 &
PIDS+=($!)
MURL="$(wait_line "$WORK/fake.out" milvus 20 2>/dev/null || true)"
[[ -n "$MURL" ]] || die "the fake Milvus did not start: $(cat "$WORK/fake.out")"
PORT="$(free_port)"
printf '[web]\nlisten_address = "127.0.0.1:%s"\n[log]\nlevel = "warn"\n[milvus]\naddress = "%s"\ntimeout = "60s"\n[cache]\nttl = "1h"\nrefresh_interval = "0s"\n' \
  "$PORT" "$MURL" >"$WORK/exporter.toml"
"$BIN/milvus_exporter" --config "$WORK/exporter.toml" >"$WORK/exporter.log" 2>&1 &
EXP=$!
PIDS+=("$EXP")
curl -s --retry 50 --retry-connrefused --retry-delay 0 --max-time 60 -o /dev/null "http://127.0.0.1:$PORT/metrics" \
  || die "the exporter did not answer /metrics: $(tail -3 "$WORK/exporter.log")"
timeout $((SECS + 10)) perf record -F 999 -p "$EXP" -o "$WORK/serve.data" -- sleep "$SECS" >/dev/null 2>&1 &
PERF=$!
wrk -t2 -c4 -d"${SECS}s" --timeout 10s "http://127.0.0.1:$PORT/metrics" >"$WORK/wrk.out" 2>&1
wait "$PERF" || true

{
  echo "# /metrics at 10,000 collections: where the CPU goes ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, rev $(git rev-parse --short=12 HEAD))"
  echo
  echo "## render (first scrape after a refresh): $(grep -E '^RESULT' "$WORK/render.out" | tr '\n' ' ')"
  top "$WORK/render.data" symbol 25
  echo
  echo "## serve (memoised answer): $(awk '/Requests\/sec/ { print $2 " req/s" }' "$WORK/wrk.out") with 4 in flight"
  top "$WORK/serve.data" dso 6
  echo
  top "$WORK/serve.data" symbol 25
} >"$OUT"
cat "$OUT"
log "written to $OUT"
