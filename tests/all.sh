#!/usr/bin/env bash
# Every test of the project: Rust unit + integration tests against the fixtures in
# ../shared/fixtures, then the wasm32 build in headless Chromium (tests/browser/).
# `.ci/run` installs the prerequisites (Chromium, lavapipe, wasm-bindgen-cli, node packages).
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

echo "== cargo test"
cargo test --all-targets

echo "== browser tests (headless Chromium, WebGPU)"
if [ ! -d tests/browser/node_modules ]; then
  echo "tests/browser/node_modules is missing: run .ci/run (or npm ci --prefix tests/browser)" >&2
  exit 1
fi
node --test --test-reporter=spec tests/browser/*.test.mjs
