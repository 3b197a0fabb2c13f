#!/usr/bin/env bash
# The status page in a real browser: Debian's headless Chromium (/usr/bin/chromium, from apt;
# no browser is ever downloaded) driven by playwright-core (npm, pinned by
# scripts/node/browser/package-lock.json, installed with `npm ci` into .venv-tools/browser-node)
# against examples/status_page_server: the real exporter serving the in-process fake Milvus,
# switched between healthy, failing and flapping by its control port. Loopback only. Its
# self-test requires the escaping and element checks to fail on broken copies of the page.
#
# Usage: bash scripts/check_browser.sh
# Prints `ok NAME` / `FAIL NAME: why` per check and `N passed, M failed`; exits 1 if any check
# failed. A missing tool (chromium, node, npm) is a failure, never a skip.
# Screenshots go to .run/browser/ (SHOTS=DIR to change).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
NODE_DIR="$ROOT/.venv-tools/browser-node"
SHOTS=${SHOTS:-$ROOT/.run/browser}
mkdir -p "$SHOTS"
TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

fail_setup() {
    echo "FAIL browser setup: $1"
    echo "0 passed, 1 failed"
    exit 1
}

for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || fail_setup "$tool is missing (apt-get install nodejs npm)"
done
[[ -x /usr/bin/chromium ]] || fail_setup "/usr/bin/chromium is missing (apt-get install chromium)"

# playwright-core, pinned; reinstalled only when the lock changes. It never fetches a browser.
want=$(cat scripts/node/browser/package.json scripts/node/browser/package-lock.json | sha256sum)
if [[ ! -f "$NODE_DIR/.lock-sha" || "$(cat "$NODE_DIR/.lock-sha")" != "$want" ]]; then
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp scripts/node/browser/package.json scripts/node/browser/package-lock.json "$NODE_DIR/"
    (cd "$NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
        >"$TMP/npm.log" 2>&1 || { cat "$TMP/npm.log"; fail_setup "npm ci failed"; }
    printf '%s\n' "$want" >"$NODE_DIR/.lock-sha"
fi
cp scripts/node/browser/check_page.mjs "$NODE_DIR/check_page.mjs"

timeout 900 cargo build --quiet --example status_page_server >"$TMP/build.log" 2>&1 \
    || { tail -n 30 "$TMP/build.log"; fail_setup "cargo build --example status_page_server failed"; }
target/debug/examples/status_page_server >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do
    grep -q '^control ' "$TMP/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
EXPORTER=$(awk '/^exporter /{print $2}' "$TMP/server.out")
CONTROL=$(awk '/^control /{print $2}' "$TMP/server.out")
if [[ -z "$EXPORTER" || -z "$CONTROL" ]]; then
    tail -n 20 "$TMP/server.err"
    fail_setup "status_page_server did not start"
fi
echo "exporter $EXPORTER, control $CONTROL, screenshots in $SHOTS"

timeout 300 node "$NODE_DIR/check_page.mjs" "$EXPORTER" "$CONTROL" "$SHOTS"
rc=$?
if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    echo "FAIL the browser run: node exited $rc"
    echo "0 passed, 1 failed"
    exit 1
fi
exit $rc
