#!/usr/bin/env bash
# Live check of the monitoring stack: real Milvus Lite (and a fake Milvus cluster) ->
# milvus_exporter -> real Prometheus (Debian's 2.42) with the repo's scrape relabelling and
# alert rules, then every Grafana dashboard query and one real alert.
#
#   1. tools: promtool + prometheus (apt-get install prometheus if missing), .venv
#      (scripts/venv.sh) with PyYAML
#   2. cargo build of the exporter and of examples/fake_milvus_server (CARGO_TARGET_DIR
#      respected; the binaries are found through cargo metadata)
#   3. Milvus Lite on a free 127.0.0.1 port, temp data dir, own process group; seeded with
#      `--profile test` (docs loaded 100 rows, faq loaded 20, archive released 5)
#   3b. the fake cluster: examples/fake_milvus_server with the same collection names (docs and
#      faq loaded, archive released), GetMetrics(system_info) with three healthy nodes (proxy,
#      querynode, datacoord with each collection's binlog size) and a Finished index on each
#      collection. Milvus Lite answers GetMetrics with Unimplemented: without this the node and
#      binlog panels would never be run against data. Own process group, loopback, free port
#   3c. scripts/py/fake_embeddings.py (an OpenAI-compatible POST /v1/embeddings answering 8
#      floats, the dimension of the seeded collections) after its --self-test, own process
#      group, free port
#   4. the exporter on a free port: ttl 1s, refresh 1s, required_collections ["docs"], a search
#      read probe on "docs", a [[rag_probes]] "docs-retrieval" on "docs" through the embeddings
#      server of 3c, a tcp dependency "prometheus" on the port Prometheus will listen on (step 5;
#      not required, so /readyz does not wait for Prometheus), [[targets]] "lite" -> the same
#      Milvus Lite and "cluster" -> the fake cluster of 3b
#   5. Prometheus on that port: job milvus_exporter (1 s) and milvus_probe (the relabelling of
#      prometheus/prometheus.yml, targets "lite" and "cluster"), and the scrape_configs
#      prometheus-operator generates from a ServiceMonitor (scripts/live_stack.py
#      servicemonitor_jobs: the operator's relabelling on a static target that carries the
#      __meta_kubernetes_* labels of service discovery; namespace milvus-live, job = the
#      Service's name milvus-exporter, pod, container, endpoint, service, and cluster=live from
#      an endpoint relabeling) for /metrics and for /probe?target=cluster; rules =
#      prometheus/rules/milvus-alerts.yml (generated from mixin/) with every `for:` at 0s and
#      1 s evaluation
#   6. waits for the first scrapes (`up` == 1 for both jobs and both probe targets, and for the
#      two ServiceMonitor endpoints with their namespace, pod, container, endpoint, service and
#      cluster labels), then: the RAG probe succeeds (milvus_rag_probe_success == 1) and went
#      through the embeddings server (its request counter moved); the cluster reports its three
#      nodes and binlog sizes
#   6b. the exporter's real /metrics, /probe?target=lite and ?target=cluster pages: the mixin
#      lint (scripts/mixin.sh lint) against them (every metric a rule or panel reads is served),
#      and their HELP/TYPE lines == tests/fixtures/exporter-metric-families.prom, the list
#      scripts/check_stack.sh lints against (UPDATE_FIXTURES=1 rewrites it)
#   7. every target of every panel of grafana/dashboards/*.json, Grafana variables substituted
#      (All = allValue, and concrete values for the exporter, the `lite` and the `cluster`
#      instances, each with cluster "" as the hidden variable sends it without a cluster label;
#      and through the ServiceMonitor scrape: All, its /metrics and its /probe endpoint, with
#      cluster=live, where every labelled series must carry cluster and namespace; and every
#      variable's label_values in both settings): parses, and has data unless the panel is
#      empty by design (listed with its
#      reason; scripts/live_stack.py EMPTY_BY_DESIGN) or its families cannot come from the
#      selected instance (exporter-only families on /probe, GetMetrics families on Milvus Lite;
#      EXPORTER_ONLY and CLUSTER_ONLY there). The node, binlog and RAG panels must have data
#   8. MilvusDown, MilvusNotReady, MilvusProbeFailing, MilvusDependencyDown, MilvusRagProbeFailing,
#      MilvusNodeError, MilvusExporterDown and MilvusExporterAbsent must not be active; then
#      SIGKILLs Milvus Lite; MilvusDown and MilvusNotReady must be firing within 60 s
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
FAKE_PGID=""
EMB_PGID=""
EXPORTER_PGID=""
PROM_PGID=""

