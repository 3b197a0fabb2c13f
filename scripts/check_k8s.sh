#!/usr/bin/env bash
# Offline validation of the Kubernetes artifacts: the Helm chart deploy/helm/milvus-exporter (for
# every values file of its ci/) and the kustomize manifests deploy/kubernetes (the base, and the
# base with components/multi-target). No cluster; every tool comes from a package registry and
# is installed here, pinned:
#
#   helm-python-sdk     Helm v4's own Go code (lint --strict, values.schema.json, template),
#                       what `helm lint` / `helm template` would say
#   kubernetes-validate the Kubernetes OpenAPI schemas, strict (unknown fields are errors),
#                       at 1.25 (the chart's kubeVersion floor) and 1.37: what the API server's
#                       schema validation would say
#   @kubernetes-models/prometheus-operator (npm)   the prometheus-operator CRD schemas (types,
#                       enums, patterns, required) and, from its type declarations, every field
#                       name: what the API server would accept or prune for the CRDs
#   scripts/py/k8s_checks.py pss     the restricted Pod Security Standard, rule by rule: what
#                       a namespace labelled pod-security.kubernetes.io/enforce=restricted admits
#   checkov             security-posture scan; each finding left is skipped with its reason in
#                       an annotation (or, for graph checks that ignore annotations, below)
#   milvus_exporter check   the real binary reads the rendered configuration (in an empty
#                       network namespace, so it dials nothing): exit 1 (Milvus unreachable) is
#                       "config accepted", exit 2 is a configuration error
#   kubectl kustomize   kustomize v5 as built into kubectl
#   promtool            the documented scrape_configs (docs/helm.md) parse
#
# Usage: bash scripts/check_k8s.sh   Prints `ok NAME: summary` / `FAIL NAME` per check and
# `N passed, M failed`; exits 1 if any check failed. A missing tool is a failure, never a skip.
# Env: MILVUS_EXPORTER_BIN (default target/debug/milvus_exporter, built if missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CHART=deploy/helm/milvus-exporter
RELEASE=mx
NAMESPACE=milvus
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0
# check NAME CMD...: runs CMD with errexit, prints its last line on success, its output on failure.
check() {
    local name=$1 rc
    shift
    set +e
    (set -euo pipefail; "$@") >"$TMP/out" 2>&1
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
        echo "ok $name: $(grep -v '^note: ' "$TMP/out" | tail -n1)"
        grep '^note: ' "$TMP/out" | sed -e 's/^/    /' || true
        PASSED=$((PASSED + 1))
    else
        echo "FAIL $name"
        sed -e 's/^/    /' "$TMP/out" | tail -n 60
        FAILED=$((FAILED + 1))
    fi
}

# ------------------------------------------------------------------------------ tools
SETUP_LOG="$TMP/setup.log"
NODE_DIR="$ROOT/.venv-tools/k8s-node"
PY=""
BIN=${MILVUS_EXPORTER_BIN:-$ROOT/target/debug/milvus_exporter}

apt_install() {
    local sudo=""
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >>"$SETUP_LOG" 2>&1 \
        || { DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >>"$SETUP_LOG" 2>&1 \
             && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >>"$SETUP_LOG" 2>&1; }
}

