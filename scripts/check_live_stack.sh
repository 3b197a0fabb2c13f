#!/usr/bin/env bash
# Live check of the monitoring stack: real Milvus Lite -> milvus_exporter -> real Prometheus
# (Debian's 2.42) with the repo's scrape relabelling and alert rules, then every Grafana
# dashboard query and one real alert.
#
#   1. tools: promtool + prometheus (apt-get install prometheus if missing), .venv
#      (scripts/venv.sh) with PyYAML
#   2. cargo build (CARGO_TARGET_DIR respected; the binary is found through cargo metadata)
#   3. Milvus Lite on a free 127.0.0.1 port, temp data dir, own process group; seeded with
#      `--profile test` (docs loaded 100 rows, faq loaded 20, archive released 5)
#   4. the exporter on a free port: ttl 1s, refresh 1s, required_collections ["docs"], a search
#      read probe on "docs", a tcp dependency "prometheus" on the port Prometheus will listen on
#      (step 5; not required, so /readyz does not wait for Prometheus), [[targets]] "lite" -> the
#      same Milvus
#   5. Prometheus on that port: job milvus_exporter (1 s) and milvus_probe (the relabelling of
#      prometheus/prometheus.yml, target "lite"), rules = prometheus/rules/milvus-alerts.yml with
#      every `for:` at 0s and 1 s evaluation
#   6. waits for the first scrapes (`up` == 1 for both jobs)
#   7. every target of every panel of grafana/dashboards/*.json, Grafana variables substituted
#      (All = allValue, and concrete values for each job): parses, and has data unless the panel
#      is empty by design (listed with its reason; scripts/live_stack.py EMPTY_BY_DESIGN)
#   8. MilvusDown, MilvusNotReady, MilvusProbeFailing and MilvusDependencyDown must not be active;
#      then SIGKILLs Milvus Lite; MilvusDown and MilvusNotReady must be firing within 60 s
#
# Prints `ok NAME` / `FAIL NAME` per check and `N passed, M failed`; exits 1 on any failure.
# A missing tool or a server that does not start is a failure, never a skip. Every process it
# starts is stopped on exit. Only 127.0.0.1 is used. KEEP_TMP=1 keeps the temp dir (logs);
# LIVE_DASHBOARD_DIR checks other dashboards than grafana/dashboards (e.g. a broken copy).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
PY="$ROOT/.venv/bin/python"
HELPER="$ROOT/scripts/live_stack.py"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/milvus-live-stack.XXXXXX")

LITE_PGID=""
EXPORTER_PGID=""
PROM_PGID=""

