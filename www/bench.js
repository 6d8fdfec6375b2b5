// The browser benchmark (bench.html): loads a model through the `lfm-webgpu` package's public
// API only and measures, in this browser's WebGPU:
//
// - time to first token and prefill speed, per prompt length P: `engine.generate` of P tokens
//   with `max_tokens: 1` (the prompt evaluated and one token sampled, read back);
// - decode speed: `generate` of N tokens after a short prompt, less the same with one token,
//   so the prompt and the first token cancel out: (N - 1) / (t_N - t_1);
// - the chat API's own timings (`chat.completions.create`, prefill and decode tokens/s);
// - load time and what `engine.stats()` says (sizes, adapter, wasm memory).
//
// Results go to a table and as JSON to the page (`window.lfmBench`, and
// `document.documentElement.dataset.benchDone` set when finished, for tests). Query string:
// `?model=URL&prompts=128,1024&gen=32&autorun`; `&textures=0|1` keeps the weights in storage
// buffers or textures instead of the adapter's default (`weightTextures`), to compare.

import { createEngine } from 'lfm-webgpu';

const $ = (id) => document.getElementById(id);
const SENTENCE = 'The quick brown fox jumps over the lazy dog while the model counts its tokens. ';
const SHORT_PROMPT = 8;

function status(text) {
  $('status').textContent = text;
}

function fail(e) {
  const el = $('error');
  el.textContent = `${e?.code ? `${e.code}: ` : ''}${e?.message ?? e}`;
  el.hidden = false;
  window.lfmBench = { error: el.textContent };
  document.documentElement.dataset.benchDone = 'error';
}

/** Prompt lengths from "128, 1024": positive integers, in the given order. */
export function parseLengths(text) {
  return String(text)
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** `n` token ids: the sentence's ids repeated. */
function tokensOf(ids, n) {
  return Array.from({ length: n }, (_, i) => ids[i % ids.length]);
}

async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

const fmt = (x, digits = 2) => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(digits));

