#!/usr/bin/env python3
"""A random-weight Q4_K_M, Q5_K_M or Q6_K GGUF of a ../shared/fixtures/tools/gen_synth_gguf.py preset
(the real LFM2.5-8B-A1B shape: `lfm25_8b_a1b`; `mid`, `small`, `tiny`), for `lfm bench`.

    python scripts/gen_synth_k_quants.py lfm25_8b_a1b /tmp/lfm25-q4_k_m.gguf [q4_k_m|q5_k_m|q6_k]

gen_synth_gguf.py writes F16 / Q8_0 / Q4_0 matrices; this script uses its presets, tensor list
and block pools to write llama-quantize's Q4_K_M mix instead, as it comes out for `lfm2moe`
(checked against ../shared/fixtures/small-moe/small-moe-q4_k_m.gguf, which llama-quantize made):
Q4_K everywhere (Q5_K for Q5_K_M, whose other choices are the same; Q6_K for Q6_K), except the tied token_embd (Q6_K), attn_v and ffn_down / ffn_down_exps of the
layers llama.cpp's `use_more_bits` picks (Q6_K), and with 8 experts attn_k / attn_v Q8_0 and
attn_output Q5_K; rows that are not whole 256-value blocks fall back as llama-quantize does
(Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0: the `mid` preset's 896-wide experts). K-quant blocks are random but valid (random quant bits, finite scales: see
gen_synth_gguf.py), so the file is for speed and memory measurements only. Needs
`pip install numpy gguf`.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("LFM_SYNTH_TOOLS", os.path.join(HERE, "..", "..", "shared", "fixtures", "tools"))
sys.path.insert(0, TOOLS)

import numpy as np  # noqa: E402
import gen_synth_gguf as g  # noqa: E402
from gen_synth_gguf import QT, BlockPool, GGUFReader, GGUFWriter, gguf  # noqa: E402


def use_more_bits(i, n):
    """llama.cpp's choice of the layers that get more bits (llama-quant.cpp)."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


# llama-quantize's fallback for rows that are not whole 256-value K-quant blocks.
FALLBACK = {QT.Q4_K: QT.Q5_0, QT.Q5_K: QT.Q5_1, QT.Q6_K: QT.Q8_0}
# f16 scale fields of the fallback types (gen_synth_gguf.BlockPool scales tensors through them).
g.SCALE_FIELDS.setdefault(QT.Q5_0, [0])
g.SCALE_FIELDS.setdefault(QT.Q5_1, [0, 2])


class Pool(BlockPool):
    """gen_synth_gguf's block pool, with Q5_0 / Q5_1 quantized for real by gguf-py too."""

    def __init__(self, qtype, rng, n_values=1 << 24):
        if qtype not in (QT.Q5_0, QT.Q5_1):
            super().__init__(qtype, rng, n_values)
            return
        self.qtype, self.rng = qtype, rng
        bs, tb = gguf.GGML_QUANT_SIZES[qtype]
        self.block_values, self.block_bytes = bs, tb
        x = rng.standard_normal(n_values, dtype=np.float32)
        self.blocks = gguf.quants.quantize(x.reshape(-1, bs), qtype).reshape(-1, tb)


def k_quant_types(c, tensors, base):
    """Tensor name -> type, as llama-quantize's Q4_K_M (base Q4_K) or Q5_K_M (base Q5_K) picks it."""
    n_experts = c["num_experts"]
    attn_v = [n for n, _, _ in tensors if n.endswith("attn_v.weight")]
    ffn_down = [n for n, _, _ in tensors if "ffn_down" in n]
    types = {}
    for name, shape, kind in tensors:
        if kind == "e":
            qt = QT.Q6_K
        elif kind != "w":
            qt = QT.F32
        elif name.endswith(("attn_k.weight", "attn_v.weight")) and n_experts == 8:
            qt = QT.Q8_0
        elif name.endswith("attn_v.weight"):
            qt = QT.Q6_K if use_more_bits(attn_v.index(name), len(attn_v)) else base
        elif name.endswith("attn_output.weight") and n_experts == 8:
            qt = QT.Q5_K
        elif "ffn_down" in name:
            qt = QT.Q6_K if use_more_bits(ffn_down.index(name), len(ffn_down)) else base
        else:
            qt = base
        if qt in FALLBACK and shape[-1] % 256:
            qt = FALLBACK[qt]
        types[name] = qt
    return types


