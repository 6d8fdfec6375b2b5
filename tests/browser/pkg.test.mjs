// The npm package (pkg/index.js) in headless Chromium: `createEngine` loads tiny-moe Q8_0 and
// `engine.chat.completions.create` answers in OpenAI's shapes, streaming and not, reusing the
// conversation state on a follow-up turn, with a tool call (injected as model output with
// `forced_output`: the tiny model cannot write one) and an AbortSignal that stops a stream.
//
//   node --test tests/browser/pkg.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ensureBuilt, openSession, pageTests } from './harness.mjs';

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
        window.engine = await createEngine({ model, onProgress: (p) => events.push(p) });
        return { ms: performance.now() - t0, events, stats: window.engine.stats() };
      }, MODEL);
      console.log(`createEngine: ${Math.round(r.ms)} ms, ${r.events.length} progress events`);
      assert.equal(r.events.at(-1).phase, 'done');
      assert.equal(r.stats.loaded, true);
      assert.equal(r.stats.historyTokens, 0);
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
});
