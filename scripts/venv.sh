#!/usr/bin/env bash
# Create (or reuse) the Python venv that runs real Milvus Lite for the demo and
# the integration tests. Idempotent: when the venv already holds the pinned
# versions (marker file), it returns at once.
#
#   scripts/venv.sh            -> <repo>/.venv
#   VENV=/some/dir scripts/venv.sh
#
# The last line printed is the venv's python path.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
PY="$VENV/bin/python"
MARKER="$VENV/.milvus_exporter_venv"

# Direct pins. pymilvus 3.0.2 is the client verified against milvus-lite
# 3.2.2's gRPC server (create/insert/flush/index/load/release/stats).
PINS=(milvus-lite==3.2.2 pymilvus==3.0.2)
# Transitive versions of the verified set, so a new release of one of them
# cannot change what the tests run against.
CONSTRAINTS="cachetools==8.0.1
certifi==2026.10.18
charset-normalizer==3.5.2
faiss-cpu==1.15.1
grpcio==1.85.1
idna==3.20
numpy==2.4.6
orjson==3.13.0
packaging==26.3
pandas==3.1.1
protobuf==7.36.2
pyarrow==26.0.1
python-dateutil==4.0.0
python-dotenv==1.2.4
requests==2.34.2
typing_extensions==4.16.0
tzdata==2026.6
urllib3==2.8.0"
WANT="$(printf '%s\n' "${PINS[@]}" "$CONSTRAINTS")"

if [[ -x "$PY" && -f "$MARKER" ]] && [[ "$(cat "$MARKER")" == "$WANT" ]]; then
  echo "venv.sh: $VENV already has ${PINS[*]}" >&2
  echo "$PY"
  exit 0
fi

if [[ ! -x "$PY" ]]; then
  echo "venv.sh: creating venv at $VENV" >&2
  if ! python3 -m venv "$VENV" >&2; then
    # Debian's python3 needs the python3-venv package for ensurepip.
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
      echo "venv.sh: python3 -m venv failed; installing python3-venv with apt-get" >&2
      rm -rf "$VENV"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq python3-venv >&2
      python3 -m venv "$VENV" >&2
    else
      echo "venv.sh: error: 'python3 -m venv $VENV' failed; install python3-venv (Debian) and retry" >&2
      exit 1
    fi
  fi
fi

CFILE="$(mktemp)"
trap 'rm -f "$CFILE"' EXIT
printf '%s\n' "$CONSTRAINTS" >"$CFILE"

echo "venv.sh: installing ${PINS[*]} into $VENV" >&2
rm -f "$MARKER"
"$PY" -m pip install --disable-pip-version-check --no-input -q -c "$CFILE" "${PINS[@]}" >&2
# Smoke check: both packages import and report the pinned versions.
"$PY" "$REPO/scripts/py/venv_check.py" "${PINS[@]}" >&2
printf '%s\n' "$WANT" >"$MARKER"
echo "$PY"
