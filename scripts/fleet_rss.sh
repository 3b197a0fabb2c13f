#!/usr/bin/env bash
# What one live discovered /probe target costs in memory (docs/fleet.md), on the release binary:
# N fake Milvus (examples/fake_milvus_server, C collections each) on loopback, one exporter
# whose [fleet] allows 127.0.0.1/32; VmRSS after one target is probed (the baseline, in the
# same run), then after all N are, each twice. Prints one line per figure.
#
#   bash scripts/fleet_rss.sh [N=40] [C=100]
#
# Bounded: N at most 200, every wait has a timeout, every process started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

N="${1:-40}"
C="${2:-100}"
((N >= 2 && N <= 200)) || { echo "N must be 2-200" >&2; exit 2; }
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
REL="$TARGET_DIR/release"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

timeout 1800 cargo build --release --bin milvus_exporter --example fake_milvus_server >&2

ADDRS=()
for ((i = 0; i < N; i++)); do
  out="$WORK/fake.$i.out"
  "$REL/examples/fake_milvus_server" --collections "$C" >"$out" 2>"$out.err" &
  PIDS+=("$!")
  url="$(wait_line "$out" milvus 20)"
  ADDRS+=("${url#http://}")
done

port="$(free_port)"
cat >"$WORK/exporter.toml" <<EOF
[web]
listen_address = "127.0.0.1:$port"
[log]
level = "warn"
[milvus]
address = "${ADDRS[0]}"
[cache]
refresh_interval = "0s"
[fleet]
allowed_targets = ["127.0.0.1/32"]
EOF
"$REL/milvus_exporter" --config "$WORK/exporter.toml" 2>"$WORK/exporter.err" &
EXP=$!
PIDS+=("$EXP")
wait_http "http://127.0.0.1:$port/healthz" 20 >/dev/null

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$EXP/status"; }
probe() { curl -sf -o /dev/null --max-time 10 "http://127.0.0.1:$port/probe?target=$1"; }

probe "${ADDRS[1]}"
probe "${ADDRS[1]}"
sleep 1
BASE="$(rss_kib)"
for round in 1 2; do
  for a in "${ADDRS[@]:1}"; do probe "$a"; done
done
sleep 1
ALL="$(rss_kib)"
LIVE="$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^milvus_exporter_probe_targets\{state="live"\}/ {print $2}')"
echo "collections per target: $C"
echo "live discovered targets: $LIVE"
echo "rss with 1 target: ${BASE} KiB"
echo "rss with $((N - 1)) targets: ${ALL} KiB"
echo "rss per further target: $(((ALL - BASE) / (N - 2))) KiB"
