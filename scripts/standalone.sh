#!/usr/bin/env bash
# Milvus standalone 2.3.5 (the `milvus` PyPI package: an embedded etcd + rocksmq + all the
# Milvus components in one `milvus run standalone` process) for the slow end-to-end suite.
#
#   scripts/standalone.sh start  [--auth] [--data DIR] [--keep-data]
#   scripts/standalone.sh stop   [--graceful]
#   scripts/standalone.sh status
#
# start   installs milvus==2.3.5 into the venv if missing, starts `milvus-server` (through the
#         launcher scripts/py/standalone_launcher.py, which keeps it on its fixed ports) with setsid
#         (its own session and process group) in the background, logs to .run/standalone.log,
#         records the process group id in .run/standalone.pgid and waits (bounded,
#         STANDALONE_START_TIMEOUT, default 120 s) until GET http://127.0.0.1:9091/healthz answers
#         OK and the gRPC port 19530 answers a gRPC call. --auth turns on authentication
#         (user root, password Milvus). Refuses to start when one of Milvus' fixed ports is taken.
#         DIR (default .run/standalone-data) keeps the extracted Milvus binary (DIR/bin) between
#         runs; its state (DIR/data: etcd, rocksmq, segments; DIR/logs) is wiped at every start
#         unless --keep-data, because reusing the state of a SIGKILLed server makes Milvus wait
#         about 60 s for the old etcd sessions to expire.
# stop    SIGKILLs the whole process group (killing only the milvus-server wrapper leaves its
#         `milvus` child running) and waits (bounded, 60 s) until the group is gone and the
#         ports 19530/9091/2379 are free. --graceful sends SIGTERM first and waits up to 30 s.
# status  prints whether it runs and the healthz answer; exit 0 running and healthy, 1 running
#         but not healthy, 3 not running.
#
# Fixed ports (not configurable by the tests): 19530 gRPC, 9091 metrics/healthz, 2379/2380
# etcd, and the internal 19529 19531 53100 21121 21123 21124 13333 22930. Milvus listens on every
# interface for most of them; only 127.0.0.1 is ever contacted here.
#
# Environment: VENV_STANDALONE (default <repo>/.venv-standalone), STANDALONE_RUN_DIR (default
# <repo>/.run), STANDALONE_START_TIMEOUT (seconds, default 120).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
VENV=${VENV_STANDALONE:-$ROOT/.venv-standalone}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
RUN_DIR=${STANDALONE_RUN_DIR:-$ROOT/.run}
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$PWD/$RUN_DIR" ;; esac
START_TIMEOUT=${STANDALONE_START_TIMEOUT:-120}
PGID_FILE="$RUN_DIR/standalone.pgid"
LOG="$RUN_DIR/standalone.log"
PIN="milvus==2.3.5"           # no dependencies: the wheel carries the binary and its libraries
MARKER="$VENV/.milvus_exporter_standalone"
GRPC_PORT=19530
HTTP_PORT=9091
MAIN_PORTS=(19530 9091 2379)
ALL_PORTS=(19530 9091 2379 2380 19529 19531 53100 21121 21123 21124 13333 22930)

say() { echo "standalone.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    sed -n '2,31p' "${BASH_SOURCE[0]}" | sed -e 's/^# \{0,1\}//' >&2
    exit 2
}

# `milvus-server` (milvus/__init__.py) picks every port by trying to bind 127.0.0.1:PORT, then
# PORT+1, ... without SO_REUSEADDR. Right after a stop, the TIME_WAIT sockets the killed server
# leaves on its own ports (9091 gets one for every /healthz request) make that bind fail, and the
# wrapper silently moves /healthz and /metrics to 9092, 9093, ... (and could move gRPC off 19530).
# The launcher, scripts/py/standalone_launcher.py, is `milvus-server` with that probe fixed:
# SO_REUSEADDR (TIME_WAIT no longer counts, a real listener still does) and no moving: a taken
# port is an error.
LAUNCHER="$ROOT/scripts/py/standalone_launcher.py"

# ---------------------------------------------------------------------------------- helpers
# port_open, group_alive, http_get, start_group, stop_group, wait_tcp_closed: scripts/lib.sh.

