// EngineCore: the wasm module with one model and its chat session. It runs inside the
// engine's Web Worker (worker.js), or on the page itself with `createEngine({ worker: false })`.
// Every method takes and returns structured-clonable values; the callbacks (`onProgress`,
// `onEvent`) become messages when the core runs in the worker.

import init, { Model, Sha256, destroyDevice, wasmMemoryBytes } from './dist/lfm_webgpu.js';
import { LfmError, asLfmError } from './errors.js';
import { cacheAvailable, cachedFile } from './cache.js';
import { wellFormed } from './tools.js';

let ready = null;
let initialized = false;
/** Instantiates the wasm module once per thread (it fetches dist/lfm_webgpu_bg.wasm). */
export function initModule() {
  ready ??= init({ module_or_path: new URL('./dist/lfm_webgpu_bg.wasm', import.meta.url) }).then(() => {
    initialized = true;
  }, (e) => {
    ready = null;
    throw new LfmError('internal', `the wasm module could not be loaded: ${e.message}`);
  });
  return ready;
}

/** The conversation length a session holds, in tokens. */
export const DEFAULT_CONTEXT = 4096;

/** The name shown as `model` in responses: the file name without `.gguf`. */
function modelName(source) {
  const name = typeof source === 'string' ? new URL(source, location.href).pathname.split('/').pop() : source.name;
  return (name || 'model').replace(/\.gguf$/i, '');
}

export class EngineCore {
  #model = null;
  #session = null;
  #last = null;
  #info = null;
  /** The error that killed the engine (device lost); later calls throw it again. */
  #dead = null;

  /**
   * Loads `source` (URL string, File or Blob). Options: `onProgress`, `signal`,
   * `contextTokens`, `cache` (default true: URLs go through the OPFS cache where available),
   * `sha256` (expected hash of the download), `maxBindingBytes` (emulate a smaller device limit),
   * `kvCache` ('f16' or 'f32'), `weightTextures` (weights in textures or buffers, overriding
   * the adapter's default: for measuring).
   */
  async load(source, { onProgress, signal, contextTokens = DEFAULT_CONTEXT, cache = true, sha256, maxBindingBytes, kvCache, weightTextures } = {}) {
    if (typeof navigator === 'undefined' || !navigator.gpu) {
      throw new LfmError('no_webgpu', 'this browser does not expose WebGPU (navigator.gpu is missing); try a recent Chrome, Edge or Safari, or enable WebGPU');
    }
    await initModule();
    if (typeof source !== 'string' && !(source instanceof Blob)) {
      throw new LfmError('invalid_request', 'the model must be a URL, a File or a Blob');
    }
    let input = source;
    let cached = null;
    if (typeof source === 'string') {
      const url = new URL(source, location.href).href;
      input = url;
      if (cache && cacheAvailable()) {
        cached = await cachedFile(url, { onProgress, signal, sha256, newHasher: () => new Sha256() });
        input = cached.file;
      }
    }
    const progress = (p) => {
      signal?.throwIfAborted();
      onProgress?.(p);
    };
    let model;
    try {
      const options = {};
      if (signal) options.signal = signal;
      if (maxBindingBytes) options.maxBindingBytes = maxBindingBytes;
      if (kvCache !== undefined) options.kvCache = kvCache;
      if (weightTextures !== undefined) options.weightTextures = weightTextures;
      model = await Model.load(input, progress, options);
    } catch (e) {
      const err = asLfmError(e);
      if (cached && (err.code === 'bad_model' || (cached.fresh && err.code === 'unsupported'))) {
        // Not worth keeping; a file that was fine when it was downloaded is a corrupt cache.
        await cached.evict();
        if (!cached.fresh) throw new LfmError('cache_corrupt', `the cached copy of ${source} is not a valid model (${err.message}); it has been deleted, load it again to download it`);
      }
      throw err;
    }
    this.unload();
    this.#model = model;
    this.#session = model.createSession(contextTokens);
    this.#info = { ...model.info(), name: modelName(source), cached: Boolean(cached), fromCache: Boolean(cached && !cached.fresh) };
    this.#dead = null;
    return this.#info;
  }

  #live() {
    if (this.#dead) throw this.#dead;
    if (!this.#model) throw new LfmError('unloaded', 'the engine has no model (it was unloaded, or never loaded)');
    return this.#model;
  }

  /** Runs `f`; a lost device makes the engine dead (every later call throws the same error). */
  async #guard(f) {
    try {
      return await f();
    } catch (e) {
      const err = asLfmError(e);
      if (err.code === 'device_lost') this.#dead = err;
      throw err;
    }
  }

  /** One assistant turn; `onEvent(event)` for each engine event. Resolves with the done event. */
  chat(request, onEvent) {
    return this.#guard(async () => {
      this.#live();
      // A lone surrogate (half of a UTF-16 pair: a string cut in the middle of an emoji) has
      // no UTF-8 form and would fail the whole request: it becomes U+FFFD.
      const json = JSON.stringify(request, (_, v) => (typeof v === 'string' ? wellFormed(v) : v));
      const done = await this.#session.chat(json, onEvent);
      this.#last = done;
      return done;
    });
  }

  /** Raw continuation of `tokens`; returns `{ tokens, finish_reason }`. */
  generate({ tokens, max_tokens = 16, temperature = 0, top_k, top_p, min_p, seed, stop } = {}) {
    return this.#guard(async () => {
      const model = this.#live();
      if ((!Array.isArray(tokens) && !ArrayBuffer.isView(tokens)) || tokens.length === 0) {
        throw new LfmError('invalid_request', 'generate: `tokens` must be a non-empty array of token ids');
      }
      const options = Object.fromEntries(Object.entries({ temperature, top_k, top_p, min_p, seed, stop }).filter(([, v]) => v !== undefined));
      const out = Array.from(await model.generate(Uint32Array.from(tokens), max_tokens, options));
      const stopped = stop?.length && out.length && stop.includes(out.at(-1));
      return { tokens: out, finish_reason: stopped ? 'stop' : 'length' };
    });
  }

  interrupt() {
    this.#session?.interrupt();
  }

  /** For tests: destroys this thread's GPU device, as a driver reset would. */
  destroyDevice() {
    destroyDevice();
  }

  resetChat() {
    this.#live();
    this.#session.reset();
  }

  tokenize(text) {
    return Array.from(this.#live().tokenize(String(text)));
  }

  detokenize(ids, skipSpecial = true) {
    return this.#live().detokenize(Uint32Array.from(ids), skipSpecial);
  }

  unload() {
    this.#session?.free();
    this.#model?.free();
    this.#session = this.#model = null;
  }

  stats() {
    const base = { wasmMemoryBytes: initialized ? wasmMemoryBytes() : 0 };
    if (this.#dead) return { ...base, loaded: false, lost: true, error: this.#dead.message };
    if (!this.#model) return { ...base, loaded: false };
    return {
      ...base,
      loaded: true,
      model: this.#info,
      contextTokens: this.#session.capacity,
      historyTokens: this.#session.historyTokens,
      lastUsage: this.#last?.usage ?? null,
      lastTimings: this.#last?.timings ?? null,
    };
  }
}
