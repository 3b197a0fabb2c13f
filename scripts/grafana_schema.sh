#!/usr/bin/env bash
# Grafana's dashboard JSON schema, made from what Grafana itself publishes: the npm package
# @grafana/schema carries the classic dashboard model as TypeScript types generated from
# Grafana's CUE kind (dist/types/raw/dashboard/x/types.gen.d.ts: Dashboard, Panel, RowPanel,
# VariableModel, FieldConfig, ...), and no JSON Schema file; ts-json-schema-generator turns
# those types into one. Both pinned in scripts/node/grafana-schema/package-lock.json and
# installed with `npm ci` into .venv-tools/grafana-schema (once; reused while the lock file is
# the same).
#
#   scripts/grafana_schema.sh        -> prints the path of the generated dashboard.schema.json
#
# Needs node and npm (Debian: apt-get install nodejs npm); the interface types are closed
# (additionalProperties false), so an unknown key anywhere is an error, as in Grafana's own
# schema validation.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/scripts/node/grafana-schema"
DIR="${TOOLS_VENV_DIR:-$ROOT/.venv-tools}/grafana-schema"
OUT="$DIR/dashboard.schema.json"
command -v npm >/dev/null 2>&1 || { echo "grafana_schema.sh: npm not found (apt-get install nodejs npm)" >&2; exit 1; }

mkdir -p "$DIR"
if ! cmp -s "$SRC/package-lock.json" "$DIR/package-lock.json" || [[ ! -d "$DIR/node_modules" ]]; then
    echo "grafana_schema.sh: npm ci in $DIR" >&2
    cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
    rm -f "$OUT"
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
TYPES="$DIR/node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts"
[[ -f "$TYPES" ]] || { echo "grafana_schema.sh: $TYPES missing" >&2; exit 1; }
if [[ ! -s "$OUT" || "$TYPES" -nt "$OUT" ]]; then
    # --no-type-check: the .d.ts is published generated code; checking it needs no compiler
    # setup of ours. The Dashboard type is the root.
    (cd "$DIR" && ./node_modules/.bin/ts-json-schema-generator --path "$TYPES" --type Dashboard \
        --no-type-check -o "$OUT.tmp" >&2)
    mv "$OUT.tmp" "$OUT"
fi
echo "$OUT"
