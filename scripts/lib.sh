# shellcheck shell=bash
# Shared helpers of the scripts in this folder: loopback ports, bounded waits, process groups.
# Source it:   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
#   free_port                       a free TCP port on 127.0.0.1 (printed)
#   port_open PORT                  something accepts TCP connections on 127.0.0.1:PORT
#   port_bindable PORT              127.0.0.1:PORT can be bound (SO_REUSEADDR: TIME_WAIT is free)
#   http_get URL [SECONDS]          prints the body; fails unless the answer is 2xx
#   http_code URL [SECONDS]         prints the status code, 000 when nothing answered
#   wait_tcp PORT SECONDS [WHAT]    until 127.0.0.1:PORT accepts a connection
#   wait_tcp_closed PORT SECONDS [WHAT]  until 127.0.0.1:PORT no longer accepts one
#   wait_line FILE PREFIX SECONDS   until FILE has a line "PREFIX rest"; prints the rest (a server
#                                   announcing its address on stdout)
#   wait_http [--any] [--status N] [--pgid G | --pid P] URL SECONDS [WHAT]
#                                   until URL answers 2xx (--any: any HTTP answer; --status N:
#                                   exactly N); gives up at once when group G / process P is gone
#   start_group [--append] PGIDFILE LOG CMD...
#                                   runs CMD in the background in its own session and process
#                                   group (setsid), stdin /dev/null, stdout+stderr to LOG; writes
#                                   the group id to PGIDFILE and sets LIB_PGID (the group id, which
#                                   is also CMD's pid). The job is disowned: bash still reaps it
#                                   but prints no "Killed" notice when a stop_group ends it
#   group_alive PGID                some process of group PGID is alive
#   stop_group PGID [GRACE] [KILL_WAIT]
#                                   SIGTERM, up to GRACE seconds (default 5; 0: SIGKILL at once),
#                                   then SIGKILL and up to KILL_WAIT seconds (default 5) until the
#                                   group is gone; fails (message on stderr) if it is not
#   stop_pid PID [GRACE] [KILL_WAIT]     the same for one process
#
# Every wait is bounded in time and in iterations and, when it gives up, says on stderr what it
# was waiting for. Only 127.0.0.1 is ever used.

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIB_PY="$LIB_DIR/py"
LIB_PYTHON="${LIB_PYTHON:-python3}"

free_port() {
    "$LIB_PYTHON" "$LIB_PY/ports.py" free
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_bindable() {
    "$LIB_PYTHON" "$LIB_PY/ports.py" bindable "$1"
}

http_get() {
    local url=$1 secs=${2:-5}
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time "$secs" "$url"
    else
        "$LIB_PYTHON" "$LIB_PY/ports.py" get "$url" "$secs"
    fi
}

http_code() {
    local url=$1 secs=${2:-2}
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null --max-time "$secs" -w '%{http_code}' "$url" 2>/dev/null || true
    else
        "$LIB_PYTHON" "$LIB_PY/ports.py" code "$url" "$secs" 2>/dev/null || echo 000
    fi
}

# _lib_iterations SECONDS STEP: how many sleeps of STEP fit in SECONDS (at least 1).
_lib_iterations() {
    awk -v s="$1" -v d="$2" 'BEGIN { n = int(s / d + 0.999); print (n < 1) ? 1 : n }'
}

wait_tcp() {
    local port=$1 secs=$2 what=${3:-"127.0.0.1:$1"} end=$((SECONDS + ${2%.*} + 1)) i n
    n=$(_lib_iterations "$secs" 0.1)
    for ((i = 0; i < n && SECONDS <= end; i++)); do
        port_open "$port" && return 0
        sleep 0.1
    done
    port_open "$port" && return 0
    echo "timed out after ${secs}s waiting for $what to accept TCP connections on 127.0.0.1:$port" >&2
    return 1
}

wait_tcp_closed() {
    local port=$1 secs=$2 what=${3:-"127.0.0.1:$1"} end=$((SECONDS + ${2%.*} + 1)) i n
    n=$(_lib_iterations "$secs" 0.1)
    for ((i = 0; i < n && SECONDS <= end; i++)); do
        port_open "$port" || return 0
        sleep 0.1
    done
    port_open "$port" || return 0
    echo "timed out after ${secs}s waiting for $what to stop accepting TCP connections on 127.0.0.1:$port" >&2
    return 1
}

wait_line() {
    local file=$1 prefix=$2 secs=$3 end=$((SECONDS + ${3%.*} + 1)) i n line
    n=$(_lib_iterations "$secs" 0.05)
    for ((i = 0; i <= n && SECONDS <= end; i++)); do
        line="$(grep -m1 "^$prefix " "$file" 2>/dev/null || true)"
        if [[ -n "$line" ]]; then
            echo "${line#"$prefix "}"
            return 0
        fi
        sleep 0.05
    done
    echo "timed out after ${secs}s waiting for a '$prefix' line in $file: $(tail -5 "$file" 2>/dev/null)" >&2
    return 1
}

wait_http() {
    local mode=2xx want="" pgid="" pid=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --any) mode=any ;;
            --status) mode=exact; want=$2; shift ;;
            --pgid) pgid=$2; shift ;;
            --pid) pid=$2; shift ;;
            *) break ;;
        esac
        shift
    done
    local url=$1 secs=$2 what=${3:-$1} end=$((SECONDS + ${2%.*} + 1)) i n code=000
    n=$(_lib_iterations "$secs" 0.1)
    for ((i = 0; i < n && SECONDS <= end; i++)); do
        if [[ -n "$pgid" ]] && ! group_alive "$pgid"; then
            echo "gave up waiting for $what ($url): its process group $pgid exited (last status $code)" >&2
            return 1
        fi
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            echo "gave up waiting for $what ($url): its process $pid exited (last status $code)" >&2
            return 1
        fi
        code=$(http_code "$url" 2)
        case "$mode" in
            any) [[ "$code" != 000 ]] && return 0 ;;
            exact) [[ "$code" == "$want" ]] && return 0 ;;
            *) [[ "$code" == 2?? ]] && return 0 ;;
        esac
        sleep 0.1
    done
    local expected="a 2xx status"
    [[ $mode == any ]] && expected="any HTTP status"
    [[ $mode == exact ]] && expected="status $want"
    echo "timed out after ${secs}s waiting for $what: $url did not answer with $expected (last status $code)" >&2
    return 1
}

