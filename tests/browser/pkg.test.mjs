// The npm package (pkg/index.js) in headless Chromium: `createEngine` loads tiny-moe Q8_0 into
// the engine's Web Worker and `engine.chat.completions.create` answers in OpenAI's shapes,
// streaming and not, reusing the conversation state on a follow-up turn, with a tool call
// (injected as model output with `forced_output`: the tiny model cannot write one) and an
// AbortSignal that stops a stream; `runTools` runs JS handlers (one that throws, one that never
// answers); `generate` gives the golden greedy tokens. Faults: huge, binary and broken-UTF-16
// tool output; an interrupt while loading, prefilling, decoding and running a tool; two
// requests at once.
//
//   node --test tests/browser/pkg.test.mjs

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ensureBuilt, openSession, pageTests } from './harness.mjs';
import { repoRoot } from './server.mjs';

const golden = JSON.parse(readFileSync(path.resolve(repoRoot, '../shared/fixtures/tiny-moe/golden.json'), 'utf8'));

const MODEL = '/fixtures/tiny-moe/tiny-moe-q8_0.gguf';
const QUESTION = [{ role: 'user', content: 'What is the capital of France?' }];
const GREEDY = { temperature: 0, max_tokens: 8 };
const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];

describe('npm package in headless Chromium (tiny-moe q8_0)', () => {
  let session;

  before(
    async () => {
      ensureBuilt();
      session = await openSession();
      const r = await session.page.evaluate(async (model) => {
        const { createEngine } = await import('/pkg-npm/index.js');
        const events = [];
        const t0 = performance.now();
        window.createEngine = createEngine;
        // The OpenAI tool schemas runTools shows the model for `tools`.
        window.schemas = (tools) => tools.map(({ name, description = '', parameters = { type: 'object', properties: {} } }) => ({ type: 'function', function: { name, description, parameters } }));
        window.engine = await createEngine({ model, onProgress: (p) => events.push(p) });
        return { ms: performance.now() - t0, events, stats: window.engine.stats() };
      }, MODEL);
      console.log(`createEngine: ${Math.round(r.ms)} ms, ${r.events.length} progress events`);
      assert.equal(r.events.at(-1).phase, 'done');
      assert.equal(r.stats.loaded, true);
      assert.equal(r.stats.historyTokens, 0);
      // The engine runs in its worker: the page itself never instantiated the wasm module.
      assert.ok(session.page.workers().some((w) => w.url().endsWith('/pkg-npm/worker.js')), 'no engine worker');
      assert.equal(r.stats.model.name, 'tiny-moe-q8_0');
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    await session?.page?.evaluate(() => window.engine?.unload()).catch(() => {});
    await session?.close();
  });

  const pageTest = pageTests(() => session, 'pkg');

  /** Runs `create(body)` streaming in the page: the chunks (aborting after `abortAfter`, if given). */
  function stream(page, body, abortAfter = null) {
    return page.evaluate(
      async ({ body, abortAfter }) => {
        const ac = new AbortController();
        const s = await window.engine.chat.completions.create({ ...body, stream: true, signal: ac.signal });
        const chunks = [];
        for await (const c of s) {
          chunks.push(c);
          if (chunks.length === abortAfter) ac.abort();
        }
        return chunks;
      },
      { body, abortAfter },
    );
  }

  const create = (page, body) => page.evaluate((body) => window.engine.chat.completions.create(body), body);
  const content = (chunks) => chunks.map((c) => c.choices[0].delta.content ?? '').join('');

  pageTest('streaming and non-streaming give the same greedy answer', 120_000, async (page) => {
    await page.evaluate(() => window.engine.resetChat());
    const chunks = await stream(page, { messages: QUESTION, ...GREEDY });
    assert.ok(chunks.length >= 2, `only ${chunks.length} chunks`);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0].id);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'length');
    assert.ok(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
    assert.equal(last.usage.completion_tokens, 8);
    assert.ok(last.usage.prompt_tokens > 5);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + 8);
    const text = content(chunks);
    assert.ok(text.length > 0);

    const reply = await create(page, { messages: QUESTION, ...GREEDY });
    assert.equal(reply.object, 'chat.completion');
    assert.deepEqual(reply.choices[0].message, { role: 'assistant', content: text });
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.usage.prompt_tokens, last.usage.prompt_tokens);
    assert.equal(reply.usage.completion_tokens, 8);
    // The same prompt again: all but its last token come from the state.
    assert.equal(reply.usage.prompt_tokens_details.cached_tokens, reply.usage.prompt_tokens - 1);
  });

  pageTest('a second turn reuses the conversation state', 120_000, async (page) => {
    await page.evaluate(() => window.engine.resetChat());
    const first = await create(page, { messages: QUESTION, ...GREEDY });
    assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0, 'after resetChat nothing is cached');
    const messages = [...QUESTION, first.choices[0].message, { role: 'user', content: 'And of Italy?' }];
    const second = await create(page, { messages, ...GREEDY });
    const cached = second.usage.prompt_tokens_details.cached_tokens;
    assert.ok(cached > first.usage.prompt_tokens, `cached ${cached} of ${second.usage.prompt_tokens} prompt tokens`);
    assert.ok(cached < second.usage.prompt_tokens);
    assert.ok(second.choices[0].message.content.length > 0);
  });

  pageTest('a tool call arrives as delta.tool_calls', 120_000, async (page) => {
    const forced_output = "<|tool_call_start|>[get_weather(city='Paris')]<|tool_call_end|><|im_end|>";
    const body = { messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: TOOLS, ...GREEDY, max_tokens: 64, forced_output };
    const chunks = await stream(page, body);
    const calls = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
    assert.equal(calls.length, 1, JSON.stringify(chunks));
    const [call] = calls;
    assert.equal(call.index, 0);
    assert.equal(call.type, 'function');
    assert.ok(typeof call.id === 'string' && call.id.length > 0);
    assert.deepEqual(call.function, { name: 'get_weather', arguments: '{"city":"Paris"}' });
    assert.equal(content(chunks), '');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');

    const reply = await create(page, body);
    assert.equal(reply.choices[0].finish_reason, 'tool_calls');
    assert.equal(reply.choices[0].message.content, null);
    assert.equal(reply.choices[0].message.tool_calls.length, 1);
    assert.deepEqual(reply.choices[0].message.tool_calls[0].function, call.function);
  });

  pageTest('an AbortSignal ends the stream, and the next request works', 120_000, async (page) => {
    const body = { messages: [{ role: 'user', content: 'Tell me a long story.' }], temperature: 0, max_tokens: 200 };
    const chunks = await stream(page, body, 1);
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'abort');
    assert.ok(last.usage.completion_tokens < 200, `${last.usage.completion_tokens} tokens despite the abort`);

    const reply = await create(page, { messages: QUESTION, ...GREEDY });
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.usage.completion_tokens, 8);

    // Aborted before it starts: rejects with the signal's reason.
    const early = await page.evaluate(async () => {
      const ac = new AbortController();
      ac.abort();
      try {
        await window.engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], signal: ac.signal });
        return 'resolved';
      } catch (e) {
        return e.name;
      }
    });
    assert.equal(early, 'AbortError');
  });

  pageTest('engine.interrupt() mid-stream, then the same question gets the uninterrupted answer', 180_000, async (page) => {
    const r = await page.evaluate(async ({ question, greedy }) => {
      const e = window.engine;
      await e.resetChat();
      const reference = await e.chat.completions.create({ messages: question, ...greedy });
      await e.resetChat();
      const chunks = [];
      for await (const c of await e.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me a long story.' }], temperature: 0, max_tokens: 200, stream: true })) {
        chunks.push(c);
        if (chunks.length === 2) e.interrupt();
      }
      const again = await e.chat.completions.create({ messages: question, ...greedy });
      return { reference: reference.choices[0].message, last: chunks.at(-1), again: again.choices[0].message };
    }, { question: QUESTION, greedy: GREEDY });
    assert.equal(r.last.choices[0].finish_reason, 'abort');
    assert.ok(r.last.usage.completion_tokens < 200);
    assert.deepEqual(r.again, r.reference, 'the answer after an interrupted one differs from a clean run');
  });

  pageTest('tokenize, detokenize, stats and clear errors', 60_000, async (page) => {
    const r = await page.evaluate(async () => {
      const e = window.engine;
      const ids = await e.tokenize('Hello world');
      const text = await e.detokenize(ids);
      const bad = await e.chat.completions.create({ messages: [] }).catch((err) => String(err.message));
      const badJson = await e.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: -1 }).catch((err) => String(err.message));
      return { ids, text, stats: e.stats(), bad, badJson };
    });
    assert.ok(r.ids.length >= 2);
    assert.equal(r.text, 'Hello world');
    assert.ok(r.stats.historyTokens > 0);
    assert.ok(r.stats.lastUsage.prompt_tokens > 0);
    assert.match(r.bad, /messages/);
    assert.match(r.badJson, /invalid request/);
  });

  pageTest('generate: the golden greedy tokens, and stop ids', 120_000, async (page) => {
    const want = golden.files.q8_0.dequant_reference.generated_ids.slice(0, 6);
    const r = await page.evaluate(
      async ({ tokens, stopAt }) => ({
        greedy: await window.engine.generate({ tokens, max_tokens: 6, temperature: 0 }),
        stopped: await window.engine.generate({ tokens, max_tokens: 6, temperature: 0, stop: [stopAt] }),
        sampled: await window.engine.generate({ tokens, max_tokens: 6, temperature: 1, seed: 7 }),
        again: await window.engine.generate({ tokens, max_tokens: 6, temperature: 1, seed: 7 }),
        empty: await window.engine.generate({ tokens: [], max_tokens: 2 }).catch((e) => ({ name: e.name, code: e.code })),
      }),
      { tokens: golden.prompt.ids, stopAt: want[2] },
    );
    assert.deepEqual(r.greedy, { tokens: want, finish_reason: 'length' });
    assert.deepEqual(r.stopped, { tokens: want.slice(0, 3), finish_reason: 'stop' });
    assert.equal(r.sampled.tokens.length, 6);
    assert.deepEqual(r.again, r.sampled, 'the same seed samples the same tokens');
    assert.equal(r.empty.name, 'LfmError');
    assert.equal(r.empty.code, 'invalid_request', JSON.stringify(r.empty));
  });

  pageTest('runTools: handlers run, a throwing and a hanging tool give error results, the model answers', 180_000, async (page) => {
    const r = await page.evaluate(async (question) => {
      const calls = [];
      const tools = [
        {
          name: 'get_weather',
          description: 'The weather in a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          handler: async ({ city }) => {
            calls.push(city);
            return { city, temperature_c: 21 };
          },
        },
        { name: 'explode', description: 'Always fails', handler: () => { throw new Error('kaboom'); } },
        { name: 'hang', description: 'Never answers', handler: () => new Promise(() => {}) },
      ];
      const seen = [];
      const forced_output = ["<|tool_call_start|>[get_weather(city='Paris'), explode(), hang()]<|tool_call_end|><|im_end|>", null];
      const result = await window.engine.runTools({
        messages: question, tools, maxSteps: 4, toolTimeoutMs: 300, temperature: 0, max_tokens: 40, forced_output,
        onMessage: (m) => seen.push(m.role),
      });
      const looped = await window.engine.runTools({ messages: question, tools: tools.slice(0, 1), maxSteps: 2, temperature: 0, max_tokens: 32, forced_output: forced_output[0].replace(', explode(), hang()', '') });
      const bad = await window.engine.runTools({ messages: question, tools: [{ name: 'x' }] }).catch((e) => e.code);
      return { result, calls, seen, looped: { steps: looped.steps, finish: looped.finish_reason, calls: calls.length }, bad };
    }, [{ role: 'user', content: 'What is the weather in Paris?' }]);
    const { result } = r;
    assert.equal(result.steps, 2);
    assert.deepEqual(r.seen, ['assistant', 'tool', 'tool', 'tool', 'assistant']);
    const [call, weather, explode, hang, answer] = result.messages;
    assert.deepEqual(call.tool_calls.map((c) => c.function.name), ['get_weather', 'explode', 'hang']);
    assert.equal(call.tool_calls[0].function.arguments, '{"city":"Paris"}');
    assert.deepEqual(r.calls.slice(0, 1), ['Paris']);
    assert.deepEqual([weather.role, weather.tool_call_id, JSON.parse(weather.content)], ['tool', call.tool_calls[0].id, { city: 'Paris', temperature_c: 21 }]);
    assert.match(JSON.parse(explode.content).error, /kaboom/);
    assert.match(JSON.parse(hang.content).error, /did not answer within 0.3 s/);
    assert.equal(answer.role, 'assistant');
    assert.ok(answer.content.length > 0, 'the model answered after the tool results');
    assert.deepEqual(result.message, answer);
    assert.ok(['length', 'stop'].includes(result.finish_reason));
    // The second answer's prompt holds the first one and the tool results.
    assert.ok(result.usage.prompt_tokens > 2 * 20, JSON.stringify(result.usage));
    assert.ok(result.usage.prompt_tokens_details.cached_tokens > 0, 'the second step reused the first step\'s state');
    assert.deepEqual(r.looped, { steps: 2, finish: 'max_steps', calls: 3 });
    assert.equal(r.bad, 'invalid_request');
  });
  pageTest('runTools: huge, binary and lone-surrogate tool output is cut or cleaned, the conversation goes on, an overflow keeps its messages', 240_000, async (page) => {
    const r = await page.evaluate(async (question) => {
      const e = window.engine;
      await e.resetChat();
      const tools = [
        { name: 'huge', description: '5 MB of text', handler: () => 'word '.repeat(1_000_000) },
        // "hi", then bytes that are no UTF-8: a stray continuation pair and a cut-off lead byte.
        { name: 'bytes', description: 'Raw bytes', handler: () => new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0xc3]) },
        { name: 'half', description: 'Half an emoji', handler: () => 'cut \ud83d here' },
        { name: 'object', description: 'A lone low surrogate in JSON', handler: () => ({ s: 'a\udc00b' }) },
        { name: 'error', description: 'Throws broken text', handler: () => { throw new Error('bad \ud800'); } },
      ];
      const forced_output = ['<|tool_call_start|>[huge(), bytes(), half(), object(), error()]<|tool_call_end|><|im_end|>', null];
      let t0 = performance.now();
      const result = await e.runTools({ messages: question, tools, temperature: 0, max_tokens: 32, forced_output });
      const ms = { runTools: performance.now() - t0 };
      const contextTokens = e.stats().contextTokens;
      // The conversation goes on from there (and a user message with a lone surrogate is fine too).
      const messages = [...question, ...result.messages, { role: 'user', content: 'Thanks \ud83d' }];
      t0 = performance.now();
      const next = await e.chat.completions.create({ messages, tools: window.schemas(tools), temperature: 0, max_tokens: 4 });
      ms.next = performance.now() - t0;
      // A bound the context cannot take: the second answer overflows; the error holds the
      // call and its result, so nothing is lost.
      const overflow = await e
        .runTools({ messages: question, tools: tools.slice(0, 1), maxToolResultChars: 30_000, temperature: 0, max_tokens: 32, forced_output: forced_output[0].replace(', bytes(), half(), object(), error()', '') })
        .then(() => 'resolved', (err) => ({ code: err.code, roles: err.messages?.map((m) => m.role), content: err.messages?.[1]?.content.length }));
      // A smaller bound, set by the caller.
      const small = await e.runTools({ messages: question, tools: tools.slice(0, 1), maxToolResultChars: 100, maxSteps: 1, temperature: 0, max_tokens: 32, forced_output: forced_output[0].replace(', bytes(), half(), object(), error()', '') });
      return { result, contextTokens, ms, next: { finish: next.choices[0].finish_reason, usage: next.usage }, overflow, small: small.messages[1]?.content };
    }, [{ role: 'user', content: 'Run the tools.' }]);
    console.log(`runTools with the 5 tools: ${Math.round(r.ms.runTools)} ms (usage ${JSON.stringify(r.result.usage)}); the follow-up: ${Math.round(r.ms.next)} ms`);
    const { result } = r;
    assert.equal(result.steps, 2);
    const [call, huge, bytes, half, object, error, answer] = result.messages;
    assert.deepEqual(call.tool_calls.map((c) => c.function.name), ['huge', 'bytes', 'half', 'object', 'error']);
    assert.ok(huge.content.startsWith('word '.repeat(1_000_000).slice(0, r.contextTokens)), huge.content.slice(0, 40));
    assert.ok(huge.content.length < r.contextTokens + 200, `${huge.content.length} characters reached the model`);
    assert.ok(huge.content.endsWith(`\n[truncated: the tool returned 5000000 characters, the first ${r.contextTokens} are shown]`), huge.content.slice(-100));
    assert.equal(bytes.content, 'hi\ufffd\ufffd\ufffd');
    assert.equal(half.content, 'cut \ufffd here');
    assert.deepEqual(JSON.parse(object.content), { s: 'a\udc00b' }); // JSON keeps it as an escape: well-formed text
    assert.match(object.content, /\\udc00/);
    assert.equal(JSON.parse(error.content).error, 'bad \ufffd');
    assert.equal(answer.role, 'assistant');
    assert.ok(answer.content.length > 0, 'the model answered after the tool results');
    assert.ok(['length', 'stop'].includes(result.finish_reason));
    assert.equal(r.next.finish, 'length');
    assert.ok(r.next.usage.prompt_tokens_details.cached_tokens > result.usage.prompt_tokens / 2, JSON.stringify(r.next.usage));
    assert.equal(r.overflow.code, 'context_overflow', JSON.stringify(r.overflow));
    assert.deepEqual(r.overflow.roles, ['assistant', 'tool']);
    assert.ok(r.overflow.content > 30_000);
    assert.match(r.small, /^(word ){20}\n\[truncated: the tool returned 5000000 characters, the first 100 are shown\]$/);
  });

  pageTest('interrupt at every stage (loading, prefill, decode, tool execution): typed results, the engine works after each', 600_000, async (page) => {
    const LONG = [{ role: 'user', content: 'Tell me about the sea and the sky. '.repeat(120) }];
    const r = await page.evaluate(async ({ question, greedy, long, model }) => {
      const e = window.engine;
      const failure = (p) => p.then(() => 'resolved', (err) => ({ name: err.name, code: err.code, message: err.message }));
      const out = {};

      // Loading: the signal fires once the header is read, while the weights are still on
      // their way (served slowly); the same model then loads and runs.
      const ac = new AbortController();
      out.load = await failure(window.createEngine({ model: `/slow/${model}`, cache: false, signal: ac.signal, onProgress: (p) => p.phase === 'header' && ac.abort() }));
      const fresh = await window.createEngine({ model: `/fixtures/${model}`, cache: false });
      out.afterLoad = (await fresh.generate({ tokens: [1, 2, 3], max_tokens: 2 })).tokens.length;
      await fresh.unload();

      // Prefill: a ~1100-token prompt (5 chunks of 256), interrupted a quarter of the way
      // through its prefill (timed by an uninterrupted run first).
      await e.resetChat();
      let t0 = performance.now();
      const reference = await e.chat.completions.create({ messages: long, ...greedy, max_tokens: 4 });
      const prefillMs = reference.timings.prefill_ms;
      out.wholeMs = performance.now() - t0;
      await e.resetChat();
      const pc = new AbortController();
      setTimeout(() => pc.abort(), prefillMs / 4);
      t0 = performance.now();
      const chunks = [];
      for await (const c of await e.chat.completions.create({ messages: long, ...greedy, max_tokens: 4, stream: true, signal: pc.signal })) chunks.push(c);
      out.prefill = { ms: performance.now() - t0, prefillMs, last: chunks.at(-1), history: e.stats().historyTokens };
      const again = await e.chat.completions.create({ messages: long, ...greedy, max_tokens: 4 });
      out.resumed = { message: again.choices[0].message, reference: reference.choices[0].message, usage: again.usage };

      // Decode: the signal fires after the second chunk.
      const dc = new AbortController();
      const decoded = [];
      for await (const c of await e.chat.completions.create({ messages: question, temperature: 0, max_tokens: 200, stream: true, signal: dc.signal })) {
        decoded.push(c);
        if (decoded.length === 2) dc.abort();
      }
      out.decode = decoded.at(-1);

      // Tool execution: the signal fires while a tool that never answers runs; runTools
      // resolves at once (long before the tool's time limit) with every message so far.
      const tc = new AbortController();
      const tools = [{ name: 'hang', description: 'Never answers', handler: () => { setTimeout(() => tc.abort(), 50); return new Promise(() => {}); } }];
      t0 = performance.now();
      const stopped = await e.runTools({ messages: question, tools, toolTimeoutMs: 60_000, signal: tc.signal, temperature: 0, max_tokens: 16, forced_output: '<|tool_call_start|>[hang()]<|tool_call_end|><|im_end|>' });
      out.tool = { ms: performance.now() - t0, finish: stopped.finish_reason, steps: stopped.steps, messages: stopped.messages };
      // The conversation, with the interrupted call and its result, goes on.
      const follow = await e.chat.completions.create({ messages: [...question, ...stopped.messages, { role: 'user', content: 'Never mind.' }], tools: window.schemas(tools), ...greedy });
      out.follow = { finish: follow.choices[0].finish_reason, usage: follow.usage };
      // Aborted before runTools starts: rejects as create does.
      out.early = await failure(e.runTools({ messages: question, tools, signal: AbortSignal.abort() }));
      return out;
    }, { question: QUESTION, greedy: GREEDY, long: LONG, model: 'tiny-moe/tiny-moe-q8_0.gguf' });
    console.log(`prefill of the long prompt: ${Math.round(r.prefill.prefillMs)} ms; interrupted run: ${Math.round(r.prefill.ms)} ms; tool interrupted after ${Math.round(r.tool.ms)} ms`);

    assert.equal(r.load.code, 'aborted', JSON.stringify(r.load));
    assert.equal(r.afterLoad, 2);

    const { last } = r.prefill;
    assert.equal(last.choices[0].finish_reason, 'abort', JSON.stringify(last));
    assert.equal(last.usage.completion_tokens, 0);
    assert.ok(r.prefill.history < last.usage.prompt_tokens - 1, `the prefill ran to its end (${r.prefill.history} of ${last.usage.prompt_tokens} tokens) despite the abort`);
    assert.equal(r.resumed.usage.prompt_tokens_details.cached_tokens, r.prefill.history, 'the interrupted prefill is reused');
    assert.deepEqual(r.resumed.message, r.resumed.reference, 'the resumed answer differs from an uninterrupted one');

    assert.equal(r.decode.choices[0].finish_reason, 'abort');
    assert.ok(r.decode.usage.completion_tokens < 200);

    assert.equal(r.tool.finish, 'abort');
    assert.equal(r.tool.steps, 1);
    assert.ok(r.tool.ms < 30_000, `runTools took ${r.tool.ms} ms after the abort`);
    const [call, result] = r.tool.messages;
    assert.deepEqual(call.tool_calls.map((c) => c.function.name), ['hang']);
    assert.deepEqual([result.role, result.tool_call_id], ['tool', call.tool_calls[0].id]);
    assert.match(JSON.parse(result.content).error, /^interrupted/);
    assert.equal(r.follow.finish, 'length');
    assert.ok(r.follow.usage.prompt_tokens_details.cached_tokens > 0, 'the interrupted conversation was not reused');
    assert.equal(r.early.name, 'AbortError');
  });

  pageTest('two requests at once on one engine are queued and never interleaved', 240_000, async (page) => {
    const r = await page.evaluate(async (greedy) => {
      const e = window.engine;
      const a = [{ role: 'user', content: 'What is the capital of France?' }];
      const b = [{ role: 'user', content: 'Name three colours.' }];
      const text = (reply) => reply.choices[0].message.content;
      await e.resetChat();
      const alone = { a: text(await e.chat.completions.create({ messages: a, ...greedy })), b: text(await e.chat.completions.create({ messages: b, ...greedy })) };
      await e.resetChat();
      const order = [];
      const consume = async (tag, messages) => {
        let out = '';
        for await (const c of await e.chat.completions.create({ messages, ...greedy, stream: true })) {
          order.push(tag);
          out += c.choices[0].delta.content ?? '';
        }
        return out;
      };
      // Two streams, a plain request and a tokenize call, all started in the same tick.
      const [sa, sb, plain, ids] = await Promise.all([consume('a', a), consume('b', b), e.chat.completions.create({ messages: a, ...greedy }), e.tokenize('Hello world')]);
      return { alone, sa, sb, plain: text(plain), ids, order: order.join('') };
    }, GREEDY);
    assert.match(r.order, /^a+b+$/, `the streams interleaved: ${r.order}`);
    assert.equal(r.sa, r.alone.a);
    assert.equal(r.sb, r.alone.b);
    assert.equal(r.plain, r.alone.a);
    assert.ok(r.ids.length >= 2);
  });
});
