#!/usr/bin/env bash
# Renders the monitoring mixin (mixin/) into the files the repository ships, or checks them.
#
#   scripts/mixin.sh build    regenerate prometheus/rules/milvus-alerts.yml, grafana/dashboards/*.json
#   scripts/mixin.sh check    exit 1 (with a diff) when a committed file drifts from mixin/
#   scripts/mixin.sh lint     the mixin lint (scripts/py/mixin_lint.py); extra arguments passed on
#   scripts/mixin.sh render   the mixin's outputs as one JSON object on stdout
#
# The interpreter is the PyPI `jsonnet` package, pinned in scripts/requirements/mixin.txt,
# in the venv of scripts/tools_venv.sh mixin (created on first use). docs/mixin.md says more.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}
case "$cmd" in
    build|check|render|lint) ;;
    *) echo "usage: scripts/mixin.sh build|check|lint|render" >&2; exit 2 ;;
esac
shift
PY=$(bash "$ROOT/scripts/tools_venv.sh" mixin | tail -n1)
if [[ "$cmd" == lint ]]; then
    exec "$PY" "$ROOT/scripts/py/mixin_lint.py" "$@"
fi
exec "$PY" "$ROOT/scripts/py/mixin.py" "$cmd"
