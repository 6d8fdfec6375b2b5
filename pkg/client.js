// WorkerCore: the page's side of the engine's worker (worker.js), with EngineCore's methods.
// Calls become messages; `onProgress` / `onEvent` callbacks are called as their messages
// arrive; `stats()` answers synchronously from the snapshot sent with every reply.

import { LfmError, fromWire } from './errors.js';

export class WorkerCore {
  #worker;
  #pending = new Map();
  #next = 0;
  #stats = { loaded: false, wasmMemoryBytes: 0 };
  /** Set once the worker died (failed to start, or crashed): every call then throws it. */
  #broken = null;

  constructor() {
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'lfm-webgpu' });
    this.#worker.onmessage = ({ data }) => this.#receive(data);
    this.#worker.onerror = (e) => {
      e.preventDefault?.();
      this.#fail(new LfmError('worker', `the engine's worker failed: ${e.message || 'it could not start (is worker.js served next to index.js?)'}`));
    };
    this.#worker.onmessageerror = () => this.#fail(new LfmError('worker', 'a message from the engine worker could not be read'));
  }

  #receive(data) {
    if (data.type === 'ready') return;
    const call = this.#pending.get(data.id);
    if (!call) return;
    if (data.stats) this.#stats = data.stats;
    if (data.type === 'progress') call.onProgress?.(data.value);
    else if (data.type === 'event') call.onEvent?.(data.value);
    else {
      this.#pending.delete(data.id);
      if (data.type === 'result') call.resolve(data.value);
      else call.reject(fromWire(data.error));
    }
  }

  #fail(error) {
    this.#broken = error;
    for (const call of this.#pending.values()) call.reject(error);
    this.#pending.clear();
  }

  #call(method, args, callbacks = {}, signal = null) {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, ...callbacks });
      this.#worker.postMessage({ id, method, args });
      signal?.addEventListener('abort', () => this.#worker.postMessage({ op: 'abort', id }), { once: true });
    });
  }

  load(source, { onProgress, signal, ...options } = {}) {
    return this.#call('load', [source, options], { onProgress }, signal);
  }
  chat(request, onEvent) {
    return this.#call('chat', [request], { onEvent });
  }
  generate(options) {
    return this.#call('generate', [options]);
  }
  interrupt() {
    this.#worker.postMessage({ op: 'interrupt' });
  }
  destroyDevice() {
    return this.#call('destroyDevice', []);
  }
  resetChat() {
    return this.#call('resetChat', []);
  }
  tokenize(text) {
    return this.#call('tokenize', [text]);
  }
  detokenize(ids, skipSpecial) {
    return this.#call('detokenize', [ids, skipSpecial]);
  }
  async unload() {
    try {
      await this.#call('unload', []);
    } finally {
      this.#worker.terminate();
      this.#fail(new LfmError('unloaded', 'the engine was unloaded'));
      this.#stats = { loaded: false, wasmMemoryBytes: 0 };
    }
  }
  stats() {
    return this.#stats;
  }
}