function showTable(r) {
  const rows = [
    ['adapter', String(r.adapter ?? '-')],
    ['model', `${r.model} (${fmt(r.file_bytes / 1e6, 1)} MB file, ${fmt(r.weight_bytes / 1e6, 1)} MB of weights)`],
    ['load', `${fmt(r.load_s)} s`],
    ...r.prefill.flatMap((p) => [
      [`time to first token, ${p.prompt_tokens} prompt tokens`, `${fmt(p.time_to_first_token_s, 3)} s`],
      [`prefill, ${p.prompt_tokens} tokens`, `${fmt(p.prefill_tokens_per_s)} tok/s`],
    ]),
    [`decode, ${r.decode.gen_tokens} tokens`, `${fmt(r.decode.decode_tokens_per_s)} tok/s`],
    ['chat API timings', r.chat ? `prefill ${fmt(r.chat.prefill_tokens_per_s)} tok/s, decode ${fmt(r.chat.decode_tokens_per_s)} tok/s (${r.chat.completion_tokens} tokens)` : '-'],
    ['wasm memory', `${fmt(r.wasm_memory_bytes / 1e6, 1)} MB`],
  ];
  const body = $('results-body');
  body.replaceChildren(
    ...rows.map(([k, v]) => {
      const tr = document.createElement('tr');
      for (const text of [k, v]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
  $('results').hidden = false;
}

/** Runs every measurement on `source` (a URL or a File); returns the results object. */
export async function runBenchmark({ source, promptTokens, genTokens, weightTextures }) {
  const gen = Math.max(2, genTokens | 0);
  const longest = Math.max(SHORT_PROMPT, ...promptTokens);
  status('loading the model…');
  const load = await timed(() =>
    createEngine({
      model: source,
      contextTokens: longest + gen + 64,
      cache: false,
      weightTextures,
      onProgress: (p) => status(`loading: ${p.phase} ${fmt(p.loadedBytes / 1e6, 1)} MB${p.totalBytes ? ` of ${fmt(p.totalBytes / 1e6, 1)} MB` : ''}`),
    }),
  );
  const engine = load.value;
  try {
    const ids = await engine.tokenize(SENTENCE);
    if (!ids.length) throw new Error('the model tokenized the sentence to nothing');
    const short = tokensOf(ids, SHORT_PROMPT);
    status('warm-up (compiles the GPU pipelines)…');
    await engine.generate({ tokens: short, max_tokens: 2 });

    const prefill = [];
    for (const n of promptTokens) {
      status(`prefill of ${n} tokens…`);
      const t = await timed(() => engine.generate({ tokens: tokensOf(ids, n), max_tokens: 1 }));
      prefill.push({ prompt_tokens: n, time_to_first_token_s: t.seconds, prefill_tokens_per_s: n / t.seconds });
    }

    status(`decode of ${gen} tokens…`);
    const one = await timed(() => engine.generate({ tokens: short, max_tokens: 1 }));
    const many = await timed(() => engine.generate({ tokens: short, max_tokens: gen }));
    const produced = many.value.tokens.length;
    const span = many.seconds - one.seconds;
    // Noise can make the difference meaningless on a tiny model: then count the whole call.
    const decode_tokens_per_s = span > 0 ? (produced - 1) / span : produced / many.seconds;

    status('chat completion…');
    const completion = await engine.chat.completions.create({
      messages: [{ role: 'user', content: 'Count from one to twenty, in words.' }],
      max_tokens: gen,
      temperature: 0,
    });
    const stats = engine.stats();
    const info = engine.model ?? {};
    return {
      model: typeof source === 'string' ? source : source.name,
      adapter: info.adapter ?? info.gpu?.adapter ?? null,
      file_bytes: info.fileBytes ?? null,
      weight_bytes: info.weightBytes ?? null,
      load_s: load.seconds,
      prefill,
      decode: { prompt_tokens: SHORT_PROMPT, gen_tokens: produced, seconds: span, decode_tokens_per_s },
      chat: { ...completion.timings, completion_tokens: completion.usage.completion_tokens },
      wasm_memory_bytes: stats.wasmMemoryBytes,
      user_agent: navigator.userAgent,
      date: new Date().toISOString(),
    };
  } finally {
    await engine.unload();
  }
}

async function onRun(event) {
  event?.preventDefault();
  $('error').hidden = true;
  delete document.documentElement.dataset.benchDone;
  const file = $('model-file').files?.[0];
  const url = $('model-url').value.trim();
  const source = file ?? (url ? new URL(url, location.href).href : null);
  if (!source) {
    fail(new Error('choose a model: a URL or a .gguf file'));
    return;
  }
  const promptTokens = parseLengths($('prompt-tokens').value);
  $('run').disabled = true;
  try {
    const q = new URLSearchParams(location.search);
    const weightTextures = q.has('textures') ? q.get('textures') === '1' : undefined;
    const r = await runBenchmark({ source, promptTokens, genTokens: Number($('gen-tokens').value), weightTextures });
    if (weightTextures !== undefined) r.weight_textures = weightTextures;
    window.lfmBench = r;
    $('json').textContent = JSON.stringify(r, null, 2);
    showTable(r);
    status('done');
    document.documentElement.dataset.benchDone = 'ok';
  } catch (e) {
    console.error(e);
    fail(e);
  } finally {
    $('run').disabled = false;
  }
}

function init() {
  const q = new URLSearchParams(location.search);
  if (q.has('model')) $('model-url').value = q.get('model');
  if (q.has('prompts')) $('prompt-tokens').value = q.get('prompts');
  if (q.has('gen')) $('gen-tokens').value = q.get('gen');
  $('bench-form').addEventListener('submit', onRun);
  document.documentElement.dataset.ready = '1';
  if (q.has('autorun')) onRun();
}

init();
