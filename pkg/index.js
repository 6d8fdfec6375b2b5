// lfm-webgpu: LFM2 models on the user's GPU (WebGPU), with an OpenAI-shaped chat API.
//
//   import { createEngine } from 'lfm-webgpu';
//   const engine = await createEngine({ model: '/models/LFM2-350M-Q8_0.gguf', onProgress: (p) => {} });
//   for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) {
//     console.log(chunk.choices[0].delta.content);
//   }
//
// Two layers:
// - `EngineCore`: the wasm module, one model and one chat session. Every call takes and
//   returns structured-clonable values (callbacks aside, which become messages), so the core
//   can move into a Web Worker unchanged, with a proxy of the same methods on the main thread.
// - `Engine`: the public object. It turns core events into OpenAI `chat.completion.chunk` /
//   `chat.completion` objects, queues calls (one runs at a time) and maps `signal` to
//   `interrupt()`.

import init, { Model } from './dist/lfm_webgpu.js';

let ready = null;
/** Instantiates the wasm module once per page (it fetches dist/lfm_webgpu_bg.wasm). */
function initModule() {
  ready ??= init({ module_or_path: new URL('./dist/lfm_webgpu_bg.wasm', import.meta.url) });
  return ready;
}

/** The conversation length a session holds, in tokens. */
const DEFAULT_CONTEXT = 4096;

/** The wasm model and its chat session. Methods: structured-clonable arguments and results. */
export class EngineCore {
  #model = null;
  #session = null;
  #last = null;

  /** Loads `url`; `onProgress({phase, loadedBytes, totalBytes})`. Returns the model's info. */
  async load(url, onProgress, contextTokens = DEFAULT_CONTEXT) {
    await initModule();
    this.#model = await Model.load(url, onProgress ?? undefined);
    this.#session = this.#model.createSession(contextTokens);
    return this.#model.info();
  }

  #live() {
    if (!this.#model) throw new Error('lfm-webgpu: the engine is unloaded');
    return this.#model;
  }

  /** One assistant turn; `onEvent(event)` for each engine event. Resolves with the done event. */
  async chat(request, onEvent) {
    this.#live();
    const done = await this.#session.chat(JSON.stringify(request), onEvent);
    this.#last = done;
    return done;
  }

  interrupt() {
    this.#session?.interrupt();
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
    if (!this.#model) return { loaded: false };
    return {
      loaded: true,
      model: this.#model.info(),
      contextTokens: this.#session.capacity,
      historyTokens: this.#session.historyTokens,
      lastUsage: this.#last?.usage ?? null,
      lastTimings: this.#last?.timings ?? null,
    };
  }
}

/** OpenAI's `usage` from the engine's. */
function openaiUsage(u) {
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    prompt_tokens_details: { cached_tokens: u.cached_tokens },
  };
}

/** A tool call event as OpenAI's `tool_calls[i]`. */
function openaiToolCall(e, index) {
  return { index, id: e.id, type: 'function', function: { name: e.name, arguments: JSON.stringify(e.arguments) } };
}

/** Fields of `create()` that are not sent to the engine. */
const LOCAL_FIELDS = ['stream', 'signal', 'stream_options'];

/** A queue of async values consumed by `for await`; `end()` or `fail(e)` close it. */
class Channel {
  #items = [];
  #waiting = null;
  #closed = false;
  #error = null;

  push(value) {
    this.#items.push(value);
    this.#wake();
  }
  end() {
    this.#closed = true;
    this.#wake();
  }
  fail(error) {
    this.#error = error;
    this.end();
  }
  #wake() {
    const w = this.#waiting;
    this.#waiting = null;
    w?.();
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this.#items.length) {
        yield this.#items.shift();
      } else if (this.#closed) {
        if (this.#error) throw this.#error;
        return;
      } else {
        await new Promise((ok) => (this.#waiting = ok));
      }
    }
  }
}

class Engine {
  #core;
  #modelName;
  /** The tail of the call queue: calls on the core run one at a time. */
  #queue = Promise.resolve();
  #created = 0;

