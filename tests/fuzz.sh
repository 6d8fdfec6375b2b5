#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, cargo-fuzz + libFuzzer) and runs each for SECONDS (default
# 20): the GGUF reader, the tool-call parser, chat templates, streaming detokenization.
#
#   tests/fuzz.sh [SECONDS]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and the fixtures at ../shared/fixtures. Works
# on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only flags
# (-Zsanitizer=address: the targets run under AddressSanitizer). The committed seeds in
# fuzz/corpus/ are only read; what libFuzzer adds goes to fuzz/corpus-work/ (ignored by git,
# kept between runs). A crash, a failed check or an input slower than 60 s fails the script
# and leaves the input in fuzz/artifacts/<target>/ (fuzz/README.md: how to reproduce it).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-20}"
targets=(gguf_header gguf_prefix tool_call_parser chat_template detokenize_stream)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
  exit 1
fi
export RUSTC_BOOTSTRAP=1

echo "== build"
cargo fuzz build

for target in "${targets[@]}"; do
  echo "== $target (${seconds} s)"
  mkdir -p "corpus-work/$target"
  log="corpus-work/$target.log"
  if ! cargo fuzz run "$target" "corpus-work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed (full log: fuzz/$log)" >&2
    exit 1
  fi
  # The last coverage line and the run count.
  grep -E '^#[0-9]+' "$log" | tail -n 1
  grep -E '^stat::number_of_executed_units' "$log" || true
done
