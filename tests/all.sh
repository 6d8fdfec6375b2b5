#!/usr/bin/env bash
# Every test of the project: Rust unit + integration tests against the fixtures in
# ../shared/fixtures, then the wasm32 build in headless Chromium (tests/browser/), then a short
# run of every fuzz target (tests/fuzz.sh; LFM_FUZZ_SECONDS per target, default 20, 0 skips).
# `.ci/run` installs the prerequisites (Chromium, lavapipe, wasm-bindgen-cli, cargo-fuzz, node
# packages).
set -euo pipefail
cd "$(dirname "$0")/.."
# Mesa's Vulkan loader complains on every adapter probe without a runtime dir.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

if [ ! -d ../shared/fixtures ]; then
  echo "tests need the fixtures at ../shared/fixtures (next to this checkout)" >&2
  exit 1
fi

# First, so a wasm32 compile error fails fast; the browser tests use this build.
echo "== wasm32 build of the library (browser module)"
tests/browser/build-wasm.sh

# The modules that read input deny clippy's unwrap_used / expect_used (README: Reliability);
# other lints only warn here.
echo "== cargo clippy"
cargo clippy --all-targets --quiet

echo "== cargo test"
cargo test --all-targets

echo "== browser tests (headless Chromium, WebGPU)"
if [ ! -d tests/browser/node_modules ]; then
  echo "tests/browser/node_modules is missing: run .ci/run (or npm ci --prefix tests/browser)" >&2
  exit 1
fi
node --test --test-reporter=spec tests/browser/*.test.mjs

# Last: the first build of the fuzz targets compiles the library again with AddressSanitizer
# (about 10 minutes on 2 busy cores, then about a minute after a change).
fuzz_seconds="${LFM_FUZZ_SECONDS:-20}"
if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzz targets (${fuzz_seconds} s each)"
  tests/fuzz.sh "$fuzz_seconds"
fi
