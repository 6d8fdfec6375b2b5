#!/usr/bin/env bash
# Builds the npm package's wasm module into pkg/dist (release build of the crate, then
# wasm-bindgen's ES module): lfm_webgpu.js, lfm_webgpu_bg.wasm, lfm_webgpu.d.ts.
#
#   pkg/build.sh [--opt]     --opt: also shrink the module with binaryen's wasm-opt
#
# Also checks that package.json's version is the crate's.
set -euo pipefail
cd "$(dirname "$0")/.."

crate=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
npm=$(node -p 'require("./pkg/package.json").version')
if [ "$crate" != "$npm" ]; then
  echo "pkg/build.sh: pkg/package.json has version $npm, the crate $crate: keep them equal" >&2
  exit 1
fi
# Progress goes to stderr: `npm pack --json` prints its result on stdout.
exec tests/browser/build-wasm.sh --out-dir pkg/dist "$@" >&2
