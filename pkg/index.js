// lfm-webgpu: LFM2 / LFM2.5 models on the user's GPU (WebGPU), behind an OpenAI-shaped chat API.
//
//   import { createEngine } from 'lfm-webgpu';
//   const engine = await createEngine({ model: '/models/LFM2-350M-Q8_0.gguf', onProgress: (p) => {} });
//   for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) {
//     console.log(chunk.choices[0].delta.content);
//   }
//
// Layers (each its own module):
// - core.js `EngineCore`: the wasm module, one model and its chat session. Structured-clonable
//   arguments and results, so it runs unchanged in the engine's Web Worker (worker.js), driven
//   by client.js `WorkerCore` on the page, which has the same methods.
// - this file, `Engine`: the public object. It turns core events into OpenAI
//   `chat.completion.chunk` / `chat.completion` objects, queues calls (one runs at a time),
//   maps `signal` to `interrupt()`, and runs the tool loop (tools.js).
// - cache.js: the OPFS model cache; errors.js: `LfmError`.

import { WorkerCore } from './client.js';
import { EngineCore, DEFAULT_CONTEXT } from './core.js';
import { LfmError, asLfmError } from './errors.js';
import { addUsage, runToolCall, toolSchemas, DEFAULT_TOOL_TIMEOUT_MS } from './tools.js';

export { LfmError } from './errors.js';
export { listCachedModels, deleteCachedModel } from './cache.js';

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

/** The public engine (see index.d.ts for the API). Fires an `error` event when the GPU device is lost. */
class Engine extends EventTarget {
  #core;
  #info;
  /** The tail of the call queue: calls on the core run one at a time. */
  #queue = Promise.resolve();
  #created = 0;
  #lost = null;

  constructor(core, info) {
    super();
    this.#core = core;
    this.#info = info;
    this.chat = { completions: { create: (body) => this.#create(body) } };
  }

  /** What was loaded: file name, sizes, adapter, config (a copy of `stats().model`). */
  get model() {
    return this.#info;
  }

  /** Runs `f` after every call queued before it; a lost device is reported once as an `error` event. */
  #enqueue(f) {
    const run = this.#queue.then(f, f).catch((e) => {
      const err = asLfmError(e);
      if (err.code === 'device_lost' && !this.#lost) {
        this.#lost = err;
        this.dispatchEvent(Object.assign(new Event('error'), { error: err }));
      }
      throw e?.name === 'AbortError' ? e : err; // an aborted request rejects like fetch does
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #create(body = {}) {
    if (!body || !Array.isArray(body.messages)) throw new LfmError('invalid_request', 'chat.completions.create: `messages` must be an array');
    const { signal } = body;
    signal?.throwIfAborted();
    const request = Object.fromEntries(Object.entries(body).filter(([k, v]) => !LOCAL_FIELDS.includes(k) && v !== undefined));
    const id = `chatcmpl-${Date.now().toString(36)}-${++this.#created}`;
    const created = Math.floor(Date.now() / 1000);
    const base = { id, created, model: this.#info.name };
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

  /**
   * The agent loop: answers, runs the handlers of the tools the model calls, feeds their
   * results back, until an answer without tool calls or `maxSteps` answers. Resolves with
   * `{ message, messages, finish_reason, steps, usage }` (`messages`: the new ones only).
   * `signal` firing mid-loop resolves with finish_reason 'abort' and every message so far (a
   * tool still running gets an interruption result); before the first answer it rejects like
   * `create`. Any other failure rejects with an LfmError whose `messages` holds the new
   * messages so far, so none is lost.
   */
  async runTools({ messages, tools, maxSteps = 8, toolTimeoutMs = DEFAULT_TOOL_TIMEOUT_MS, maxToolResultChars, onMessage, signal, forced_output, ...body } = {}) {
    if (!Array.isArray(messages)) throw new LfmError('invalid_request', 'runTools: `messages` must be an array');
    const schemas = toolSchemas(tools);
    // About a quarter of the context (a token is 3 to 4 characters), unless set.
    const maxResultChars = maxToolResultChars ?? this.#core.stats().contextTokens ?? DEFAULT_CONTEXT;
    const added = [];
    const push = (m) => {
      added.push(m);
      onMessage?.(m);
    };
    let usage = null;
    let reply = null;
    let steps = 0;
    const result = (finish_reason) => ({ message: reply.choices[0].message, messages: added, finish_reason, steps, usage });
    try {
      signal?.throwIfAborted();
      while (steps < maxSteps) {
        // Tests make a tiny model "call" tools with a forced output per step.
        const forced = Array.isArray(forced_output) ? forced_output[steps] : forced_output;
        reply = await this.#create({ ...body, messages: [...messages, ...added], tools: schemas, signal, forced_output: forced ?? undefined });
        steps += 1;
        usage = addUsage(usage, reply.usage);
        const message = reply.choices[0].message;
        push(message);
        if (reply.choices[0].finish_reason !== 'tool_calls') break;
        // Every call gets its answer, so the conversation stays well-formed even when interrupted.
        for (const call of message.tool_calls ?? []) push(await runToolCall(call, tools, { timeoutMs: toolTimeoutMs, signal, maxResultChars }));
        if (signal?.aborted) return result('abort');
      }
    } catch (e) {
      if (reply && e?.name === 'AbortError') return result('abort'); // aborted while queued
      if (e?.name === 'AbortError') throw e;
      throw Object.assign(asLfmError(e), { messages: added });
    }
    return result(reply.choices[0].finish_reason === 'tool_calls' ? 'max_steps' : reply.choices[0].finish_reason);
  }

  /** Raw token-level continuation from a fresh state: `{ tokens, finish_reason }`. */
  generate(options) {
    return this.#enqueue(() => this.#core.generate(options));
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

  /** Releases the model's GPU memory (and the worker); the engine cannot be used afterwards. */
  unload() {
    this.#core.interrupt();
    return this.#enqueue(() => this.#core.unload());
  }

  /** For tests: destroys the engine's GPU device, as a driver reset would (then: an `error` event). */
  _destroyDevice() {
    return this.#core.destroyDevice();
  }

  /** `{ loaded, lost?, model, contextTokens, historyTokens, lastUsage, lastTimings, wasmMemoryBytes }`. */
  stats() {
    return this.#core.stats();
  }
}

/**
 * Loads a model and returns the engine (see index.d.ts for the options).
 */
export async function createEngine({ model, onProgress, signal, contextTokens = DEFAULT_CONTEXT, worker = true, cache = true, sha256, maxBindingBytes, kvCache, weightTextures } = {}) {
  if (model instanceof URL) model = model.href;
  if (typeof model !== 'string' && !(typeof Blob !== 'undefined' && model instanceof Blob)) {
    throw new LfmError('invalid_request', 'createEngine: `model` must be a URL, a File or a Blob');
  }
  signal?.throwIfAborted();
  const core = worker ? new WorkerCore() : new EngineCore();
  try {
    const info = await core.load(model, { onProgress, signal, contextTokens, cache, sha256, maxBindingBytes, kvCache, weightTextures });
    return new Engine(core, info);
  } catch (e) {
    if (worker) core.unload().catch(() => {});
    throw asLfmError(e);
  }
}