start_group() {
    local append=0
    [[ "${1:-}" == --append ]] && { append=1; shift; }
    local pgfile=$1 log=$2 i
    shift 2
    LIB_PGID=""
    rm -f "$pgfile"
    # The inner bash is the leader of the new group; `exec` makes CMD that same process.
    # shellcheck disable=SC2016  # $$ and $@ are for the inner bash
    if [[ $append == 1 ]]; then
        setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' start_group "$pgfile" "$@" </dev/null >>"$log" 2>&1 &
    else
        setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' start_group "$pgfile" "$@" </dev/null >"$log" 2>&1 &
    fi
    disown "$!"
    for ((i = 0; i < 100; i++)); do
        [[ -s "$pgfile" ]] && LIB_PGID=$(tr -dc '0-9' <"$pgfile")
        [[ -n "$LIB_PGID" ]] && return 0
        sleep 0.05
    done
    echo "no process group id from '$*' within 5 s (log: $log)" >&2
    return 1
}

group_alive() {
    [[ -n "${1:-}" ]] && kill -0 -- "-$1" 2>/dev/null
}

# _lib_stop TARGET GRACE KILL_WAIT: TARGET is "-PGID" (a group) or "PID".
_lib_stop() {
    local target=$1 grace=${2:-5} kill_wait=${3:-5} i n
    kill -0 -- "$target" 2>/dev/null || return 0
    if [[ "$grace" != 0 ]]; then
        kill -TERM -- "$target" 2>/dev/null || true
        n=$(_lib_iterations "$grace" 0.1)
        for ((i = 0; i < n; i++)); do kill -0 -- "$target" 2>/dev/null || return 0; sleep 0.1; done
    fi
    kill -KILL -- "$target" 2>/dev/null || true
    n=$(_lib_iterations "$kill_wait" 0.1)
    for ((i = 0; i < n; i++)); do kill -0 -- "$target" 2>/dev/null || return 0; sleep 0.1; done
    local what="process $target"
    [[ "$target" == -* ]] && what="process group ${target#-}"
    echo "$what still alive ${kill_wait}s after SIGKILL" >&2
    return 1
}

stop_group() {
    [[ -n "${1:-}" ]] || return 0
    _lib_stop "-$1" "${2:-5}" "${3:-5}"
}

stop_pid() {
    [[ -n "${1:-}" ]] || return 0
    _lib_stop "$1" "${2:-5}" "${3:-5}"
}
