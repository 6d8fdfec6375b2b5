// The browser benchmark page (www/bench.html) in headless Chromium, served by www/serve.mjs
// with the tiny-moe fixture: it loads the model through the package's public API, runs every
// measurement with tiny sizes, and reports finite, positive numbers (nothing is timed against a
// limit). Also checks the page stays within the chat page's Content-Security-Policy.
//
//   node --test tests/browser/bench.test.mjs

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { chromiumArgs, chromiumPath, ensureBuilt, startPageServer } from './harness.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const artifacts = path.join(repoRoot, 'test-output/bench');
const MODEL_URL = '/fixtures/tiny-moe/tiny-moe-q8_0.gguf';

describe('benchmark page in headless Chromium (tiny-moe q8_0)', () => {
  let server;
  let browser;
  const logs = [];

  before(
    async () => {
      ensureBuilt();
      server = await startPageServer();
      browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, timeout: 60_000 });
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(path.join(artifacts, 'console.log'), logs.join('\n') + '\n');
    await browser?.close().catch(() => {});
    await server?.close();
  });

  test('measures prefill, time to first token and decode with finite positive numbers', { timeout: 10 * 60_000 }, async () => {
    const page = await browser.newPage();
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.stack || e}`));
    // ' 8, 70,,x' also checks the list parsing: positive integers, in order.
    const query = new URLSearchParams({ model: MODEL_URL, prompts: ' 8, 70,,x', gen: '4' });
    await page.goto(`${server.url}bench.html?${query}&autorun`);
    await page.waitForFunction(() => document.documentElement.dataset.benchDone, null, { timeout: 9 * 60_000 });
    const r = await page.evaluate(() => window.lfmBench);
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(path.join(artifacts, 'result.json'), JSON.stringify(r, null, 2));
    assert.equal(r.error, undefined, `the page failed: ${r.error}\n${logs.join('\n')}`);

    const positive = (x, what) => assert.ok(Number.isFinite(x) && x > 0, `${what} = ${x}`);
    positive(r.load_s, 'load_s');
    positive(r.file_bytes, 'file_bytes');
    positive(r.weight_bytes, 'weight_bytes');
    positive(r.wasm_memory_bytes, 'wasm_memory_bytes');
    assert.deepEqual(r.prefill.map((p) => p.prompt_tokens), [8, 70]);
    for (const p of r.prefill) {
      positive(p.time_to_first_token_s, `TTFT at ${p.prompt_tokens}`);
      positive(p.prefill_tokens_per_s, `prefill tok/s at ${p.prompt_tokens}`);
    }
    assert.equal(r.decode.gen_tokens, 4, 'generate returns max_tokens tokens (EOS does not stop it)');
    positive(r.decode.decode_tokens_per_s, 'decode tok/s');
    positive(r.chat.prefill_tokens_per_s, 'chat prefill tok/s');
    assert.ok(r.chat.completion_tokens >= 1);
    assert.match(String(r.adapter), /\w/);

    // The table and the JSON are on the page.
    assert.equal(await page.locator('#results').isVisible(), true);
    assert.ok((await page.locator('#results-body tr').count()) >= 7);
    assert.deepEqual(JSON.parse(await page.locator('#json').textContent()), r);
    assert.ok(!logs.some((l) => /Content Security Policy|Refused to/.test(l)), `CSP violations:\n${logs.join('\n')}`);
    await page.close();
  });

  test('a missing model reports an error on the page', { timeout: 120_000 }, async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}bench.html?model=/fixtures/none.gguf&prompts=4&gen=2&autorun`);
    await page.waitForFunction(() => document.documentElement.dataset.benchDone, null, { timeout: 100_000 });
    assert.equal(await page.evaluate(() => document.documentElement.dataset.benchDone), 'error');
    assert.match(await page.locator('#error').textContent(), /http|404|not found/i);
    await page.close();
  });
});
