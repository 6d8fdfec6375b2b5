#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the fixtures in ../shared/fixtures.

Run from anywhere: `python3 fuzz/make_seeds.py`. The output is committed; rerunning gives the
same files. Seeds are kept small (a few hundred KB in all): the fixture GGUFs' headers carry
65,536 vocabulary strings, so the GGUF seeds are those headers rewritten with the vocabulary
cut to its first tokens (everything else as in the file), plus a plain truncated prefix.
"""

import json
import shutil
import struct
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
FIXTURES = FUZZ.parent.parent / "shared" / "fixtures"
CORPUS = FUZZ / "corpus"

# ------------------------------------------------------------------------------ GGUF

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
          U64: "<Q", I64: "<q", F64: "<d"}


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s

    def value(self, ty):
        if ty == STR:
            return self.string()
        if ty == ARR:
            elem, n = self.take("<I"), self.take("<Q")
            return (elem, [self.value(elem) for _ in range(n)])
        return self.take(SCALAR[ty])


def read_header(path):
    """(version, [(key, type, value)], [(name, dims, type, offset)]) of a GGUF file."""
    data = path.read_bytes()
    r = Reader(data)
    assert data[:4] == b"GGUF"
    r.pos = 4
    version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    kvs = []
    for _ in range(n_kv):
        key = r.string()
        ty = r.take("<I")
        kvs.append((key, ty, r.value(ty)))
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        tensors.append((name, dims, r.take("<I"), r.take("<Q")))
    return version, kvs, tensors


def encode_value(ty, v):
    if ty == STR:
        return struct.pack("<Q", len(v)) + v
    if ty == ARR:
        elem, items = v
        return struct.pack("<IQ", elem, len(items)) + b"".join(encode_value(elem, x) for x in items)
    return struct.pack(SCALAR[ty], v)


def write_header(version, kvs, tensors, data=b""):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, ty, v in kvs:
        out += struct.pack("<Q", len(key)) + key + struct.pack("<I", ty) + encode_value(ty, v)
    for name, dims, ty, offset in tensors:
        out += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ty, offset)
    if data:
        out += b"\0" * (-len(out) % 32) + data
    return out


def small_vocab(kvs, n):
    """The vocabulary arrays cut to the first n tokens, the merges to those within them."""
    kept = set(next(v[1][:n] for k, _, v in kvs if k == b"tokenizer.ggml.tokens"))
    within = lambda m: all(p in kept for p in m.split(b" ")) and m.replace(b" ", b"") in kept
    out = []
    for key, ty, v in kvs:
        if key in (b"tokenizer.ggml.tokens", b"tokenizer.ggml.token_type"):
            v = (v[0], v[1][:n])
        elif key == b"tokenizer.ggml.merges":
            v = (v[0], [m for m in v[1] if within(m)][:n])
        out.append((key, ty, v))
    return out


def gguf_seeds():
    seeds = {}
    for model, file in [("tiny-dense", "tiny-dense-q8_0.gguf"), ("tiny-dense", "tiny-dense-f16.gguf"),
                        ("tiny-moe", "tiny-moe-q4_0.gguf"), ("small-moe", "small-moe-q4_k_m.gguf")]:
        version, kvs, tensors = read_header(FIXTURES / model / file)
        # The whole header but a 128-token vocabulary; the tensor data is left out (the
        # header parses; from_bytes reports the first tensor past the end).
        seeds[file.replace(".gguf", "-header")] = write_header(version, small_vocab(kvs, 128), tensors)
    version, kvs, tensors = read_header(FIXTURES / "tiny-moe" / "tiny-moe-q4_0.gguf")
    general = [kv for kv in kvs if kv[0].startswith(b"general.") or kv[0].startswith(b"lfm2moe.")]
    # Metadata only, and two small tensors with their data: files from_bytes accepts.
    seeds["metadata-only"] = write_header(3, general, [])
    f32 = struct.pack("<4f", 1.0, -2.5, 0.0, float("nan"))
    seeds["two-tensors"] = write_header(2, general[:3], [(b"a", [4], 0, 0), (b"b", [2, 2], 0, 32)],
                                        f32 + b"\0" * 16 + f32)
    # The dense model's config with a scalar kv head count ("every layer is attention").
    version, kvs, tensors = read_header(FIXTURES / "tiny-dense" / "tiny-dense-q8_0.gguf")
    config = [kv if kv[0] != b"lfm2.attention.head_count_kv" else (kv[0], U32, 2)
              for kv in kvs if not kv[0].startswith(b"tokenizer.")]
    seeds["dense-config-scalar-kv-heads"] = write_header(version, config, tensors[:4])
    # A real header, cut: what the browser's first read holds of a bigger file.
    seeds["tiny-moe-q4_0-prefix-8k"] = (FIXTURES / "tiny-moe" / "tiny-moe-q4_0.gguf").read_bytes()[:8192]
    return seeds


# ------------------------------------------------------------------------- tool calls

SECTIONS = [
    "Sure.",
    "<|tool_call_start|>[get_weather(city='Paris', days=3)]<|tool_call_end|>",
    "Let me check.<|tool_call_start|>[get_weather(city=\"Paris\"), get_time(tz='Europe/Paris')]<|tool_call_end|>Done.",
    "<|tool_call_start|>[f(a=[1, 2.5, -3e-05, 0x1F, 1_000], b={'k': (1, 2), 1: None}, c=True, d=null, e={1, 2})]<|tool_call_end|>",
    "<|tool_call_start|>[say(text='It's fine', q='''multi\nline''', r=r'\\d+', u='\\u00e9\\ud83d\\ude00\\x41\\101')]<|tool_call_end|>",
    "<|tool_call_start|>[ns.tool-name(n=123456789012345678901234567890)]<|tool_call_end|>",
    "<|tool_call_start|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3}}]<|tool_call_end|>",
    "<|tool_call_start|>{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"}}<|tool_call_end|>",
    "<|tool_call_start|>[{'name': 'f', 'parameters': {'x': True,}},]<|tool_call_end|>",
    "<|tool_call_start|>[get_weather(city='Par]<|tool_call_end|> shown as text",
    "<|tool_call_start|>[f(x=1)] and the output ends here",
    "an end marker alone <|tool_call_end|> is text; a partial start <|tool_call_sta",
    "<|tool_call_start|>[]<|tool_call_end|><|tool_call_start|>f()<|tool_call_end|>",
    "<|tool_call_start|>[f(x=[[[[[[[[1]]]]]]]])]<|tool_call_end|>",
    "<|tool_call_start|>[f(1, x=2)]<|tool_call_end|><|tool_call_start|>[f(x=1e400)]<|tool_call_end|>",
    "<think>reasoning</think>Answer: <|tool_call_start|>[search(query='日本語 👋', limit=5)]<|tool_call_end|>",
]


def tool_call_seeds():
    seeds = {}
    for i, text in enumerate(SECTIONS):
        body = text.encode()
        seeds[f"section-{i:02}"] = b"\0" + body
        # The same text cut in three places (one inside each marker when there is one).
        cuts = [len(body) // 3, body.find(b"call_start") + 1, body.find(b"call_end") + 1]
        seeds[f"section-{i:02}-cut"] = bytes([3]) + b"".join(struct.pack("<H", c % 65536) for c in cuts) + body
    return seeds


# -------------------------------------------------------------------- chat templates

def chat_template_seeds():
    golden = json.loads((FIXTURES / "chat" / "chat_golden.json").read_text())
    seeds, seen = {}, set()
    for case in golden["cases"]:
        if case["conversation"] in seen:
            continue
        i = len(seen)
        seen.add(case["conversation"])
        convo = {"messages": case["messages"]}
        if case["tools"] is not None:
            convo["tools"] = case["tools"]
        # Template i % 5 (the generator picks (flags & 7) % 5), generation prompt as recorded.
        flags = (i % 5) | (8 if case["add_generation_prompt"] else 0)
        seeds[case["conversation"]] = bytes([flags]) + json.dumps(convo, ensure_ascii=False).encode()
    return seeds


# ----------------------------------------------------------------- detokenization

def token_seeds():
    seeds = {}
    cases = [json.loads(line) for line in (FIXTURES / "tokenizer" / "tokenizer_golden.jsonl").read_text().splitlines()]
    picked = {}
    for case in cases:  # one per category: prose, code, scripts, emoji, special tokens, ...
        picked.setdefault(case["category"], case)
    for category, case in picked.items():
        ids = [i for i in case["ids"] if i < 0xFC00]
        seeds[f"golden-{case['id']:02}-{category}"] = b"".join(struct.pack("<H", i) for i in ids)
    # Single-byte tokens (an id >= 0xFC00 is the byte token of its low byte): an emoji cut in
    # bytes, a lone continuation byte, an unfinished character at the end, and a long run of
    # invalid bytes before a character.
    byte = lambda bs: b"".join(bytes([b, 0xFC]) for b in bs)
    seeds["bytes-emoji"] = byte("a😀b".encode())
    seeds["bytes-invalid"] = byte(b"\x80a\xff\xc3")
    seeds["bytes-run"] = byte(b"\x80" * 9 + "é😀".encode()[:4]) + byte("😀".encode()[2:])
    return seeds


def main():
    targets = {
        "gguf_header": gguf_seeds(),
        "tool_call_parser": tool_call_seeds(),
        "chat_template": chat_template_seeds(),
        "detokenize_stream": token_seeds(),
    }
    targets["gguf_prefix"] = targets["gguf_header"]
    for target, seeds in targets.items():
        out = CORPUS / target
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for name, data in seeds.items():
            (out / name).write_bytes(data)
        print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()
