#!/usr/bin/env python3
"""Prefill and decode speed of llama.cpp (through llama-cpp-python, CPU, 2 threads by default)
and of `lfm bench` on the same GGUF file, with the same prompt and generation lengths, and
their ratio. Not part of CI (it takes minutes, and numbers depend on the machine).

    python -m venv /tmp/llamaenv && /tmp/llamaenv/bin/pip install llama-cpp-python numpy
    /tmp/llamaenv/bin/python scripts/bench_llamacpp.py /work/synth/mid-q4_0.gguf \\
        --prompt-tokens 128 --gen-tokens 16

`pip install llama-cpp-python` compiles llama.cpp from source (about 10 minutes on 2 cores; a C
and C++ compiler are needed, cmake comes from PyPI). Any Python that can `import llama_cpp`
runs this script; `--python` is not needed. llama-cpp-python 0.3.36 (llama.cpp of
2026-11) knows the `lfm2moe` architecture.

Both sides evaluate random token ids (seeded): the prompt in one call (llama.cpp batches of
`--n-batch`, lfm steps of 256 tokens), then greedy tokens one at a time. Time to first token is
the prompt's evaluation plus picking the first token. lfm's side is `lfm bench --format json`
(target/release/lfm, built when missing; `--lfm PATH` for another binary, `--lfm-json FILE` to
reuse a saved report). Prints a table and, with `--json`, one JSON object.
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def greedy(llm, np):
    """The most likely next token after the last evaluation (its logits, read from llama.cpp)."""
    logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
    return int(logits.argmax())


def llama_cpp_bench(path, prompt_tokens, gen_tokens, threads, n_batch, seed):
    try:
        import numpy as np
        from llama_cpp import Llama
    except ImportError as e:
        sys.exit(f"bench_llamacpp: {e}: run with a Python that has llama-cpp-python and numpy "
                 "(pip install llama-cpp-python numpy; it compiles llama.cpp, minutes)")
    rng = np.random.default_rng(seed)
    n_ctx = max(prompt_tokens) + gen_tokens + 8
    t0 = time.perf_counter()
    llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=n_batch,
                n_ubatch=n_batch, logits_all=False, verbose=False, seed=seed)
    load_s = time.perf_counter() - t0
    vocab = llm.n_vocab()
    # Warm-up: a short prompt and one token (the first evaluation maps the file in).
    llm.reset()
    llm.eval([int(t) for t in rng.integers(0, vocab, 4)])
    llm.eval([greedy(llm, np)])
    rows = []
    for n in prompt_tokens:
        prompt = [int(t) for t in rng.integers(0, vocab, n)]
        print(f"bench_llamacpp: llama.cpp prefill {n} tokens", file=sys.stderr)
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        token = greedy(llm, np)
        ttft = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(gen_tokens):
            llm.eval([token])
            token = greedy(llm, np)
        decode_s = time.perf_counter() - t0
        rows.append(dict(prompt_tokens=n, time_to_first_token_s=ttft, prefill_tokens_per_s=n / ttft,
                         gen_tokens=gen_tokens,
                         decode_tokens_per_s=gen_tokens / decode_s if gen_tokens else None))
    import llama_cpp
    return dict(version=getattr(llama_cpp, "__version__", "?"), threads=threads, n_batch=n_batch, n_ctx=n_ctx,
                load_s=load_s, runs=rows)


def lfm_bench(path, prompt_tokens, gen_tokens, lfm, lfm_json):
    if lfm_json:
        with open(lfm_json) as f:
            return json.load(f)
    if lfm is None:
        lfm = os.path.join(REPO, "target", "release", "lfm")
        if not os.path.exists(lfm):
            subprocess.run(["cargo", "build", "--release", "--bin", "lfm"], cwd=REPO, check=True)
    cmd = [lfm, "bench", "--model", path, "--prompt-tokens", ",".join(map(str, prompt_tokens)),
           "--gen-tokens", str(gen_tokens), "--context", "0", "--format", "json"]
    print("bench_llamacpp: " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE)  # progress stays on stderr
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="GGUF file")
    ap.add_argument("--prompt-tokens", default="128", help="comma-separated prompt lengths (default 128)")
    ap.add_argument("--gen-tokens", type=int, default=16, help="tokens decoded after each prompt (default 16)")
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads (default 2)")
    ap.add_argument("--n-batch", type=int, default=512, help="llama.cpp batch size (default 512)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lfm", help="the lfm binary (default: target/release/lfm, built when missing)")
    ap.add_argument("--lfm-json", help="a saved `lfm bench --format json` report instead of running lfm")
    ap.add_argument("--skip-lfm", action="store_true", help="measure llama.cpp only")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    a = ap.parse_args()
    prompts = [int(x) for x in a.prompt_tokens.split(",") if int(x) > 0]
    path = os.path.abspath(a.model)

    llama = llama_cpp_bench(path, prompts, a.gen_tokens, a.threads, a.n_batch, a.seed)
    lfm = None if a.skip_lfm else lfm_bench(path, prompts, a.gen_tokens, a.lfm, a.lfm_json)

    rows = []
    for run in llama["runs"]:
        ours = next((p for p in (lfm or {}).get("prefill", []) if p["prompt_tokens"] == run["prompt_tokens"]), None)
        ours_decode = (ours or {}).get("decode") or {}
        for what, theirs, mine in [
            ("prefill tok/s", run["prefill_tokens_per_s"], (ours or {}).get("prefill_tokens_per_s")),
            ("time to first token s", run["time_to_first_token_s"], (ours or {}).get("time_to_first_token_s")),
            ("decode tok/s", run["decode_tokens_per_s"], ours_decode.get("decode_tokens_per_s")),
        ]:
            ratio = mine / theirs if mine and theirs else None
            rows.append(dict(prompt_tokens=run["prompt_tokens"], figure=what, llama_cpp=theirs, lfm=mine,
                             lfm_over_llama_cpp=ratio))
    report = dict(model=path, gen_tokens=a.gen_tokens, llama_cpp=llama,
                  lfm_adapter=(lfm or {}).get("adapter"), lfm=lfm, comparison=rows)
    if a.json:
        print(json.dumps(report, indent=2))
        return
    adapter = (lfm or {}).get("adapter") or {}
    print(f"model      {path}")
    print(f"llama.cpp  llama-cpp-python {llama['version']}, CPU, {a.threads} threads, n_batch {a.n_batch}")
    if lfm:
        print(f"lfm        {adapter.get('name')} ({adapter.get('backend')}, {adapter.get('device_type')})")
    print()
    print(f"{'prompt':>7}  {'figure':<22} {'llama.cpp':>10} {'lfm':>10} {'lfm / llama.cpp':>16}")
    fmt = lambda x: "-" if x is None else f"{x:.3g}"  # noqa: E731
    for r in rows:
        print(f"{r['prompt_tokens']:>7}  {r['figure']:<22} {fmt(r['llama_cpp']):>10} {fmt(r['lfm']):>10} "
              f"{fmt(r['lfm_over_llama_cpp']):>16}")
    print("\n(time to first token: lower is better, so a ratio above 1 means lfm is slower there)")


if __name__ == "__main__":
    main()