setup() {
    PY=$(scripts/tools_venv.sh k8s 2>>"$SETUP_LOG" | tail -n1) || { cat "$SETUP_LOG"; return 1; }
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm || true
    command -v openssl >/dev/null 2>&1 || apt_install openssl || true
    command -v unshare >/dev/null 2>&1 || apt_install util-linux || true
    command -v promtool >/dev/null 2>&1 || apt_install prometheus || true
    # kubectl ships with this machine image; a machine without it gets Debian's (if any).
    command -v kubectl >/dev/null 2>&1 || apt_install kubectl || apt_install kubernetes-client || true
    # npm packages, pinned by scripts/node/k8s-crds/package-lock.json (integrity hashes), in a
    # folder of their own.
    local want
    want=$(cat scripts/node/k8s-crds/package.json scripts/node/k8s-crds/package-lock.json | sha256sum)
    if [[ ! -f "$NODE_DIR/.lock-sha" || "$(cat "$NODE_DIR/.lock-sha")" != "$want" ]]; then
        rm -rf "$NODE_DIR"
        mkdir -p "$NODE_DIR"
        cp scripts/node/k8s-crds/package.json scripts/node/k8s-crds/package-lock.json "$NODE_DIR/"
        (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >>"$SETUP_LOG" 2>&1 \
            && printf '%s\n' "$want" >"$NODE_DIR/.lock-sha"
    fi
    if [[ ! -x "$BIN" ]]; then
        cargo build --quiet --bin milvus_exporter >>"$SETUP_LOG" 2>&1 || true
    fi
}
setup || true

tools_ok() {
    local bad=0
    [[ -x "$PY" ]] || { echo "no k8s tools venv"; bad=1; }
    "$PY" -c 'import helm_python, kubernetes_validate, yaml; print("helm SDK", helm_python.helm_sdk_version())' || bad=1
    [[ -x "$(dirname "$PY")/checkov" ]] || { echo "checkov missing"; bad=1; }
    [[ -f "$NODE_DIR/node_modules/@kubernetes-models/prometheus-operator/package.json" ]] || { echo "npm models missing"; bad=1; }
    for t in node kubectl openssl unshare promtool; do
        command -v "$t" >/dev/null 2>&1 || { echo "missing tool: $t"; bad=1; }
    done
    [[ -x "$BIN" ]] || { echo "no exporter binary at $BIN"; bad=1; }
    if [[ $bad -ne 0 ]]; then cat "$SETUP_LOG"; return 1; fi
    echo "helm SDK $("$PY" -c 'import helm_python; print(helm_python.helm_sdk_version())'), kubernetes-validate $("$PY" -c 'import kubernetes_validate.version as v; print(v.__version__)'), checkov $("$(dirname "$PY")/checkov" --version), prometheus-operator models $(node -p "require('$NODE_DIR/node_modules/@kubernetes-models/prometheus-operator/package.json').version"), $(kubectl version --client 2>/dev/null | grep -i kustomize)"
}
check "tools installed" tools_ok
[[ -x "$PY" ]] || { echo "$PASSED passed, $((FAILED + 1)) failed"; exit 1; }

k8s() { "$PY" "$ROOT/scripts/py/k8s_checks.py" "$@"; }
CHECKOV="$(dirname "$PY")/checkov"
NM="$NODE_DIR/node_modules"

# checkov_scan FILE: fails on any finding not skipped. CKV2_K8S_6 ("pods without a
# NetworkPolicy") is a graph check, which annotations cannot skip: it is skipped here only when
# FILE has no NetworkPolicy, because the chart's NetworkPolicy is optional (networkPolicy.enabled;
# a default one would guess the user's monitoring namespace and could cut Prometheus off), and
# the kustomize example carries none. With the NetworkPolicy on (ci/networkpolicy-pdb-values.yaml)
# the check runs and must pass.
checkov_scan() {
    local skip=()
    grep -q '^kind: NetworkPolicy' "$1" || skip=(--skip-check CKV2_K8S_6)
    "$CHECKOV" -f "$1" --framework kubernetes --compact --quiet --skip-download "${skip[@]}" >"$TMP/checkov.out" 2>&1 \
        || { grep -v '^\s*File:' "$TMP/checkov.out"; return 1; }
    echo "checkov: $(grep -m1 'Passed checks' "$TMP/checkov.out")${skip:+ (CKV2_K8S_6 skipped: no NetworkPolicy in this mode)}"
}

# validate NAME MANIFESTS [noscan]: the validators every set of objects goes through.
validate() {
    local name=$1 m=$2 scan=${3:-scan}
    check "$name: Kubernetes 1.25 schemas (strict)" k8s k8s-schemas 1.25 "$m"
    check "$name: Kubernetes 1.37 schemas (strict)" k8s k8s-schemas 1.37 "$m"
    check "$name: prometheus-operator CRD schemas" node scripts/node/k8s-crds/validate_crds.mjs "$NM" "$m"
    check "$name: prometheus-operator CRD field names" k8s crd-strict "$NM" "$m"
    check "$name: restricted Pod Security Standard" k8s pss "$m"
    check "$name: pod policy (own ServiceAccount, no token)" k8s policy "$m"
    check "$name: wiring (selectors, ports, volumes)" k8s wiring "$m"
    if [[ $scan == scan ]]; then check "$name: checkov" checkov_scan "$m"; fi
}

# ------------------------------------------------------------------------------ the checkers themselves
check "checkers catch known-bad objects" k8s self-test
check "CRD field-name checker catches misspellings" k8s crd-self-test "$NM"

# ------------------------------------------------------------------------------ copies
check "chart rules/ and dashboards/, kustomize PrometheusRule == originals" env PYTHON="$PY" bash scripts/sync_chart.sh --check

# ------------------------------------------------------------------------------ the chart
must_fail_render() {
    local values=$1 want=$2
    if k8s render "$CHART" "$values" "$TMP/neg" "$RELEASE" "$NAMESPACE" >"$TMP/neg.out" 2>&1; then
        echo "rendered, but should have failed"; return 1
    fi
    grep -q -- "$want" "$TMP/neg.out" || { cat "$TMP/neg.out"; echo "no '$want' in the error"; return 1; }
    echo "refused: $(grep -v 'INFO funcMap' "$TMP/neg.out" | grep -m1 -- "$want" | sed 's/.*execution error at ([^)]*): //' | cut -c1-160)"
}
echo '{}' >"$TMP/empty.yaml"
check "chart: no milvus.address is refused" must_fail_render "$TMP/empty.yaml" "milvus.address is required"
printf 'milvus:\n  address: http://m:19530\nserviceMonitr:\n  enabled: true\n' >"$TMP/typo.yaml"
check "chart: a misspelt value is refused by values.schema.json" must_fail_render "$TMP/typo.yaml" "serviceMonitr"
printf 'milvus:\n  address: http://m:19530\nconfig:\n  milvus:\n    password: x\n' >"$TMP/owned.yaml"
check "chart: a password in config is refused" must_fail_render "$TMP/owned.yaml" "config.milvus.password is set by the chart"
printf 'milvus:\n  address: http://m:19530\n  tls:\n    enabled: true\n' >"$TMP/tls.yaml"
check "chart: TLS without https:// is refused" must_fail_render "$TMP/tls.yaml" "needs an https://"

for values in "$CHART"/ci/*-values.yaml; do
    ci=$(basename "$values" -values.yaml)
    out="$TMP/chart-$ci"
    m="$out/manifests.yaml"
    check "ci/$ci: helm lint --strict + template" k8s render "$CHART" "$values" "$out" "$RELEASE" "$NAMESPACE"
    [[ -f "$m" ]] || continue
    validate "ci/$ci" "$m"
    check "ci/$ci: release label on operator objects" k8s release-label-values "$values" "$m"
    fallback=()
    [[ $ci == existing-config ]] && fallback=(config/milvus_exporter.toml)
    check "ci/$ci: milvus_exporter check accepts the config" k8s exporter-config "$BIN" "$m" "$TMP" "${fallback[@]}"
done

# The config check must be able to fail: an invalid value gives exit 2 and the check says so.
config_check_fails() {
    printf 'milvus:\n  address: http://m:19530\nconfig:\n  milvus:\n    max_concurrency: 0\n' >"$TMP/bad.yaml"
    k8s render "$CHART" "$TMP/bad.yaml" "$TMP/bad" "$RELEASE" "$NAMESPACE" >/dev/null
    mkdir -p "$TMP/bad-config"
    if k8s exporter-config "$BIN" "$TMP/bad/manifests.yaml" "$TMP/bad-config" >"$TMP/bad.out" 2>&1; then
        cat "$TMP/bad.out"; echo "an invalid config was accepted"; return 1
    fi
    grep -q 'exit 2' "$TMP/bad.out" || { cat "$TMP/bad.out"; return 1; }
    echo "refused: $(grep -m1 'milvus_exporter: config' "$TMP/bad.out")"
}
check "milvus_exporter check refuses an invalid rendered config" config_check_fails

# docs/helm.md's scrape_configs: what the operator generates from the ServiceMonitors of the
# kube-prometheus-stack and probe-targets modes, and valid for Prometheus itself.
scrape_doc() {
    cat "$TMP/chart-probe-targets/manifests.yaml" >"$TMP/sm.yaml"
    k8s scrape-config docs/helm.md "$TMP/sm.yaml" "$TMP/scrape.yml"
    promtool check config --syntax-only "$TMP/scrape.yml" >/dev/null
}
check "docs/helm.md scrape_configs == operator's from ci/probe-targets, promtool-valid" scrape_doc

# ------------------------------------------------------------------------------ kustomize
# Built as `kubectl apply -k ... -n milvus` would: through an overlay that sets the namespace.
kustomize_build() {
    local out=$1 component=${2:-}
    local ov="$TMP/overlay-$(basename "$out" .yaml)"
    mkdir -p "$ov"
    cp -r "$ROOT/deploy" "$ov/"
    {
        echo "apiVersion: kustomize.config.k8s.io/v1beta1"
        echo "kind: Kustomization"
        echo "namespace: $NAMESPACE"
        echo "resources: [deploy/kubernetes]"
        if [[ -n $component ]]; then echo "components: [deploy/kubernetes/components/$component]"; fi
    } >"$ov/kustomization.yaml"
    kubectl kustomize "$ov" >"$out"
    echo "kubectl kustomize: $(grep -c '^kind:' "$out") objects"
}
check "kustomize: base builds" kustomize_build "$TMP/kustomize-base.yaml"
check "kustomize: base + components/multi-target builds" kustomize_build "$TMP/kustomize-multi.yaml" multi-target
for k in base multi; do
    m="$TMP/kustomize-$k.yaml"
    [[ -s "$m" ]] || continue
    validate "kustomize $k" "$m"
    check "kustomize $k: release label on operator objects" k8s release-label kube-prometheus-stack "$m" ServiceMonitor PrometheusRule
    check "kustomize $k: milvus_exporter check accepts the config" k8s exporter-config "$BIN" "$m" "$TMP"
done
if [[ -s "$TMP/kustomize-multi.yaml" ]]; then
    check "kustomize multi: component config.toml extends the base's" k8s component-config "$TMP/kustomize-base.yaml" "$TMP/kustomize-multi.yaml"
fi
pr_rules() {
    "$PY" -c 'import sys, yaml; d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x and x["kind"] == "PrometheusRule"][0]; yaml.safe_dump({"groups": d["spec"]["groups"]}, open(sys.argv[2], "w"))' \
        "$TMP/kustomize-base.yaml" "$TMP/pr-groups.yml"
    promtool check rules "$TMP/pr-groups.yml" >"$TMP/pr-groups.out" 2>&1 || { cat "$TMP/pr-groups.out"; return 1; }
    grep SUCCESS "$TMP/pr-groups.out"
}
check "kustomize base: promtool check rules on the PrometheusRule" pr_rules

# ------------------------------------------------------------------------------ milvus-helm sidecar
# deploy/helm/milvus-helm-sidecar/post-render.sh on milvus-helm's output for cluster mode (a
# fixture: the proxy Deployment, Service and ServiceAccount as milvus-helm 5.0.19 renders them).
# No checkov here: what it finds in this output is milvus-helm's own (its proxy container); the
# container the patch adds is the chart's, scanned above.
sidecar_render() {
    deploy/helm/milvus-helm-sidecar/post-render.sh <tests/fixtures/k8s/milvus-helm-cluster-proxy.yaml >"$TMP/sidecar.yaml"
    echo "post-render.sh: $(grep -c '^kind:' "$TMP/sidecar.yaml") objects"
}
check "milvus-helm sidecar: post-render.sh builds" sidecar_render
if [[ -s "$TMP/sidecar.yaml" ]]; then
    validate "milvus-helm sidecar" "$TMP/sidecar.yaml" noscan
    check "milvus-helm sidecar: release label on operator objects" k8s release-label kube-prometheus-stack "$TMP/sidecar.yaml" PodMonitor
    check "milvus-helm sidecar: milvus_exporter check accepts the config" k8s exporter-config "$BIN" "$TMP/sidecar.yaml" "$TMP"
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