read_pgid() {
    [[ -f "$PGID_FILE" ]] || return 1
    local p
    p=$(tr -dc '0-9' <"$PGID_FILE")
    [[ -n "$p" ]] || return 1
    echo "$p"
}

healthz_body() { # prints the body of GET :9091/healthz, fails when there is no 2xx answer
    http_get "http://127.0.0.1:$HTTP_PORT/healthz" 2 2>/dev/null
}

# A real gRPC round trip (MilvusService/GetVersion, empty message) when curl speaks HTTP/2:
# any grpc-status trailer means the gRPC server answers (with --auth it is 16 Unauthenticated).
# Without an HTTP/2-capable curl, a TCP accept on 19530 has to do.
grpc_answers() {
    if command -v curl >/dev/null 2>&1 && curl -V 2>/dev/null | grep -q 'HTTP2'; then
        printf '\x00\x00\x00\x00\x00' \
            | curl -sS --max-time 3 --http2-prior-knowledge -o /dev/null -D - -X POST \
                -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- \
                "http://127.0.0.1:$GRPC_PORT/milvus.proto.milvus.MilvusService/GetVersion" \
                2>/dev/null | grep -qi '^grpc-status:'
    else
        port_open "$GRPC_PORT"
    fi
}

taken_ports() {
    local p out=()
    for p in "${ALL_PORTS[@]}"; do
        port_open "$p" && out+=("$p")
    done
    echo "${out[*]:-}"
}

who_listens() { # best effort: what holds the ports
    if command -v ss >/dev/null 2>&1; then
        ss -ltnp 2>/dev/null | grep -E ":($(IFS='|'; echo "${ALL_PORTS[*]}"))\b" | sed -e 's/^/    /' >&2 || true
    fi
}

# ------------------------------------------------------------------------------- install
ensure_venv() {
    local py="$VENV/bin/python"
    if [[ -x "$py" && -x "$VENV/bin/milvus-server" && -f "$MARKER" && "$(cat "$MARKER")" == "$PIN" ]]; then
        return 0
    fi
    # Already installed by someone else (no marker): verify the version, do not reinstall.
    if [[ -x "$py" && -x "$VENV/bin/milvus-server" ]] \
        && [[ "$("$py" -c 'from importlib.metadata import version; print(version("milvus"))' 2>/dev/null)" == "${PIN#*==}" ]]; then
        printf '%s\n' "$PIN" >"$MARKER"
        return 0
    fi
    if [[ ! -x "$py" ]]; then
        say "creating venv at $VENV"
        if ! python3 -m venv "$VENV" >&2; then
            if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
                say "python3 -m venv failed; installing python3-venv with apt-get"
                rm -rf "$VENV"
                DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
                python3 -m venv "$VENV" >&2
            else
                die "'python3 -m venv $VENV' failed; install python3-venv and retry"
            fi
        fi
    fi
    say "installing $PIN into $VENV (a ~250 MB wheel)"
    rm -f "$MARKER"
    "$py" -m pip install --disable-pip-version-check --no-input -q "$PIN" >&2
    [[ -x "$VENV/bin/milvus-server" ]] || die "$PIN installed but $VENV/bin/milvus-server is missing"
    printf '%s\n' "$PIN" >"$MARKER"
}

# --------------------------------------------------------------------------------- stop
stop_standalone() { # pgid graceful(0|1): SIGTERM and 30 s if graceful, then SIGKILL; bounded
    local pgid=$1 grace=0 p
    [[ $2 == 1 ]] && grace=30
    stop_group "$pgid" "$grace" 60 || return 1
    for p in "${MAIN_PORTS[@]}"; do
        wait_tcp_closed "$p" 60 "Milvus standalone, stopped," 2>/dev/null || return 1
    done
}

main_ports_taken() {
    local p out=()
    for p in "${MAIN_PORTS[@]}"; do port_open "$p" && out+=("$p"); done
    echo "${out[*]:-}"
}

