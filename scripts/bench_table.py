#!/usr/bin/env python3
"""Markdown tables from `lfm bench --format json` reports (the README's Benchmarks tables).

    lfm bench --model m.gguf --format json > m.json
    python3 scripts/bench_table.py NAME=m.json [NAME=other.json ...]

One row per report for the summary (file, weights, memory, copy bandwidth, decode), then one
table of prefill / time to first token rows and one of decode-at-context rows. Standard
library only.
"""
import json
import sys


def gb(b):
    return "-" if b is None else f"{b / 1e9:.2f} GB"


def num(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def main():
    reports = []
    for arg in sys.argv[1:]:
        name, _, path = arg.rpartition("=")
        with open(path) as f:
            reports.append((name or path, json.load(f)))
    if not reports:
        sys.exit(__doc__)

    print("| model | weights (file / GPU) | read per token: weights (dense + experts + head) | "
          "memory: ours / allocator / theory | copy GB/s | decode tok/s | of copy | launches/token |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in reports:
        m, tb = r["memory"], r["token_bytes"]
        alloc = m.get("device_allocated")
        print(f"| {name} | {gb(r['file_bytes'])} / {gb(r['weight_bytes'])} | {gb(tb['total'])} "
              f"({gb(tb['dense'])} + {gb(tb['experts'])} + {gb(tb['head'])}) | "
              f"{gb(m['total'])} / {gb(alloc)} / {gb(m['theoretical_total'])} at {m['capacity_tokens']} positions | "
              f"{num(r['copy_bandwidth_bytes_per_s'] / 1e9)} | {num(r['decode_tokens_per_s'])} | "
              f"{num(100 * (r['decode_fraction_of_copy_bandwidth'] or 0), 1)} % | "
              f"{num(r['dispatches_per_decode_token'], 0)} |")

    print()
    print("| model | prompt tokens | prefill tok/s | time to first token | launches | decode after it, tok/s |")
    print("|---|---|---|---|---|---|")
    for name, r in reports:
        for p in r["prefill"]:
            d = p.get("decode") or {}
            print(f"| {name} | {p['prompt_tokens']} | {num(p['prefill_tokens_per_s'])} | "
                  f"{num(p['time_to_first_token_s'], 1)} s | {p['counts']['dispatches']} | "
                  f"{num(d.get('decode_tokens_per_s'))} |")

    print()
    print("| model | context | decode tok/s | bytes read per token (weights + KV) | GB/s | of copy | launches/token |")
    print("|---|---|---|---|---|---|---|")
    for name, r in reports:
        for d in r["decode"]:
            print(f"| {name} | {d['context']} | {num(d['decode_tokens_per_s'])} | {gb(d['bytes_per_token'])} "
                  f"({gb(d['weight_bytes_per_token'])} + {gb(d['kv_bytes_per_token'])}) | {num(d['bytes_per_s'] / 1e9)} | "
                  f"{num(100 * d['fraction_of_copy_bandwidth'], 1)} % | {num(d['dispatches_per_token'], 0)} |")


if __name__ == "__main__":
    main()
