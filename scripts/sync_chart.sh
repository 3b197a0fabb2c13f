#!/usr/bin/env bash
# Copy the monitoring artifacts into the places that cannot read them from the repository:
#   prometheus/rules/*.yml       -> deploy/helm/milvus-exporter/rules/        (PrometheusRule)
#   grafana/dashboards/*.json    -> deploy/helm/milvus-exporter/dashboards/   (dashboard ConfigMaps)
#   prometheus/rules/*.yml       -> deploy/kubernetes/prometheusrule.yaml     (spec.groups)
# A Helm chart reads only files inside its own folder, and kustomize only files under its
# directory, so both carry copies. Run this after the rules or dashboards change (the mixin
# regenerates them); scripts/check_k8s.sh fails while a copy differs from its original.
#
#   scripts/sync_chart.sh            copy
#   scripts/sync_chart.sh --check    copy nothing; exit 1 and name every copy that differs
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CHART=deploy/helm/milvus-exporter
MODE=${1:-copy}
case "$MODE" in copy|--check) ;; *) echo "usage: scripts/sync_chart.sh [--check]" >&2; exit 2 ;; esac

PY=${PYTHON:-python3}
stale=0

# sync_dir SRC_GLOB_DIR EXT DEST: DEST holds exactly the *.EXT files of SRC, byte for byte.
sync_dir() {
    local src=$1 ext=$2 dest=$3 f name
    mkdir -p "$dest"
    for f in "$src"/*."$ext"; do
        [[ -e "$f" ]] || continue
        name=$(basename "$f")
        if ! cmp -s "$f" "$dest/$name"; then
            if [[ $MODE == --check ]]; then echo "differs: $dest/$name (from $f)"; stale=1
            else cp "$f" "$dest/$name"; echo "copied $f -> $dest/$name"; fi
        fi
    done
    for f in "$dest"/*."$ext"; do
        [[ -e "$f" ]] || continue
        name=$(basename "$f")
        if [[ ! -e "$src/$name" ]]; then
            if [[ $MODE == --check ]]; then echo "no original: $dest/$name (not in $src)"; stale=1
            else rm "$f"; echo "removed $dest/$name (gone from $src)"; fi
        fi
    done
}

sync_dir prometheus/rules yml "$CHART/rules"
sync_dir grafana/dashboards json "$CHART/dashboards"

# The kustomize PrometheusRule: its metadata stays, spec.groups are the rules files' groups.
want=$("$PY" scripts/py/k8s_checks.py prometheusrule-render deploy/kubernetes/prometheusrule.yaml prometheus/rules/*.yml)
if [[ "$want" != "$(cat deploy/kubernetes/prometheusrule.yaml)" ]]; then
    if [[ $MODE == --check ]]; then echo "differs: deploy/kubernetes/prometheusrule.yaml (spec.groups from prometheus/rules/*.yml)"; stale=1
    else printf '%s\n' "$want" >deploy/kubernetes/prometheusrule.yaml; echo "rewrote deploy/kubernetes/prometheusrule.yaml"; fi
fi

if [[ $MODE == --check ]]; then
    if [[ $stale -ne 0 ]]; then echo "run scripts/sync_chart.sh to refresh the copies"; exit 1; fi
    echo "chart rules/ and dashboards/ and deploy/kubernetes/prometheusrule.yaml equal their originals"
fi