cleanup() {
    stop_group "$PROM_PGID" || true
    stop_group "$EXPORTER_PGID" || true
    stop_group "$LITE_PGID" || true
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        echo "temp dir kept: $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSED=0
FAILED=0
pass() { echo "ok $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1"; FAILED=$((FAILED + 1)); }
# check NAME CMD...: runs CMD, output shown indented when it fails. Callers use `check ... ||`,
# where bash ignores errexit even inside the subshell: the step functions return explicitly.
check() {
    local name=$1 rc
    shift
    set +e
    (set -euo pipefail; "$@") >"$TMP/out" 2>&1
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
        pass "$name"
    else
        fail "$name"
        sed -e 's/^/    /' "$TMP/out" | tail -n 40
    fi
    return $rc
}
# check_show NAME CMD...: check, and on success also shows the first lines of its output.
check_show() {
    check "$@" || return $?
    sed -e 's/^/    /' "$TMP/out" | head -n 4
}
# A check that cannot run because an earlier one failed still counts as a failure.
not_run() { fail "$1"; echo "    not run: $2"; }
log_tail() { echo "--- last lines of $1 ---"; tail -n "${2:-20}" "$1" 2>/dev/null || true; }

# --------------------------------------------------------------------------- 1. tools
install_prometheus() {
    command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && return 0
    local sudo=""
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    echo "installing Debian package prometheus"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq || return 1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus || return 1
    command -v promtool && command -v prometheus
}
tools_ok() {
    install_prometheus || { echo "promtool/prometheus missing and apt-get install prometheus failed"; return 1; }
    prometheus --version 2>&1 | head -n 1 || return 1
    promtool --version 2>&1 | head -n 1
}
venv_ok() {
    bash "$ROOT/scripts/venv.sh" || return 1
    if ! "$PY" -c 'import yaml' 2>/dev/null; then
        "$PY" -m pip install --disable-pip-version-check -q 'PyYAML==6.0.3' || return 1
    fi
    "$PY" -c 'import yaml, pymilvus, milvus_lite; print("venv ok")'
}
TOOLS=1
check "tools: prometheus + promtool" tools_ok || TOOLS=0
check "venv: milvus-lite, pymilvus, PyYAML" venv_ok || TOOLS=0

# --------------------------------------------------------------------------- 2. build
BIN=""
build_ok() {
    cargo build --bin milvus_exporter 2>&1 | tail -n 20 || return 1
    local dir
    dir=$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') || return 1
    [[ -x "$dir/debug/milvus_exporter" ]] || { echo "no binary at $dir/debug/milvus_exporter"; return 1; }
    echo "$dir/debug/milvus_exporter" >"$TMP/bin"
}
if [[ $TOOLS == 1 ]] && check "build: cargo build" build_ok; then
    BIN=$(cat "$TMP/bin")
elif [[ $TOOLS == 0 ]]; then
    not_run "build: cargo build" "the venv or tools are missing"
fi

# --------------------------------------------------------------------------- 3. Milvus Lite
LITE_PORT="" LITE_URL=""
lite_ok() {
    LITE_PORT=$(free_port) || return 1
    LITE_URL="http://127.0.0.1:$LITE_PORT"
    mkdir -p "$TMP/lite-data"
    start_group "$TMP/lite.pgid" "$TMP/lite.log" \
        env PYTHONUNBUFFERED=1 "$PY" -m milvus_lite server --data-dir "$TMP/lite-data" \
        --host 127.0.0.1 --port "$LITE_PORT" || return 1
    LITE_PGID=$LIB_PGID
    echo "$LITE_PORT" >"$TMP/lite.port"
    "$PY" scripts/milvus_lite.py wait --uri "$LITE_URL" --timeout 60 || { log_tail "$TMP/lite.log"; return 1; }
}
seed_ok() {
    "$PY" scripts/milvus_lite.py seed --uri "$LITE_URL" --profile test
}
STACK=0
if [[ -n "$BIN" ]]; then
    # run in this shell (not a subshell) so that LITE_PGID survives for the cleanup
    set +e
    lite_ok >"$TMP/out" 2>&1
    rc=$?
    set -e
    [[ -s "$TMP/lite.pgid" ]] && LITE_PGID=$(tr -dc '0-9' <"$TMP/lite.pgid")
    [[ -s "$TMP/lite.port" ]] && { LITE_PORT=$(cat "$TMP/lite.port"); LITE_URL="http://127.0.0.1:$LITE_PORT"; }
    if [[ $rc -eq 0 ]]; then
        pass "milvus-lite: started on 127.0.0.1:$LITE_PORT"
        check "milvus-lite: seeded (--profile test)" seed_ok && STACK=1
    else
        fail "milvus-lite: start"
        sed -e 's/^/    /' "$TMP/out" | tail -n 30
        not_run "milvus-lite: seeded (--profile test)" "Milvus Lite did not start"
    fi
else
    not_run "milvus-lite: start" "no exporter binary / tools"
fi

# --------------------------------------------------------------------------- 4. exporter
EXP_PORT="" EXP_ADDR="" PROM_PORT=""
if [[ $STACK == 1 ]]; then
    EXP_PORT=$(free_port)
    EXP_ADDR="127.0.0.1:$EXP_PORT"
    # Chosen now so that the exporter can check it as a dependency; Prometheus binds it in step 5.
    PROM_PORT=$(free_port)
    cat >"$TMP/exporter.toml" <<EOF
[web]
listen_address = "$EXP_ADDR"

[milvus]
address = "$LITE_URL"
timeout = "2s"

[cache]
ttl = "1s"
refresh_interval = "1s"

[readiness]
required_collections = ["docs"]
# The stack is checked against Milvus, not against this machine's disk or memory: a nearly
# full disk here must not make the whole check fail.
memory_percent_max = 100
disk_percent_max = 100

# A real search on "docs" each refresh: the dashboards' read-probe panels.
[[readiness.probes]]
collection = "docs"
kind = "search"

# The Prometheus of step 5, as a RAG dependency: the dashboards' dependency panel. Not required:
# Prometheus starts after the exporter, whose /readyz must be 200 before that.
[[dependencies]]
name = "prometheus"
kind = "tcp"
address = "127.0.0.1:$PROM_PORT"
required = false

[[targets]]
name = "lite"
address = "$LITE_URL"
timeout = "2s"
EOF
    start_group "$TMP/exporter.pgid" "$TMP/exporter.log" \
        "$BIN" --config "$TMP/exporter.toml" --milvus.address "$LITE_URL" --web.listen-address "$EXP_ADDR" || true
    EXPORTER_PGID=$LIB_PGID
    exporter_ok() {
        [[ -n "$EXPORTER_PGID" ]] || { log_tail "$TMP/exporter.log"; return 1; }
        wait_http --status 200 --pgid "$EXPORTER_PGID" "http://$EXP_ADDR/readyz" 30 "the exporter's /readyz" \
            || { log_tail "$TMP/exporter.log"; return 1; }
        wait_http --status 200 "http://$EXP_ADDR/probe?target=lite" 10 "the exporter's /probe?target=lite"
    }
    check "exporter: started on $EXP_ADDR, /readyz 200, /probe?target=lite 200" exporter_ok || STACK=0
else
    not_run "exporter: start" "Milvus Lite is not up"
fi

# --------------------------------------------------------------------------- 5. Prometheus
PROM_URL=""
prom_config_ok() {
    "$PY" "$HELPER" write-prom --exporter "$EXP_ADDR" --probe-target lite \
        --rules-out "$TMP/milvus-alerts.live.yml" --config-out "$TMP/prometheus.yml" || return 1
    promtool check config "$TMP/prometheus.yml"
}
prom_start_ok() {
    local port=$PROM_PORT
    [[ -n "$port" ]] || { echo "no port chosen for Prometheus"; return 1; }
    echo "$port" >"$TMP/prom.port"
    mkdir -p "$TMP/tsdb"
    start_group "$TMP/prom.pgid" "$TMP/prometheus.log" prometheus \
        --config.file="$TMP/prometheus.yml" \
        --storage.tsdb.path="$TMP/tsdb" \
        --web.listen-address="127.0.0.1:$port" \
        --log.level=warn || return 1
    wait_http --status 200 --pgid "$LIB_PGID" "http://127.0.0.1:$port/-/ready" 30 "Prometheus" \
        || { log_tail "$TMP/prometheus.log"; return 1; }
}
if [[ $STACK == 1 ]]; then
    if check "prometheus: config (repo jobs + relabelling, rules with for: 0s) passes promtool" prom_config_ok; then
        set +e
        prom_start_ok >"$TMP/out" 2>&1
        rc=$?
        set -e
        [[ -s "$TMP/prom.pgid" ]] && PROM_PGID=$(tr -dc '0-9' <"$TMP/prom.pgid")
        if [[ $rc -eq 0 ]]; then
            PROM_URL="http://127.0.0.1:$(cat "$TMP/prom.port")"
            pass "prometheus: $(prometheus --version 2>&1 | head -n1 | awk '{print $3}') started on ${PROM_URL#http://}"
        else
            fail "prometheus: start"
            sed -e 's/^/    /' "$TMP/out" | tail -n 30
            STACK=0
        fi
    else
        not_run "prometheus: start" "no valid config"
        STACK=0
    fi
else
    not_run "prometheus: config" "the exporter is not up"
    not_run "prometheus: start" "the exporter is not up"
fi

# --------------------------------------------------------------------------- 6. first scrapes
if [[ $STACK == 1 ]]; then
    check_show "scrapes: up == 1 and milvus_up == 1 for jobs milvus_exporter and milvus_probe" \
        "$PY" "$HELPER" wait-scrapes --prom "$PROM_URL" --timeout 60 || STACK=0
else
    not_run "scrapes: up == 1 for both jobs" "Prometheus is not up"
fi

# --------------------------------------------------------------------------- 7. dashboards
if [[ $STACK == 1 ]]; then
    set +e
    "$PY" "$HELPER" dashboards --prom "$PROM_URL" --exporter-instance "$EXP_ADDR" \
        --probe-instance lite --settle 20 --dir "${LIVE_DASHBOARD_DIR:-$ROOT/grafana/dashboards}" \
        >"$TMP/dash.out" 2>&1
    rc=$?
    set -e
    cat "$TMP/dash.out"
    n_ok=$(grep -c '^ok ' "$TMP/dash.out" || true)
    n_fail=$(grep -c '^FAIL ' "$TMP/dash.out" || true)
    PASSED=$((PASSED + n_ok))
    FAILED=$((FAILED + n_fail))
    if [[ $rc -ne 0 && $n_fail -eq 0 ]]; then
        fail "dashboards: helper exited $rc"
    fi
else
    not_run "dashboards: every panel query" "the stack is not up"
fi

# --------------------------------------------------------------------------- 8. alerts
if [[ $STACK == 1 ]]; then
    check_show "alerts: MilvusDown, MilvusNotReady, MilvusProbeFailing, MilvusDependencyDown not active while Milvus is up" \
        "$PY" "$HELPER" alerts-quiet --prom "$PROM_URL" \
        --alert MilvusDown MilvusNotReady MilvusProbeFailing MilvusDependencyDown || true
    kill_lite() {
        date +%s.%N >"$TMP/kill.time"
        stop_group "$LITE_PGID" 0 10 2>&1 || return 1
        echo "Milvus Lite (process group $LITE_PGID) killed"
    }
    if check "alerts: SIGKILL Milvus Lite's process group" kill_lite; then
        check_show "alerts: MilvusDown firing within 60 s" \
            "$PY" "$HELPER" wait-alert --prom "$PROM_URL" --alert MilvusDown --timeout 60 --since "$(cat "$TMP/kill.time")" || true
        check_show "alerts: MilvusNotReady firing within 60 s" \
            "$PY" "$HELPER" wait-alert --prom "$PROM_URL" --alert MilvusNotReady --timeout 60 --since "$(cat "$TMP/kill.time")" || true
    else
        not_run "alerts: MilvusDown firing" "Milvus Lite could not be killed"
        not_run "alerts: MilvusNotReady firing" "Milvus Lite could not be killed"
    fi
else
    not_run "alerts: MilvusDown firing" "the stack is not up"
    not_run "alerts: MilvusNotReady firing" "the stack is not up"
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
