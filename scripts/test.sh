#!/usr/bin/env bash
# Run every check and test of milvus_exporter. Works on a fresh Debian machine
# with Rust: installs what is missing, then runs all steps, then reports.
#
#   scripts/test.sh
#
# Steps (all run, even after a failure; exit 1 if any failed):
#   apt      apt-get install the tools the tests use, only if one is missing
#            (prometheus/promtool, prometheus-alertmanager/amtool, docker-compose,
#            chromium, wrk)
#   venv     scripts/venv.sh: Python venv with real Milvus Lite (+ pymilvus)
#   fmt      cargo fmt --all -- --check
#   clippy   cargo clippy --all-targets --features live -- -D warnings
#   test     cargo test --all-targets --features live --no-fail-fast   (every binary runs
#            even after one fails, so the summary counts every test; MILVUS_EXPORTER_VENV exported;
#            the live suites start real Milvus Lite from it, and Milvus standalone 2.3.5,
#            and never skip; without --features live, plain `cargo test` is the hermetic suite)
#   stack    bash scripts/check_stack.sh   (static checks of the monitoring artifacts)
#   k8s      bash scripts/check_k8s.sh     (offline checks of the Helm chart and the kustomize
#            manifests: helm lint/template, Kubernetes and CRD schemas, Pod Security, checkov,
#            the exporter's own `check` on every rendered config; tools pinned, installed by it)
#   browser  bash scripts/check_browser.sh  (the status page in headless Debian chromium, driven by
#            playwright-core from npm, against the exporter and the fake Milvus; screenshots
#            in .run/browser/)
#   live     bash scripts/check_live_stack.sh (Prometheus scraping the exporter and Milvus Lite)
# Env: RUST_TEST_THREADS (default 2), VENV (venv location, see venv.sh),
#      SKIP_APT=1 to skip the apt step. Per-step logs go to .run/test-logs/.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
REPO="$PWD"
LOG_DIR="$REPO/.run/test-logs"
mkdir -p "$LOG_DIR"
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

STEP_NAMES=()
STEP_RESULTS=()
STEP_TIMES=()
FAILED_STEPS=()

# step NAME CMD...: run CMD, tee its output to .run/test-logs/NAME.log, record the result.
step() {
  local name=$1 rc start
  shift
  printf '\n======== %s: %s ========\n' "$name" "$*"
  start=$SECONDS
  "$@" 2>&1 | tee "$LOG_DIR/$name.log"
  rc=${PIPESTATUS[0]}
  STEP_NAMES+=("$name")
  STEP_TIMES+=("$((SECONDS - start))s")
  if [[ $rc -eq 0 ]]; then
    STEP_RESULTS+=("ok")
  else
    STEP_RESULTS+=("FAIL (exit $rc)")
    FAILED_STEPS+=("$name")
  fi
  return 0
}

skip_step() {
  STEP_NAMES+=("$1")
  STEP_RESULTS+=("FAIL (not run: $2)")
  STEP_TIMES+=("0s")
  FAILED_STEPS+=("$1")
  printf '\n======== %s: not run: %s ========\n' "$1" "$2"
}