cleanup() {
    stop_group "$PROM_PGID" || true
    stop_group "$EXPORTER_PGID" || true
    stop_group "$EMB_PGID" || true
    stop_group "$FAKE_PGID" || true
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
FAKE_BIN=""
build_ok() {
    cargo build --bin milvus_exporter --example fake_milvus_server 2>&1 | tail -n 20 || return 1
    local dir
    dir=$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') || return 1
    [[ -x "$dir/debug/milvus_exporter" ]] || { echo "no binary at $dir/debug/milvus_exporter"; return 1; }
    [[ -x "$dir/debug/examples/fake_milvus_server" ]] || { echo "no binary at $dir/debug/examples/fake_milvus_server"; return 1; }
    echo "$dir/debug/milvus_exporter" >"$TMP/bin"
    echo "$dir/debug/examples/fake_milvus_server" >"$TMP/fake.bin"
}
if [[ $TOOLS == 1 ]] && check "build: cargo build (exporter, examples/fake_milvus_server)" build_ok; then
    BIN=$(cat "$TMP/bin")
    FAKE_BIN=$(cat "$TMP/fake.bin")
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

# --------------------------------------------------------------------------- 3b. fake cluster
FAKE_URL=""
fake_ok() {
    start_group "$TMP/fake.pgid" "$TMP/fake.log" \
        "$FAKE_BIN" --names docs,faq,archive --released-every 3 --system-info --indexes || return 1
    FAKE_PGID=$LIB_PGID
    FAKE_URL=$(wait_line "$TMP/fake.log" milvus 30) || { log_tail "$TMP/fake.log"; return 1; }
    [[ "$FAKE_URL" == http://127.0.0.1:* ]] || { echo "fake cluster announced '$FAKE_URL', not a loopback URL"; return 1; }
    echo "$FAKE_URL" >"$TMP/fake.url"
    wait_tcp "${FAKE_URL##*:}" 10 "the fake cluster"
}
if [[ $STACK == 1 ]]; then
    set +e
    fake_ok >"$TMP/out" 2>&1
    rc=$?
    set -e
    [[ -s "$TMP/fake.pgid" ]] && FAKE_PGID=$(tr -dc '0-9' <"$TMP/fake.pgid")
    [[ -s "$TMP/fake.url" ]] && FAKE_URL=$(cat "$TMP/fake.url")
    if [[ $rc -eq 0 ]]; then
        pass "fake cluster: examples/fake_milvus_server --system-info --indexes on ${FAKE_URL#http://}"
    else
        fail "fake cluster: start"
        sed -e 's/^/    /' "$TMP/out" | tail -n 30
        STACK=0
    fi
else
    not_run "fake cluster: start" "Milvus Lite is not up"
fi

# --------------------------------------------------------------------------- 3c. embeddings
EMB_URL=""
emb_ok() {
    start_group "$TMP/emb.pgid" "$TMP/emb.log" \
        env PYTHONUNBUFFERED=1 "$PY" "$ROOT/scripts/py/fake_embeddings.py" --dim 8 || return 1
    EMB_PGID=$LIB_PGID
    EMB_URL=$(wait_line "$TMP/emb.log" embeddings 15) || { log_tail "$TMP/emb.log"; return 1; }
    [[ "$EMB_URL" == http://127.0.0.1:* ]] || { echo "embeddings server announced '$EMB_URL', not a loopback URL"; return 1; }
    echo "$EMB_URL" >"$TMP/emb.url"
    wait_http --status 200 --pgid "$EMB_PGID" "$EMB_URL/calls" 10 "the embeddings server"
}
if [[ $STACK == 1 ]]; then
    # Its own worst-value checks first (bad lengths, non-JSON, a slow peer): the RAG panels
    # are only as good as the server behind them.
    check "embeddings: scripts/py/fake_embeddings.py --self-test" \
        "$PY" "$ROOT/scripts/py/fake_embeddings.py" --self-test || STACK=0
fi
if [[ $STACK == 1 ]]; then
    set +e
    emb_ok >"$TMP/out" 2>&1
    rc=$?
    set -e
    [[ -s "$TMP/emb.pgid" ]] && EMB_PGID=$(tr -dc '0-9' <"$TMP/emb.pgid")
    [[ -s "$TMP/emb.url" ]] && EMB_URL=$(cat "$TMP/emb.url")
    if [[ $rc -eq 0 ]]; then
        pass "embeddings: scripts/py/fake_embeddings.py on ${EMB_URL#http://}"
    else
        fail "embeddings: start"
        sed -e 's/^/    /' "$TMP/out" | tail -n 30
        STACK=0
    fi
else
    not_run "embeddings: start" "Milvus Lite, the fake cluster or the self-test failed"
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

# Embed with the fake embeddings API of step 3c, check the 8 floats against docs.vector (dim
# 8), search them in Milvus Lite: the dashboards' RAG panels. Required (the default): /readyz
# is 200 only once it passes.
[[rag_probes]]
name = "docs-retrieval"
collection = "docs"
timeout = "2s"
[rag_probes.embedding]
url = "$EMB_URL/v1/embeddings"
model = "fake-embedding-8"

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

# The fake cluster of step 3b: nodes and binlog sizes from GetMetrics, which Lite lacks.
[[targets]]
name = "cluster"
address = "$FAKE_URL"
timeout = "2s"
EOF
    start_group "$TMP/exporter.pgid" "$TMP/exporter.log" \
        "$BIN" --config "$TMP/exporter.toml" --milvus.address "$LITE_URL" --web.listen-address "$EXP_ADDR" || true
    EXPORTER_PGID=$LIB_PGID
    exporter_ok() {
        [[ -n "$EXPORTER_PGID" ]] || { log_tail "$TMP/exporter.log"; return 1; }
        wait_http --status 200 --pgid "$EXPORTER_PGID" "http://$EXP_ADDR/readyz" 30 "the exporter's /readyz" \
            || { log_tail "$TMP/exporter.log"; return 1; }
        wait_http --status 200 "http://$EXP_ADDR/probe?target=lite" 10 "the exporter's /probe?target=lite" || return 1
        wait_http --status 200 "http://$EXP_ADDR/probe?target=cluster" 10 "the exporter's /probe?target=cluster"
    }
    check "exporter: started on $EXP_ADDR, /readyz 200, /probe?target=lite and ?target=cluster 200" exporter_ok || STACK=0
else
    not_run "exporter: start" "Milvus Lite is not up"
fi

# --------------------------------------------------------------------------- 5. Prometheus
PROM_URL=""
prom_config_ok() {
    "$PY" "$HELPER" write-prom --exporter "$EXP_ADDR" --probe-target lite cluster --sm-probe-target cluster \
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
    if check "prometheus: config (repo jobs + relabelling, ServiceMonitor-equivalent jobs, rules with for: 0s) passes promtool" prom_config_ok; then
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
    check_show "scrapes: up == 1 and milvus_up == 1 for jobs milvus_exporter and milvus_probe (lite, cluster)" \
        "$PY" "$HELPER" wait-scrapes --prom "$PROM_URL" --probe-instance lite cluster --timeout 60 || STACK=0
else
    not_run "scrapes: up == 1 for both jobs" "Prometheus is not up"
fi
# The ServiceMonitor-equivalent scrape: both endpoints up, and the labels the operator's
# relabelling gives (namespace, service, pod, container, endpoint; job = the Service's name)
# plus the endpoint relabeling's cluster, on the exporter's own series.
sm_ok() {
    local sel='cluster="live",namespace="milvus-live",job="milvus-exporter",service="milvus-exporter",pod="milvus-exporter-6d4b9c7f5-x2k8p",container="exporter",endpoint="metrics"'
    "$PY" "$HELPER" expect --prom "$PROM_URL" --timeout 30 --min 2 --expr "up{$sel} == 1" || return 1
    "$PY" "$HELPER" expect --prom "$PROM_URL" --timeout 10 --min 1 --expr "milvus_up{$sel,instance=\"$EXP_ADDR\"} == 1" || return 1
    "$PY" "$HELPER" expect --prom "$PROM_URL" --timeout 10 --min 1 --expr "milvus_up{$sel,instance=\"cluster\"} == 1"
}
if [[ $STACK == 1 ]]; then
    check_show "servicemonitor scrape: /metrics and /probe?target=cluster up, with cluster, namespace, service, pod, container, endpoint, job=milvus-exporter" sm_ok || true
else
    not_run "servicemonitor scrape" "Prometheus is not up"
fi

# --------------------------------------------------------------------------- 6b. metric pages
pages_ok() {
    http_get "http://$EXP_ADDR/metrics" 10 >"$TMP/page-metrics.prom" || return 1
    http_get "http://$EXP_ADDR/probe?target=lite" 10 >"$TMP/page-probe-lite.prom" || return 1
    http_get "http://$EXP_ADDR/probe?target=cluster" 10 >"$TMP/page-probe-cluster.prom" || return 1
    wc -l "$TMP"/page-*.prom
}
mixin_lint_live() {
    bash "$ROOT/scripts/mixin.sh" lint --metrics "$TMP"/page-*.prom
}
families_ok() {
    if [[ "${UPDATE_FIXTURES:-0}" == 1 ]]; then
        "$PY" "$HELPER" families --pages "$TMP"/page-*.prom --update
    else
        "$PY" "$HELPER" families --pages "$TMP"/page-*.prom
    fi
}
if [[ $STACK == 1 ]] && check "pages: the exporter's /metrics, /probe?target=lite and ?target=cluster" pages_ok; then
    check_show "mixin lint against the live pages (every metric a rule or panel reads is served)" mixin_lint_live || true
    check_show "metric families of the live pages == tests/fixtures/exporter-metric-families.prom" families_ok || true
else
    not_run "mixin lint against the live pages" "no pages"
    not_run "metric families fixture" "no pages"
fi
# The sources of the node, binlog and RAG panels, checked before the panels are: a panel that
# has data for a wrong reason would otherwise pass.
emb_calls() {
    http_get "$EMB_URL/calls" 5 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["embeddings"])'
}
rag_ok() {
    "$PY" "$HELPER" expect --prom "$PROM_URL" --timeout 30 \
        --expr 'milvus_rag_probe_success{job="milvus_exporter",probe="docs-retrieval"} == 1' || return 1
    "$PY" "$HELPER" expect --prom "$PROM_URL" --timeout 10 \
        --expr 'milvus_rag_embedding_dimensions{job="milvus_exporter",probe="docs-retrieval"} == 8' || return 1
    local n
    n=$(emb_calls) || { echo "the embeddings server's /calls did not answer"; return 1; }
    [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "the embeddings server answered $n embeddings: the probe did not go through it"; return 1; }
    echo "the embeddings server answered $n embeddings"
}
nodes_ok() {
    "$PY" "$HELPER" expect --prom "$PROM_URL" --timeout 30 --min 3 \
        --expr 'milvus_node_has_error{job="milvus_probe",instance="cluster"} == 0' || return 1
    "$PY" "$HELPER" expect --prom "$PROM_URL" --timeout 10 --min 3 \
        --expr 'milvus_collection_binlog_bytes{job="milvus_probe",instance="cluster"} > 0'
}
if [[ $STACK == 1 ]]; then
    check_show "rag: docs-retrieval succeeds (success 1, 8 dimensions) through the fake embeddings server" rag_ok || true
    check_show "cluster: 3 nodes without error and a binlog size per collection from GetMetrics" nodes_ok || true
else
    not_run "rag: docs-retrieval succeeds" "the stack is not up"
    not_run "cluster: 3 nodes and binlog sizes" "the stack is not up"
fi

# --------------------------------------------------------------------------- 7. dashboards
if [[ $STACK == 1 ]]; then
    set +e
    "$PY" "$HELPER" dashboards --prom "$PROM_URL" --exporter-instance "$EXP_ADDR" \
        --probe-instance lite --cluster-instance cluster --settle 20 --dir "${LIVE_DASHBOARD_DIR:-$ROOT/grafana/dashboards}" \
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
    check_show "alerts: MilvusDown, MilvusNotReady, MilvusProbeFailing, MilvusDependencyDown, MilvusRagProbeFailing, MilvusNodeError, MilvusExporterDown, MilvusExporterAbsent not active while Milvus is up" \
        "$PY" "$HELPER" alerts-quiet --prom "$PROM_URL" \
        --alert MilvusDown MilvusNotReady MilvusProbeFailing MilvusDependencyDown MilvusRagProbeFailing MilvusNodeError \
        MilvusExporterDown MilvusExporterAbsent || true
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