def main():
    mixes = {
        "q4_k_m": (QT.Q4_K, gguf.LlamaFileType.MOSTLY_Q4_K_M),
        "q5_k_m": (QT.Q5_K, gguf.LlamaFileType.MOSTLY_Q5_K_M),
        "q6_k": (QT.Q6_K, gguf.LlamaFileType.MOSTLY_Q6_K),
    }
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in g.PRESETS or sys.argv[3:] and sys.argv[3] not in mixes:
        sys.exit(f"usage: gen_synth_k_quants.py {{{'|'.join(sorted(g.PRESETS))}}} OUT.gguf [{'|'.join(mixes)}]")
    preset, out = sys.argv[1], sys.argv[2]
    mix = sys.argv[3] if len(sys.argv) == 4 else "q4_k_m"
    base, file_type = mixes[mix]
    c = g.PRESETS[preset]
    H, V, LT = c["hidden_size"], c["vocab_size"], c["layer_types"]
    rng = np.random.default_rng(0)
    t0 = time.time()

    w = GGUFWriter(out, "lfm2moe")
    w.add_type("model")
    w.add_name(f"synthetic {preset} {mix.upper()}")
    w.add_block_count(len(LT))
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(H)
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_head_count(c["num_attention_heads"])
    w.add_head_count_kv([c["num_key_value_heads"] if t == "full_attention" else 0 for t in LT])
    w.add_rope_freq_base(c["rope_theta"])
    w.add_layer_norm_rms_eps(c["norm_eps"])
    w.add_expert_count(c["num_experts"])
    w.add_expert_used_count(c["num_experts_per_tok"])
    w.add_file_type(file_type)
    w.add_expert_feed_forward_length(c["moe_intermediate_size"])
    w.add_leading_dense_block_count(c["num_dense_layers"])
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_vocab_size(V)
    w.add_shortconv_l_cache(c["conv_L_cache"])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    # The tokenizer of the tiny-moe fixture, padded to the preset's vocabulary (as gen_synth_gguf.py).
    r = GGUFReader(os.path.join(TOOLS, "..", "tiny-moe", "tiny-moe-f16.gguf"))
    fv = lambda k: r.fields[k].contents()  # noqa: E731
    toks, tt = fv("tokenizer.ggml.tokens"), fv("tokenizer.ggml.token_type")
    first_pad = next((i for i, x in enumerate(toks) if x == f"[PAD{i}]"), len(toks))
    toks = toks[:first_pad] + [f"[PAD{i}]" for i in range(first_pad, V)]
    tt = tt[:first_pad] + [int(gguf.TokenType.UNUSED)] * (V - first_pad)
    w.add_tokenizer_model(fv("tokenizer.ggml.model"))
    w.add_tokenizer_pre(fv("tokenizer.ggml.pre"))
    w.add_token_list(toks)
    w.add_token_types(tt)
    w.add_token_merges(fv("tokenizer.ggml.merges"))
    w.add_bos_token_id(fv("tokenizer.ggml.bos_token_id"))
    w.add_eos_token_id(fv("tokenizer.ggml.eos_token_id"))
    w.add_pad_token_id(fv("tokenizer.ggml.padding_token_id"))
    w.add_add_bos_token(bool(fv("tokenizer.ggml.add_bos_token")))
    w.add_add_eos_token(False)
    w.add_add_sep_token(False)
    w.add_chat_template(fv("tokenizer.chat_template"))
    del r

    T = g.tensor_list(c)
    types = k_quant_types(c, T, base)
    for name, shp, _ in T:
        qt = types[name]
        bs, tb = gguf.GGML_QUANT_SIZES[qt]
        if shp[-1] % bs:
            sys.exit(f"{name}: row length {shp[-1]} is not a multiple of the {qt.name} block size {bs}")
        nbytes = int(np.prod(shp)) // bs * tb
        if qt == QT.F32:
            w.add_tensor_info(name, shp, np.dtype(np.float32), nbytes)
        else:
            w.add_tensor_info(name, shp, np.dtype(np.float32), nbytes, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()

    pools = {}
    for name, shp, kind in T:
        n, qt = int(np.prod(shp)), types[name]
        if kind in ("w", "e"):
            if qt not in pools:
                pools[qt] = Pool(qt, rng)
            arr = pools[qt].take(n, 1.0 / np.sqrt(shp[-1]) if kind == "w" else 1.0 / np.sqrt(H))
        elif kind == "n":
            arr = (1.0 + 0.1 * rng.standard_normal(shp)).astype(np.float32)
        elif kind == "c":
            arr = (0.5 * rng.standard_normal(shp)).astype(np.float32)
        elif kind == "r":
            arr = (rng.standard_normal(shp) / np.sqrt(shp[-1])).astype(np.float32)
        else:
            arr = (0.05 * rng.standard_normal(shp)).astype(np.float32)
        w.write_tensor_data(arr)
    w.close()
    hist = {}
    for qt in types.values():
        hist[qt.name] = hist.get(qt.name, 0) + 1
    print(json.dumps(dict(preset=preset, out=out, type=mix, tensor_types=hist, bytes=os.path.getsize(out),
                          seconds=round(time.time() - t0, 1))))


if __name__ == "__main__":
    main()