# ---- apt: tool -> Debian package ---------------------------------------------
install_tools() {
  local -a want=(
    "prometheus:prometheus"
    "promtool:prometheus"
    "prometheus-alertmanager:prometheus-alertmanager"
    "amtool:prometheus-alertmanager"
    "docker-compose:docker-compose"
    "chromium:chromium"
    "wrk:wrk"
  )
  local -a pkgs=()
  local spec tool pkg
  for spec in "${want[@]}"; do
    tool=${spec%%:*}
    pkg=${spec#*:}
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "missing: $tool (package $pkg)"
      [[ " ${pkgs[*]-} " == *" $pkg "* ]] || pkgs+=("$pkg")
    fi
  done
  if [[ ${#pkgs[@]} -eq 0 ]]; then
    echo "all tools present; nothing to install"
    return 0
  fi
  local -a sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "not root and no sudo: install ${pkgs[*]} by hand"; return 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q &&
    "${sudo[@]}" apt-get install -y -q -o Dpkg::Options::=--force-confold "${pkgs[@]}" || return 1
  for spec in "${want[@]}"; do
    tool=${spec%%:*}
    command -v "$tool" >/dev/null 2>&1 || { echo "still missing after apt-get: $tool"; return 1; }
  done
}

venv_step() {
  local out
  out="$(scripts/venv.sh)" || return 1
  PY="$(printf '%s\n' "$out" | tail -n1)"
  [[ -x "$PY" ]] || { echo "venv.sh printed no usable python: $PY"; return 1; }
  echo "$PY"
}

START=$SECONDS
if [[ "${SKIP_APT:-0}" == 1 ]]; then
  echo "SKIP_APT=1: not installing tools"
else
  step apt install_tools
fi

PY=""
step venv venv_step
# venv_step ran in a pipeline (subshell): read the python path back from its log.
PY="$(tail -n1 "$LOG_DIR/venv.log" 2>/dev/null || true)"
if [[ -x "$PY" ]]; then
  MILVUS_EXPORTER_VENV="$(cd "$(dirname "$PY")/.." && pwd)"
  export MILVUS_EXPORTER_VENV
  echo "MILVUS_EXPORTER_VENV=$MILVUS_EXPORTER_VENV"
fi

step fmt cargo fmt --all -- --check
step clippy cargo clippy --all-targets --features live -- -D warnings
if [[ -n "${MILVUS_EXPORTER_VENV:-}" ]]; then
  step test cargo test --all-targets --features live --no-fail-fast
else
  skip_step test "no venv (scripts/venv.sh failed)"
fi
if [[ -f scripts/check_stack.sh ]]; then
  if [[ -x "$PY" ]]; then
    step stack env PYTHON="$PY" bash scripts/check_stack.sh
  else
    step stack bash scripts/check_stack.sh
  fi
fi

if [[ -f scripts/check_k8s.sh ]]; then
  # Uses the debug binary the test step built (target/debug/milvus_exporter).
  step k8s bash scripts/check_k8s.sh
fi

if [[ -f scripts/check_browser.sh ]]; then
  # The status page in a real browser: healthy, failing, flapping; escaping; 375 and 1920 px.
  step browser bash scripts/check_browser.sh
fi

if [[ -f scripts/check_live_stack.sh ]]; then
  # Real Prometheus scraping the real exporter and Milvus Lite: dashboards' queries, one alert.
  step live bash scripts/check_live_stack.sh
fi

# ---- summary -------------------------------------------------------------------
# Sum the test counts of every `cargo test` binary ("test result: ... N passed; M failed")
# and of check_stack.sh, check_k8s.sh, check_browser.sh and check_live_stack.sh ("N passed, M failed").
passed=0
failed=0
if [[ -f "$LOG_DIR/test.log" ]]; then
  while read -r p f; do
    passed=$((passed + p)); failed=$((failed + f))
  done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$LOG_DIR/test.log")
fi
for log in stack k8s browser live; do
  [[ -f "$LOG_DIR/$log.log" ]] || continue
  while read -r p f; do
    passed=$((passed + p)); failed=$((failed + f))
  done < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$LOG_DIR/$log.log" | tail -n1)
done

printf '\n======== summary (%ss, logs in .run/test-logs/) ========\n' "$((SECONDS - START))"
for i in "${!STEP_NAMES[@]}"; do
  printf '  %-8s %-28s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_TIMES[$i]}"
done
if [[ ${#FAILED_STEPS[@]} -gt 0 ]]; then
  echo "FAILED steps: ${FAILED_STEPS[*]}"
else
  echo "all steps passed"
fi
echo "tests: $passed passed, $failed failed"
[[ ${#FAILED_STEPS[@]} -eq 0 ]]
