#!/usr/bin/env bash
# Create (or reuse) a Python venv of pinned tools for one kind of check, from
# scripts/requirements/NAME.txt (one pinned requirement a line, `#` comments allowed).
# Idempotent: a venv whose marker holds the same requirements returns at once.
#
#   scripts/tools_venv.sh NAME     -> <repo>/.venv-tools/NAME
#   TOOLS_VENV_DIR=/some/dir scripts/tools_venv.sh NAME
#
# The last line printed is the venv's python path. The Milvus Lite venv the tests run
# against is scripts/venv.sh's, kept apart so a tool's dependencies cannot move its pins.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="${1:?usage: scripts/tools_venv.sh NAME (reads scripts/requirements/NAME.txt)}"
REQ="$REPO/scripts/requirements/$NAME.txt"
[[ -f "$REQ" ]] || { echo "tools_venv.sh: no $REQ" >&2; exit 1; }
BASE="${TOOLS_VENV_DIR:-$REPO/.venv-tools}"
VENV="$BASE/$NAME"
PY="$VENV/bin/python"
MARKER="$VENV/.milvus_exporter_tools"
WANT="$(cat "$REQ")"

if [[ -x "$PY" && -f "$MARKER" ]] && [[ "$(cat "$MARKER")" == "$WANT" ]]; then
  echo "tools_venv.sh: $VENV is up to date" >&2
  echo "$PY"
  exit 0
fi

mkdir -p "$BASE"
if [[ ! -x "$PY" ]]; then
  echo "tools_venv.sh: creating $VENV" >&2
  if ! python3 -m venv "$VENV" >&2; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
      rm -rf "$VENV"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq python3-venv >&2
      python3 -m venv "$VENV" >&2
    else
      echo "tools_venv.sh: 'python3 -m venv' failed; install python3-venv and retry" >&2
      exit 1
    fi
  fi
fi
rm -f "$MARKER"
echo "tools_venv.sh: installing $REQ into $VENV" >&2
"$PY" -m pip install --disable-pip-version-check --no-input -q -r "$REQ" >&2
printf '%s\n' "$WANT" >"$MARKER"
echo "$PY"