  constructor(core, modelName) {
    this.#core = core;
    this.#modelName = modelName;
    this.chat = { completions: { create: (body) => this.#create(body) } };
  }

  /** Runs `f` after every call queued before it. */
  #enqueue(f) {
    const run = this.#queue.then(f, f);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #create(body = {}) {
    if (!Array.isArray(body.messages)) throw new TypeError('chat.completions.create: `messages` must be an array');
    const { signal } = body;
    signal?.throwIfAborted();
    const request = Object.fromEntries(Object.entries(body).filter(([k, v]) => !LOCAL_FIELDS.includes(k) && v !== undefined));
    const id = `chatcmpl-${Date.now().toString(36)}-${++this.#created}`;
    const created = Math.floor(Date.now() / 1000);
    const base = { id, created, model: this.#modelName };
    const channel = new Channel();

    let toolIndex = 0;
    let first = true;
    const chunk = (delta, finish_reason = null, extra = {}) => {
      if (first) delta = { role: 'assistant', ...delta };
      first = false;
      return { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason }], ...extra };
    };
    const onEvent = (e) => {
      if (e.type === 'text') channel.push(chunk({ content: e.delta }));
      else if (e.type === 'tool_call') channel.push(chunk({ tool_calls: [openaiToolCall(e, toolIndex++)] }));
      else if (e.type === 'warning') console.warn(`lfm-webgpu: ${e.message}`);
      else if (e.type === 'done') {
        channel.push(chunk({}, e.finish_reason, { usage: openaiUsage(e.usage), timings: e.timings }));
      }
    };

    let onAbort = null;
    let running = false;
    const result = this.#enqueue(async () => {
      if (signal?.aborted) throw signal.reason;
      running = true;
      try {
        return await this.#core.chat(request, onEvent);
      } finally {
        running = false;
      }
    });
    if (signal) {
      onAbort = () => {
        if (!running) return; // still queued: the queued call throws when its turn comes
        this.#core.interrupt();
        // The engine clears the flag when a generation starts: repeat it once that happened.
        setTimeout(() => running && this.#core.interrupt(), 0);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
    result.then(
      () => channel.end(),
      (e) => channel.fail(e),
    );
    result.finally(() => signal?.removeEventListener('abort', onAbort)).catch(() => {});

    if (body.stream) return channel;

    let content = '';
    const toolCalls = [];
    let last = null;
    for await (const c of channel) {
      const d = c.choices[0].delta;
      if (d.content) content += d.content;
      if (d.tool_calls) toolCalls.push(...d.tool_calls.map(({ index, ...call }) => call));
      last = c;
    }
    const message = { role: 'assistant', content: toolCalls.length && !content ? null : content };
    if (toolCalls.length) message.tool_calls = toolCalls;
    return {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message, finish_reason: last.choices[0].finish_reason }],
      usage: last.usage,
      timings: last.timings,
    };
  }

  tokenize(text) {
    return this.#enqueue(() => this.#core.tokenize(text));
  }

  detokenize(ids) {
    return this.#enqueue(() => this.#core.detokenize(ids));
  }

  /** Stops the running answer (it ends with finish_reason 'abort'); queued calls still run. */
  interrupt() {
    this.#core.interrupt();
  }

  /** Forgets the conversation state (the next request prefills its whole prompt). */
  resetChat() {
    return this.#enqueue(() => this.#core.resetChat());
  }

  /** Releases the model's GPU memory; the engine cannot be used afterwards. */
  unload() {
    this.#core.interrupt();
    return this.#enqueue(() => this.#core.unload());
  }

  stats() {
    return this.#core.stats();
  }
}

/**
 * Loads a model and returns the engine.
 * @param {{ model: string | URL, onProgress?: (p: {phase: string, loadedBytes: number, totalBytes: number | null}) => void, contextTokens?: number }} options
 */
export async function createEngine({ model, onProgress, contextTokens } = {}) {
  if (typeof model !== 'string' && !(model instanceof URL)) {
    throw new TypeError('createEngine: `model` must be a URL (File and Blob sources are not supported yet)');
  }
  const core = new EngineCore();
  const info = await core.load(String(model), onProgress, contextTokens);
  const name = String(info.url).split('/').pop().replace(/\.gguf$/i, '');
  return new Engine(core, name);
}
