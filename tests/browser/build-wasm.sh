#!/usr/bin/env bash
# Builds the browser module: the library for wasm32 (release), then wasm-bindgen's ES module
# (`--target web`): OUT_DIR/lfm_webgpu.js, lfm_webgpu_bg.wasm and TypeScript declarations.
#
#   tests/browser/build-wasm.sh [--out-dir DIR] [--dev] [--opt]
#
#   --out-dir DIR  where the module goes (default: target/web-pkg; relative to the repo root)
#   --dev          debug build (faster to build, much slower to run)
#   --opt          also shrink the module with binaryen's wasm-opt (must be on PATH)
#
# wasm-bindgen-cli must be the version of the wasm-bindgen crate in Cargo.lock (`.ci/run`
# installs it). Cargo rebuilds only what changed; wasm-bindgen reruns only when the module
# or the options changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

out_dir=target/web-pkg
profile=release
opt=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out-dir) out_dir="$2"; shift 2 ;;
    --dev) profile=debug; shift ;;
    --opt) opt=1; shift ;;
    *) echo "build-wasm.sh: unknown option $1 (see the header of this script)" >&2; exit 2 ;;
  esac
done

# The wasm-bindgen version in Cargo.lock: the line after `name = "wasm-bindgen"`.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  echo "build-wasm.sh: need wasm-bindgen-cli $want (Cargo.lock), found '${have:-none}'; run .ci/run or" >&2
  echo "  cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

flags=(--lib --target wasm32-unknown-unknown)
[ "$profile" = release ] && flags+=(--release)
cargo build "${flags[@]}"

wasm=target/wasm32-unknown-unknown/$profile/lfm_webgpu.wasm
stamp="$out_dir/.build-stamp"
options="$profile opt=$opt wasm-bindgen=$want"
if [ -f "$stamp" ] && [ "$stamp" -nt "$wasm" ] && [ "$(cat "$stamp")" = "$options" ]; then
  touch "$stamp" # newer than sources cargo found unchanged (e.g. src/bin/)
  echo "build-wasm.sh: $out_dir is up to date"
  exit 0
fi

mkdir -p "$out_dir"
wasm-bindgen --target web --out-dir "$out_dir" "$wasm"
if [ "$opt" = 1 ]; then
  wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    "$out_dir/lfm_webgpu_bg.wasm" -o "$out_dir/lfm_webgpu_bg.wasm"
fi
echo "$options" > "$stamp"
echo "build-wasm.sh: $out_dir ($(du -k "$out_dir/lfm_webgpu_bg.wasm" | cut -f1) KiB of wasm)"
