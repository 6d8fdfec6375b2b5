#!/usr/bin/env bash
# Every test of the project: Rust unit + integration tests against the fixtures in
# ../shared/fixtures, and the wasm32 build of the library. `.ci/run` installs the prerequisites.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/fixtures ]; then
  echo "tests need the fixtures at ../shared/fixtures (next to this checkout)" >&2
  exit 1
fi

echo "== wasm32 build of the library"
cargo build --lib --target wasm32-unknown-unknown

echo "== cargo test"
cargo test --all-targets
