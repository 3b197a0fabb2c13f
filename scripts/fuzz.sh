#!/usr/bin/env bash
# Fuzz the exporter's input parsers with cargo-fuzz (libFuzzer, nightly Rust), each for a
# bounded time, and print what was found.
#
#   scripts/fuzz.sh                        every target, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh config_toml
#
# Targets (fuzz/fuzz_targets/):
#   config_toml      TOML text, or MILVUS_EXPORTER_* variables, through Config::load_from
#   query_string     query strings through server::query_params and the real router (oneshot)
#   web_config_yaml  --web.config.file YAML through WebConfig::from_yaml
#   scrape_header    any X-Prometheus-Scrape-Timeout-Seconds on /metrics: 200, and the cached
#                    snapshot never holds a refresh cut by that scrape's deadline
#
# Needs a nightly toolchain (installed with rustup if missing) and cargo-fuzz (installed with
# `cargo install cargo-fuzz` if missing). Crashes land in fuzz/artifacts/<target>/; the corpus
# grows in fuzz/corpus/<target>/ (both git-ignored). Exit status: 0 when no target crashed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
ALL_TARGETS=(config_toml query_string web_config_yaml scrape_header)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

case "$SECONDS_PER_TARGET" in
  ''|*[!0-9]*) echo "fuzz.sh: FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2 ;;
esac

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: installing the nightly toolchain (cargo-fuzz needs it)"
  if ! rustup toolchain install nightly --profile minimal; then
    echo "fuzz.sh: no nightly toolchain can be installed here; cargo-fuzz cannot run." >&2
    exit 1
  fi
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd "$REPO"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$REPO/fuzz/target}"

# Seed corpora: real inputs the fuzzer mutates from (regenerated each run, idempotent).
seed() {
  local dir="fuzz/corpus/$1"
  mkdir -p "$dir"
  shift
  local i=0
  for s in "$@"; do
    printf '%b' "$s" > "$dir/seed-$i"
    i=$((i + 1))
  done
}
if [ -f config/milvus_exporter.toml ]; then
  mkdir -p fuzz/corpus/config_toml
  { printf '\0'; cat config/milvus_exporter.toml; } > fuzz/corpus/config_toml/seed-sample
fi
seed config_toml \
  '\0[milvus]\naddress = "http://127.0.0.1:1"\ntimeout = "3s"\n[cache]\nttl = "10s"\n' \
  '\0[[targets]]\nname = "a"\naddress = "localhost"\n[readiness]\nrequired_collections = ["db.c"]\n' \
  '\1CACHE__TTL=2s\nMILVUS__ADDRESS=http://x:1\nREADINESS__DISABLED_RULES=disk,memory\n'
seed query_string \
  '\0verbose=1' '\1target=t' '\1target=t&target=t' '\0verbose=false&x=%ff' '\2' '\x86'
seed web_config_yaml \
  'basic_auth_users:\n  u: $2y$04$abcdefghijklmnopqrstuu5Ih1yZ8cTVfDo/AIBoLOdjNp9FpZu8C\n' \
  'tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: RequireAndVerifyClientCert\n' \
  'unauthenticated_paths: [/healthz, /readyz]\n' \
  'tls_server_config:\n  cert: x\n  key: y\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  curve_preferences: [X25519]\n  min_version: TLS13\n  client_allowed_sans: [a]\n' \
  'http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    X-XSS-Protection: 1\n' \
  'rate_limit:\n  interval: 1h30m0.5s\n  burst: -1\n'

declare -A RESULT
failed=0
for t in "${TARGETS[@]}"; do
  echo "=== fuzzing $t for ${SECONDS_PER_TARGET}s ==="
  log="$(mktemp)"
  set +e
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)"
  cov="$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')"
  if [ "$rc" -eq 0 ]; then
    RESULT[$t]="ok: ${runs:-?} runs, coverage ${cov:-?} edges, no crash"
  else
    failed=1
    RESULT[$t]="FOUND A PROBLEM (exit $rc); see fuzz/artifacts/$t/ and $log"
    tail -40 "$log"
  fi
  echo "$t: ${RESULT[$t]}"
  [ "$rc" -eq 0 ] && rm -f "$log"
done

echo
echo "=== fuzz summary (${SECONDS_PER_TARGET}s per target) ==="
for t in "${TARGETS[@]}"; do
  echo "  $t: ${RESULT[$t]}"
done
exit "$failed"