cmd_stop() {
    local graceful=0 pgid t0
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --graceful) graceful=1 ;;
            *) usage ;;
        esac
        shift
    done
    if ! pgid=$(read_pgid); then
        local busy
        busy=$(main_ports_taken)
        if [[ -n "$busy" ]]; then
            say "no $PGID_FILE, but ports $busy are taken by something this script did not start:"
            who_listens
            exit 1
        fi
        say "not running"
        return 0
    fi
    t0=$(date +%s.%N)
    if ! stop_standalone "$pgid" "$graceful"; then
        say "process group $pgid stopped but ports $(main_ports_taken) are still taken after 60 s:"
        who_listens
        exit 1
    fi
    rm -f "$PGID_FILE"
    say "stopped (process group $pgid) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
}

# -------------------------------------------------------------------------------- start
cmd_start() {
    local auth=0 data="$RUN_DIR/standalone-data" keep=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --auth) auth=1 ;;
            --data) [[ $# -ge 2 ]] || usage; data=$2; shift ;;
            --data=*) data=${1#--data=} ;;
            --keep-data) keep=1 ;;
            *) usage ;;
        esac
        shift
    done
    case "$data" in /*) ;; *) data="$PWD/$data" ;; esac

    local old
    if old=$(read_pgid); then
        if group_alive "$old"; then
            die "already running (process group $old, $PGID_FILE); run '$0 stop' first"
        fi
        rm -f "$PGID_FILE"
    fi
    local busy
    busy=$(taken_ports)
    if [[ -n "$busy" ]]; then
        say "error: cannot start Milvus standalone: port(s) $busy on 127.0.0.1 already taken."
        say "Milvus standalone needs the fixed ports ${ALL_PORTS[*]}. Stop whatever holds them:"
        who_listens
        exit 1
    fi

    ensure_venv
    mkdir -p "$RUN_DIR" "$data"
    if [[ $keep == 0 ]]; then
        rm -rf "$data/data" "$data/logs"
    fi

    local args=(--data "$data")
    [[ $auth == 1 ]] && args+=(--authorization-enabled true)
    {
        echo "==== $(date -u +%FT%TZ) standalone.sh start: $VENV/bin/milvus-server ${args[*]} ===="
    } >>"$LOG"
    local t0
    t0=$(date +%s.%N)
    # Its own session and process group (lib.sh start_group): the group id is that of
    # milvus-server and of the `milvus` child it spawns.
    start_group --append "$PGID_FILE.new" "$LOG" "$VENV/bin/python" "$LAUNCHER" "${args[@]}" \
        || die "milvus-server did not start (no process group id); log: $LOG"
    local pgid=$LIB_PGID
    mv "$PGID_FILE.new" "$PGID_FILE"

    local deadline=$((SECONDS + START_TIMEOUT)) health="" why="not ready within ${START_TIMEOUT} s" i
    for ((i = 0; i <= 2 * START_TIMEOUT + 2; i++)); do
        if ! group_alive "$pgid"; then
            why="milvus-server exited"
            break
        fi
        health=$(healthz_body || true)
        if [[ "$health" == "OK" ]] && grpc_answers; then
            say "Milvus standalone 2.3.5 ready on 127.0.0.1:$GRPC_PORT (auth $([[ $auth == 1 ]] && echo on || echo off), process group $pgid, data $data) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            why="not ready within ${START_TIMEOUT} s (healthz: '${health:-no answer}')"
            break
        fi
        sleep 0.5
    done
    say "error: $why; log $LOG (Milvus' own logs: $data/logs). Last lines:"
    tail -n 30 "$LOG" | sed -e 's/^/    /' >&2
    [[ -f "$data/logs/milvus-stderr.log" ]] && tail -n 15 "$data/logs/milvus-stderr.log" | sed -e 's/^/    /' >&2
    stop_standalone "$pgid" 0 || true
    rm -f "$PGID_FILE"
    exit 1
}

cmd_status() {
    local pgid health
    if ! pgid=$(read_pgid) || ! group_alive "$pgid"; then
        echo "not running"
        exit 3
    fi
    if health=$(healthz_body) && [[ "$health" == "OK" ]]; then
        echo "running (process group $pgid), healthz OK"
        exit 0
    fi
    echo "running (process group $pgid), healthz: ${health:-no answer}"
    exit 1
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
