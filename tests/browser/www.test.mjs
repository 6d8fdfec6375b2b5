// The chat page (www/) in headless Chromium, served by www/serve.mjs with the tiny-moe
// fixture model: WebGPU check, loading a model by URL with progress, a streamed answer, stop,
// regenerate and edit, tool calls shown as cards with approve / deny / auto-approve (the tiny
// model cannot write a tool call, so the page's test-only `?test-hooks` queue forces the
// answer's text), a user-defined tool in its sandbox worker (and one that never ends),
// injected HTML shown as text, history and settings surviving a reload, deleting the cached
// model, a phone-sized screen, dark mode, a browser without WebGPU; the Markdown renderer, the
// calculator, unit conversion, progress and the static server as units. Screenshots of the
// main states go to test-output/www/.
//
//   node --test tests/browser/www.test.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { startServer } from '../../www/serve.mjs';
import { chromiumArgs, chromiumPath, ensureBuilt, pageTests, startPageServer } from './harness.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const screenshots = path.join(repoRoot, 'test-output/www');
const fixtures = path.resolve(repoRoot, '../shared/fixtures');
const MODEL_URL = '/fixtures/tiny-moe/tiny-moe-q8_0.gguf';
const MODEL_BYTES = statSync(path.join(fixtures, 'tiny-moe/tiny-moe-q8_0.gguf')).size;
const TOOL_CALL = (calls) => `<|tool_call_start|>[${calls}]<|tool_call_end|><|im_end|>`;
const BUILTIN_TOOLS = ['calculator', 'get_datetime', 'convert_units', 'add_note', 'search_notes', 'list_notes'];


async function shot(page, name) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), timeout: 15_000 });
}

// ---------------------------------------------------------------------------------------
// Units that need no browser

describe('chat page units (node)', () => {
  test('calculator: a real expression parser with clear errors', async () => {
    const { evaluate } = await import('../../www/tools/calculator.js');
    const cases = {
      '2*(3+4)': 14, '1 + 2 * 3': 7, '(1 + 2) * 3': 9, '-2^2': -4, '2^3^2': 512, '10 % 4': 2, '7 / 2': 3.5,
      '--3': 3, 'sqrt(16) + abs(-2)': 6, 'min(1, 234)': 1, 'max(3, 2*5, 1)': 10, '0.1 + 0.2': 0.3, '2**10': 1024,
      'round(2.5) + floor(1.9) + ceil(1.1)': 6, 'ln(e)': 1, 'log(1000)': 3, 'exp(0)': 1, 'sin(pi/2)': 1,
      'cos(0) + tan(0)': 1, '1.5e3': 1500, '3 × 4 ÷ 2': 6,
    };
    for (const [expression, want] of Object.entries(cases)) assert.equal(evaluate(expression), want, expression);
    const errors = {
      '1/0': /division by zero/, '2 +': /expected a number but found the end/, '(1 + 2': /expected '\)'/,
      'foo(1)': /unknown function 'foo'/, 'x + 1': /unknown name 'x'/, 'sqrt': /needs parentheses/,
      'sqrt(1, 2)': /takes 1 argument, got 2/, '3 4': /unexpected '4' \(at position 3\)/, '2 $ 3': /unexpected character '\$'/,
      'sqrt(-1)': /not a number/, '': /empty/, '10^400': /too large/, 'alert(1)': /unknown function/,
    };
    for (const [expression, message] of Object.entries(errors)) assert.throws(() => evaluate(expression), message, expression);
  });

  test('unit conversion and date/time tools', async () => {
    const { convert } = await import('../../www/tools/units.js');
    assert.equal(convert(5, 'km', 'mi').result, 3.10685596119);
    assert.equal(convert(100, '°F', '°C').result, 37.7777777778);
    assert.equal(convert(0, 'celsius', 'K').result, 273.15);
    assert.equal(convert(1, 'GiB', 'MiB').result, 1024);
    assert.equal(convert(1, 'MB', 'Mb').result, 8);
    assert.equal(convert(60, 'mph', 'km/h').result, 96.56064);
    assert.equal(convert(2, 'hours', 'min').result, 120);
    assert.equal(convert(1, 'gallon', 'l').result, 3.785411784);
    assert.equal(convert(1, 'kg', 'lb').result, 2.20462262185);
    assert.throws(() => convert(1, 'kg', 'm'), /cannot convert kg \(mass\) to m \(length\)/);
    assert.throws(() => convert(1, 'mb', 'kB'), /ambiguous/);
    assert.throws(() => convert(1, 'furlong', 'm'), /unknown unit 'furlong'/);
    assert.throws(() => convert(-300, 'C', 'K'), /below absolute zero/);

    const { currentDateTime } = await import('../../www/tools/datetime.js');
    const now = new Date('2026-01-15T12:34:56Z');
    assert.deepEqual(currentDateTime({ timezone: 'Asia/Tokyo', now }), {
      timezone: 'Asia/Tokyo', date: '2026-01-15', time: '21:34:56', weekday: 'Thursday', utc_offset: '+09:00', iso: '2026-01-15T21:34:56+09:00',
    });
    assert.equal(currentDateTime({ timezone: 'America/New_York', now }).utc_offset, '-05:00');
    assert.throws(() => currentDateTime({ timezone: 'Mars/Olympus' }), /unknown time zone 'Mars\/Olympus'/);
  });

  test('progress: speed as a moving average and the time left', async () => {
    const { ProgressMeter } = await import('../../www/progress.js');
    let t = 0;
    const meter = new ProgressMeter(() => t);
    const total = 100e6;
    assert.equal(meter.update({ phase: 'download', loadedBytes: 0, totalBytes: total }).speed, null);
    t = 1000;
    let v = meter.update({ phase: 'download', loadedBytes: 10e6, totalBytes: total });
    assert.equal(v.speed, 10e6);
    assert.equal(v.etaSeconds, 9);
    assert.equal(v.detail, '10.0 MB of 100 MB (10 %) · 10.0 MB/s · about 9 s left');
    t = 2000;
    v = meter.update({ phase: 'download', loadedBytes: 30e6, totalBytes: total }); // 20 MB/s now
    assert.ok(v.speed > 10e6 && v.speed < 20e6, `smoothed speed ${v.speed}`);
    v = meter.update({ phase: 'weights', loadedBytes: 0, totalBytes: total });
    assert.equal(v.speed, null, 'a new phase starts a new average');
    assert.equal(v.label, 'Loading the weights onto the GPU');
  });

  test('serve.mjs: static files, ranges, MIME types, headers, no path escape, GET/HEAD only', async () => {
    const server = await startServer({ port: 0 });
    try {
      const get = (p, init) => fetch(server.url + p.replace(/^\//, ''), init);
      const page = await get('/');
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
      const html = await page.text();
      const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)[1];
      assert.equal(page.headers.get('content-security-policy'), `${meta}; frame-ancestors 'none'`);
      // The inline import map is allowed by its hash, and nothing else inline is.
      const importMap = /<script type="importmap">([^<]*)<\/script>/.exec(html)[1];
      const hash = createHash('sha256').update(importMap).digest('base64');
      assert.ok(meta.includes(`'sha256-${hash}'`), `the CSP lacks the import map's hash sha256-${hash}`);
      for (const directive of ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self' blob:", "connect-src 'self' https:", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'none'"]) {
        assert.ok(meta.includes(directive), `CSP lacks ${directive}`);
      }
      assert.doesNotMatch(meta, /'unsafe-inline'|'unsafe-eval'/);
      assert.doesNotMatch(html, /\sstyle=|<style/, 'no inline styles');

      assert.equal((await get('/app.js')).headers.get('content-type'), 'text/javascript; charset=utf-8');
      assert.equal((await get('/lfm-webgpu/index.js')).status, 200, 'the package is served under /lfm-webgpu/');
      const ranged = await get('/index.html', { headers: { range: 'bytes=0-14' } });
      assert.equal(ranged.status, 206);
      assert.equal(await ranged.text(), '<!doctype html>');
      assert.match(ranged.headers.get('content-range'), /^bytes 0-14\/\d+$/);
      assert.equal((await get('/index.html', { headers: { range: 'bytes=999999-' } })).status, 416);
      const head = await get('/index.html', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(Number(head.headers.get('content-length')), Buffer.byteLength(html));
      assert.equal((await get('/index.html', { method: 'POST', body: 'x' })).status, 405);
      for (const escape of ['/..%2fCargo.toml', '/lfm-webgpu/..%2fCargo.toml', '/%2e%2e/Cargo.toml', '/lfm-webgpu/dist/.build-stamp', '/%E0%A4%A']) {
        assert.equal((await get(escape)).status, 404, escape);
      }
    } finally {
      await server.close();
    }

    // The command itself (without building: the browser tests build their own wasm).
    const child = spawn(process.execPath, [path.join(repoRoot, 'www/serve.mjs'), '--no-build', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code}: ${out}`)));
      });
      const wasm = await fetch(`${url}lfm-webgpu/dist/lfm_webgpu_bg.wasm`, { method: 'HEAD' });
      if (wasm.status === 200) assert.equal(wasm.headers.get('content-type'), 'application/wasm');
      assert.equal((await fetch(url)).status, 200);
    } finally {
      child.kill();
    }
  });
});

// ---------------------------------------------------------------------------------------
// The page in Chromium

describe('chat page in headless Chromium (tiny-moe q8_0)', () => {
  const session = { page: null, logs: [] };
  let server;
  let browser;
  let context;
  const requests = [];

  before(
    async () => {
      ensureBuilt();
      server = await startPageServer();
      browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, timeout: 60_000 });
      context = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: 'reduce' });
      context.on('request', (r) => requests.push(r.url()));
      const page = (session.page = await context.newPage());
      page.on('console', (m) => session.logs.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => session.logs.push(`[pageerror] ${e.stack || e}`));
      await page.goto(`${server.url}?test-hooks`);
      await page.waitForFunction(() => document.documentElement.dataset.ready, null, { timeout: 60_000 });
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    mkdirSync(screenshots, { recursive: true });
    writeFileSync(path.join(screenshots, 'console.log'), session.logs.join('\n') + '\n');
    await browser?.close().catch(() => {});
    await server?.close();
  });

  const pageTest = pageTests(() => session, 'www');

  // --- helpers -------------------------------------------------------------------------

  async function openSettings(page) {
    await page.click('#open-settings');
    await page.waitForSelector('#settings-dialog[open]');
  }

  async function closeSettings(page) {
    await page.click('#close-settings');
    await page.waitForSelector('#settings-dialog:not([open])', { state: 'attached' });
  }

  /** Sets sampling numbers and which built-in tools are offered, through the settings dialog. */
  async function configure(page, { maxTokens, tools }) {
    await openSettings(page);
    await page.fill('#temperature', '0');
    await page.press('#temperature', 'Tab');
    if (maxTokens) {
      await page.fill('#max-tokens', String(maxTokens));
      await page.press('#max-tokens', 'Tab');
    }
    if (tools) {
      for (const name of BUILTIN_TOOLS) await page.setChecked(`#tool-settings tr[data-tool="${name}"] input[data-field="enabled"]`, tools.includes(name));
    }
    await closeSettings(page);
  }

  async function loadModel(page) {
    await page.check('#choice-url');
    await page.fill('#model-url', MODEL_URL);
    await page.click('#load-model');
    await page.waitForFunction(() => window.__lfmTest.engine && document.querySelector('#model-panel').hidden, null, { timeout: 180_000 });
  }

  /** Does `action` (which starts an answer) and waits until the answer runs. */
  async function starting(page, action) {
    await action();
    await page.waitForSelector('#stop:not([hidden])', { timeout: 30_000 });
  }

  /** Sends `text`; `forced`: the forced output of each answer of the turn (test hook). */
  async function send(page, text, forced = []) {
    await page.evaluate((f) => window.__lfmTest.forcedOutputs.push(...f), forced);
    await page.fill('#prompt', text);
    await starting(page, () => page.press('#prompt', 'Enter'));
  }

  /** Waits until the running answer has shown some text. */
  const answerStarted = (page) =>
    page.waitForFunction(() => {
      const last = [...document.querySelectorAll('.message.assistant')].at(-1);
      return last?.getAttribute('aria-busy') === 'true' && last.querySelector('.bubble').textContent.replace('…', '').trim().length > 0;
    }, null, { timeout: 120_000 });

  const waitForIdle = (page, timeout = 180_000) =>
    page.waitForFunction(() => document.querySelector('#stop').hidden && !document.querySelector('[aria-busy="true"]'), null, { timeout });

  /** The current conversation as the page stored it (IndexedDB). */
  const storedConversation = (page) =>
    page.evaluate(async () => {
      const { conversationStore } = await import('/store.js');
      return (await conversationStore.all())[0];
    });

  const assistantTexts = (page) => page.$$eval('.message.assistant .bubble', (nodes) => nodes.map((n) => n.textContent));

  // --- tests ---------------------------------------------------------------------------

  pageTest('markdown: safe rendering (HTML and script shown as text, only http(s) links, no images)', 60_000, async (page) => {
    const r = await page.evaluate(async () => {
      const { renderMarkdown } = await import('/markdown.js');
      const render = (text) => {
        const div = document.createElement('div');
        div.append(renderMarkdown(text));
        return div;
      };
      const allowedTags = new Set(['P', 'BR', 'STRONG', 'EM', 'DEL', 'CODE', 'PRE', 'A', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'HR', 'H3', 'H4', 'H5', 'H6', 'H7', 'H8', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'DIV']);
      const allowedAttributes = new Set(['href', 'rel', 'target', 'class', 'start', 'scope']);
      const hostile = [
        '<img src=x onerror="window.__pwned=1">',
        '<script>window.__pwned=2</script>',
        '<a href="javascript:window.__pwned=3">x</a>',
        '[click](javascript:window.__pwned=4)',
        '[data](data:text/html,<script>window.__pwned=5</script>)',
        '![cat](https://example.com/cat.png)',
        '**<svg onload=window.__pwned=6>**',
        '```html\n<iframe src=javascript:alert(1)></iframe>\n```',
        '<style>body{display:none}</style>',
        '[x](  JaVaScRiPt:alert(1))',
      ].join('\n\n');
      const div = render(hostile);
      document.body.append(div); // in the document: would run handlers if any were created
      await new Promise((ok) => setTimeout(ok, 200));
      const bad = [...div.querySelectorAll('*')].filter((el) => !allowedTags.has(el.tagName) || [...el.attributes].some((a) => !allowedAttributes.has(a.name)) || (el.tagName === 'A' && !/^https?:/.test(el.getAttribute('href'))));
      const hostileLinks = [...div.querySelectorAll('a')].map((a) => [a.textContent, a.href, a.rel, a.target]);
      div.remove();
      const sample = render('# Title\n\nSome **bold**, *italic*, ~~old~~ and `a<b>` code; snake_case_name stays; see https://example.com/x.\n\n- one\n- two\n  - nested\n\n3. three\n4. four\n\n> quoted *text*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```js\nconst x = 1 < 2;\n```\n\n```py\nunclosed while streaming');
      const q = (s) => [...sample.querySelectorAll(s)].map((n) => n.textContent);
      return {
        text: div.textContent,
        bad: bad.map((el) => el.outerHTML),
        pwned: window.__pwned ?? null,
        hostileLinks,
        heading: q('h3'), strong: q('strong'), em: q('em'), del: q('del'), code: q('p code'),
        links: [...sample.querySelectorAll('a')].map((a) => [a.textContent, a.href, a.rel]),
        lists: [...sample.querySelectorAll('ul, ol')].map((l) => `${l.tagName}${l.start > 1 ? l.start : ''}:${[...l.children].map((li) => li.firstChild.textContent).join(',')}`),
        quote: q('blockquote em'), cells: q('td'), headers: q('th'),
        blocks: [...sample.querySelectorAll('pre code')].map((c) => [c.className, c.textContent]),
        paragraphText: sample.querySelector('p').textContent,
      };
    });
    assert.deepEqual(r.bad, [], 'only harmless elements and attributes');
    assert.equal(r.pwned, null);
    for (const literal of ['<img src=x onerror="window.__pwned=1">', '<script>window.__pwned=2</script>', '[click](javascript:window.__pwned=4)', '<svg onload=window.__pwned=6>', '<iframe src=javascript:alert(1)></iframe>', '<style>']) {
      assert.ok(r.text.includes(literal), `shown as text: ${literal}`);
    }
    // The only link: the image, as a link to it (never loaded).
    assert.deepEqual(r.hostileLinks, [['image: cat', 'https://example.com/cat.png', 'noopener noreferrer nofollow', '_blank']]);
    assert.deepEqual(r.heading, ['Title']);
    assert.deepEqual(r.strong, ['bold']);
    assert.deepEqual(r.em, ['italic', 'text']);
    assert.deepEqual(r.del, ['old']);
    assert.deepEqual(r.code, ['a<b>']);
    assert.match(r.paragraphText, /snake_case_name stays/);
    assert.deepEqual(r.links, [['https://example.com/x', 'https://example.com/x', 'noopener noreferrer nofollow']]);
    assert.deepEqual(r.lists, ['UL:one,two', 'UL:nested', 'OL3:three,four']);
    assert.deepEqual(r.quote, ['text']);
    assert.deepEqual([r.headers, r.cells], [['a', 'b'], ['1', '2']]);
    assert.deepEqual(r.blocks, [['language-js', 'const x = 1 < 2;'], ['language-py', 'unclosed while streaming']]);
  });

  pageTest('the WebGPU check passes; the model loads from a URL with progress', 240_000, async (page) => {
    assert.equal(await page.evaluate(() => document.documentElement.dataset.ready), 'webgpu');
    assert.ok(await page.isHidden('#webgpu-missing'));
    assert.ok(await page.isVisible('#model-panel'));
    assert.match(await page.textContent('#webgpu-adapter'), /WebGPU: /);
    // The default is the official LFM2.5-8B-A1B, its approximate size shown before any download.
    assert.ok(await page.isChecked('#choice-lfm2_5-8b-a1b'));
    assert.match(await page.textContent('label[for="choice-lfm2_5-8b-a1b"]'), /LFM2\.5-8B-A1B.*Q4_K_M.*about 5\.1 GB/);
    assert.match(await page.textContent('#load-model'), /Download \(about 5\.1 GB\) and load/);
    assert.match(await page.textContent('#catalog'), /LFM2-350M.*about 230 MB/);
    await shot(page, 'model-panel');
    assert.ok(!requests.some((u) => u.includes('huggingface')), 'nothing is fetched just to show sizes');

    await configure(page, { maxTokens: 4, tools: [] });
    // A wrong URL: a plain-language error, and the panel stays usable.
    await page.check('#choice-url');
    await page.fill('#model-url', '/fixtures/no-such-model.gguf');
    await page.click('#load-model');
    await page.waitForSelector('#load-error:not([hidden])', { timeout: 60_000 });
    assert.match(await page.textContent('#load-error'), /^Could not load no-such-model\. The model address answered with an error \(HTTP 404\)\. Check the URL/);
    await shot(page, 'load-error');
    await loadModel(page);
    assert.ok(await page.isHidden('#load-error'));
    const progress = await page.evaluate(() => window.__lfmTest.progress);
    const phases = [...new Set(progress.map((p) => p.phase))];
    assert.deepEqual(phases, ['download', 'header', 'weights', 'done']);
    const lastDownload = progress.findLast((p) => p.phase === 'download');
    assert.equal(lastDownload.totalBytes, MODEL_BYTES, 'the exact size once the download starts');
    assert.match(lastDownload.detail, /^7\.2 MB of 7\.2 MB \(100 %\)/);
    assert.match(await page.textContent('#model-status'), /Model: tiny-moe-q8_0/);
    assert.ok(await page.isEnabled('#prompt'));
  });

  pageTest('a message gets a streamed answer, with tokens/s and context use', 180_000, async (page) => {
    // Watch the answer bubble: it must change several times while the answer is running.
    await page.evaluate(() => {
      window.__seen = [];
      new MutationObserver(() => {
        const last = [...document.querySelectorAll('.message.assistant')].at(-1);
        const text = last?.querySelector('.bubble')?.textContent.replace('…', '') ?? '';
        if (last?.getAttribute('aria-busy') === 'true' && text && window.__seen.at(-1) !== text) window.__seen.push(text);
      }).observe(document.querySelector('#messages'), { subtree: true, childList: true, characterData: true });
    });
    // Shift+Enter is a new line, not a send.
    await page.fill('#prompt', 'line one');
    await page.press('#prompt', 'Shift+Enter');
    await page.type('#prompt', 'line two');
    assert.equal(await page.inputValue('#prompt'), 'line one\nline two');
    assert.equal(await page.locator('.message').count(), 0);
    await send(page, 'Hello! Who are you?');
    await page.waitForSelector('.message.user >> text=Hello! Who are you?');
    assert.ok(await page.isVisible('#stop'), 'Stop shows while answering');
    await waitForIdle(page);
    const seen = await page.evaluate(() => window.__seen);
    assert.ok(seen.length >= 2, `the answer streamed in pieces: ${JSON.stringify(seen)}`);
    const [answer] = await assistantTexts(page);
    assert.ok(answer.trim().length > 0);
    assert.match(await page.textContent('.message.assistant .message-meta'), /^[1-4] tokens · [\d.]+ tokens\/s/);
    assert.match(await page.textContent('#chat-stats'), /[\d.]+ tokens\/s · prompt [\d.]+ tokens\/s · context: \d+ of 4,096 tokens/);
    assert.deepEqual(await page.$$eval('.conversation-open', (b) => b.map((x) => x.textContent)), ['Hello! Who are you?']);
    await shot(page, 'chat');
  });

  pageTest('Stop (and Escape) ends a long answer early', 180_000, async (page) => {
    await configure(page, { maxTokens: 200 });
    await send(page, 'Tell me a very long story.');
    await answerStarted(page);
    const t0 = Date.now();
    await page.keyboard.press('Escape');
    await waitForIdle(page, 60_000);
    console.log(`stopped ${Date.now() - t0} ms after Escape`);
    const stored = await storedConversation(page);
    const last = stored.messages.at(-1);
    assert.equal(last.finish_reason, 'abort');
    assert.ok(last.usage.completion_tokens < 200, `${last.usage.completion_tokens} tokens`);
    assert.match(await page.locator('.message.assistant .message-meta').last().textContent(), /Stopped\./);

    // The Stop button does the same.
    await send(page, 'Another long one.');
    await answerStarted(page);
    await page.click('#stop');
    await waitForIdle(page, 60_000);
    assert.equal((await storedConversation(page)).messages.at(-1).finish_reason, 'abort');
    await configure(page, { maxTokens: 4 });
  });

  pageTest('regenerate the last answer; edit a message (what follows it is answered again)', 240_000, async (page) => {
    const before = await storedConversation(page);
    const lastId = before.messages.at(-1).id;
    await starting(page, () => page.click(`.message.assistant[data-id="${lastId}"] button[data-action="regenerate"]`));
    await waitForIdle(page);
    const regenerated = await storedConversation(page);
    assert.equal(regenerated.messages.length, before.messages.length);
    assert.notEqual(regenerated.messages.at(-1).id, lastId);
    assert.ok(regenerated.messages.at(-1).usage.completion_tokens <= 4);

    const first = regenerated.messages[0];
    await page.click(`.message.user[data-id="${first.id}"] button[data-action="edit"]`);
    const editor = page.locator(`textarea[data-edit-for="${first.id}"]`);
    await editor.fill('Hi again, edited');
    await starting(page, () => page.click(`button[data-action="save-edit"][data-id="${first.id}"]`));
    await waitForIdle(page);
    const edited = await storedConversation(page);
    assert.deepEqual(edited.messages.map((m) => m.role), ['user', 'assistant']);
    assert.equal(edited.messages[0].content, 'Hi again, edited');
    assert.equal(edited.title, 'Hi again, edited');
    assert.deepEqual(await page.$$eval('.message.user .bubble', (n) => n.map((x) => x.textContent)), ['Hi again, edited']);
  });

  pageTest('tool calls: cards with arguments, approve runs the tool, deny tells the model', 300_000, async (page) => {
    await configure(page, { maxTokens: 48, tools: ['calculator'] });
    await page.click('#new-chat');
    await send(page, 'What is 2*(3+4)?', [TOOL_CALL("calculator(expression='2*(3+4)'), calculator(expression='sqrt(16)')"), 'It is 14.<|im_end|>']);
    const cards = page.locator('.tool-card');
    await page.waitForSelector('.tool-card.status-pending', { timeout: 180_000 });
    assert.equal(await cards.count(), 2);
    const first = cards.nth(0);
    assert.equal(await first.locator('.tool-name').textContent(), 'calculator');
    assert.equal(await first.locator('.tool-args').textContent(), '{\n  "expression": "2*(3+4)"\n}');
    assert.equal(await first.locator('.tool-status').textContent(), 'Waiting for your approval');
    await shot(page, 'tool-approval');
    await first.locator('button[data-action="approve"]').click();
    await page.waitForSelector('.tool-card >> nth=0 >> .tool-result');
    assert.equal(await first.locator('.tool-result').textContent(), '{\n  "expression": "2*(3+4)",\n  "result": 14\n}');
    assert.equal(await first.locator('.tool-status').textContent(), 'Done');

    const second = cards.nth(1);
    await page.waitForSelector('.tool-card >> nth=1 >> button[data-action="deny"]');
    await second.locator('button[data-action="deny"]').click();
    await waitForIdle(page);
    assert.equal(await second.locator('.tool-status').textContent(), 'Denied');
    assert.match(await second.locator('.tool-result').textContent(), /the user denied this tool call/);
    const texts = await assistantTexts(page);
    assert.equal(texts.at(-1), 'It is 14.', 'the model continued after the tool results');
    const stored = await storedConversation(page);
    assert.deepEqual(stored.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'tool', 'assistant']);
    const [, call, approved, denied] = stored.messages;
    assert.equal(call.finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(approved.content), { expression: '2*(3+4)', result: 14 });
    assert.equal(approved.tool_call_id, call.tool_calls[0].id);
    assert.deepEqual(JSON.parse(denied.content), { error: 'the user denied this tool call' });
    await shot(page, 'tool-done');
  });

  pageTest('a user-defined tool runs in a sandboxed worker; an endless one times out; auto-approve', 300_000, async (page) => {
    await openSettings(page);
    // Invalid input is refused with a clear message.
    await page.fill('#tool-name', '2bad name');
    await page.fill('#tool-parameters', '{"type": "array"}');
    await page.fill('#tool-body', 'return 1;');
    await page.click('#tool-save');
    assert.match(await page.textContent('#tool-name-error'), /letters, digits and underscores/);
    assert.match(await page.textContent('#tool-parameters-error'), /"type" must be "object"/);

    // An endless loop: stopped at the time limit, the page stays responsive.
    await page.fill('#tool-timeout', '1');
    await page.press('#tool-timeout', 'Tab');
    await page.fill('#tool-name', 'spin');
    await page.fill('#tool-parameters', '{"type": "object", "properties": {}}');
    await page.fill('#tool-body', 'while (true) {}');
    const t0 = Date.now();
    await page.click('#tool-try');
    assert.equal(await page.evaluate(() => 1 + 1), 2, 'the page is not blocked by the loop');
    await page.waitForFunction(() => /did not finish within 1 s/.test(document.querySelector('#tool-try-result').textContent), null, { timeout: 10_000 });
    assert.ok(Date.now() - t0 < 5000);
    // No DOM in the sandbox; the page's globals are out of reach.
    await page.fill('#tool-body', 'return typeof document + "," + typeof window;');
    await page.click('#tool-try');
    await page.waitForFunction(() => /Result/.test(document.querySelector('#tool-try-result').textContent));
    assert.match(await page.textContent('#tool-try-result'), /undefined,undefined/);
    await page.fill('#tool-body', 'throw new Error("nope")');
    await page.click('#tool-try');
    await page.waitForFunction(() => /Error: nope/.test(document.querySelector('#tool-try-result').textContent));

    await page.fill('#tool-name', 'double');
    await page.fill('#tool-description', 'Doubles a number');
    await page.fill('#tool-parameters', JSON.stringify({ type: 'object', properties: { n: { type: 'number' } }, required: ['n'] }));
    await page.fill('#tool-body', 'return { doubled: args.n * 2, note: \'<img src=x onerror="window.__pwned=1">\' };');
    await page.fill('#tool-test-args', '{"n": 4}');
    await page.click('#tool-try');
    await page.waitForFunction(() => /"doubled": 8/.test(document.querySelector('#tool-try-result').textContent));
    await page.click('#tool-save');
    await page.waitForSelector('#tool-settings tr[data-tool="double"]');
    await page.check('#tool-settings tr[data-tool="double"] input[data-field="autoApprove"]');
    await page.check('#tool-settings tr[data-tool="calculator"] input[data-field="autoApprove"]');
    await shot(page, 'settings');
    await closeSettings(page);

    await page.click('#new-chat');
    await send(page, 'Double 21, and 6*7?', [TOOL_CALL("double(n=21), calculator(expression='6*7')"), 'Both are 42.<|im_end|>']);
    await waitForIdle(page, 240_000);
    const results = await page.$$eval('.tool-card', (cards) => cards.map((c) => [c.dataset.tool, c.querySelector('.tool-status').textContent, c.querySelector('.tool-result')?.textContent]));
    assert.deepEqual(results.map(([tool, status]) => [tool, status]), [['double', 'Done'], ['calculator', 'Done']], 'both ran without asking');
    assert.deepEqual(JSON.parse(results[0][2]), { doubled: 42, note: '<img src=x onerror="window.__pwned=1">' });
    assert.equal(JSON.parse(results[1][2]).result, 42);
    assert.equal(await page.locator('#messages img').count(), 0, 'tool output is text');
    assert.equal(await page.evaluate(() => window.__pwned ?? null), null);
    assert.equal((await assistantTexts(page)).at(-1), 'Both are 42.');
  });

  pageTest('HTML in model output is shown as text, never run', 180_000, async (page) => {
    await configure(page, { maxTokens: 48, tools: [] });
    await page.click('#new-chat');
    await send(page, 'Say something dangerous', ['<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script><|im_end|>']);
    await waitForIdle(page);
    const bubble = page.locator('.message.assistant .bubble').last();
    assert.equal(await bubble.textContent(), '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>');
    assert.equal(await page.locator('#messages img, #messages script').count(), 0);
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => window.__pwned ?? null), null);
    await shot(page, 'html-as-text');
    await configure(page, { maxTokens: 4 });
  });

  pageTest('conversations, messages, tool cards and settings survive a reload', 120_000, async (page) => {
    const titles = await page.$$eval('.conversation-open', (b) => b.map((x) => x.textContent));
    assert.deepEqual(titles, ['Say something dangerous', 'Double 21, and 6*7?', 'What is 2*(3+4)?', 'Hi again, edited']);
    await page.reload();
    await page.waitForFunction(() => document.documentElement.dataset.ready);
    assert.deepEqual(await page.$$eval('.conversation-open', (b) => b.map((x) => x.textContent)), titles);
    // The most recent conversation is open again.
    assert.equal(await page.locator('.message.assistant .bubble').last().textContent(), '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>');
    await page.click('.conversation-open >> text=What is 2*(3+4)?');
    await page.waitForSelector('.tool-card');
    assert.equal(await page.locator('.tool-card .tool-result').first().textContent(), '{\n  "expression": "2*(3+4)",\n  "result": 14\n}');
    assert.equal(await page.locator('.tool-card .tool-status').nth(1).textContent(), 'Denied');
    assert.equal((await assistantTexts(page)).at(-1), 'It is 14.');
    await openSettings(page);
    assert.equal(await page.inputValue('#max-tokens'), '4');
    assert.equal(await page.inputValue('#temperature'), '0');
    assert.ok(await page.isChecked('#tool-settings tr[data-tool="double"] input[data-field="autoApprove"]'));
    assert.equal(await page.isChecked('#tool-settings tr[data-tool="calculator"] input[data-field="enabled"]'), false);
    await closeSettings(page);
    // Deleting a conversation.
    await page.click('button[aria-label="Delete the chat \\"Say something dangerous\\""]');
    await page.waitForFunction(() => document.querySelectorAll('.conversation-open').length === 3);
  });

  pageTest('the downloaded model is listed with its size and can be deleted', 60_000, async (page) => {
    assert.ok(await page.isVisible('#model-panel'));
    const row = page.locator(`.cached-model[data-url$="${MODEL_URL}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.cached-name').textContent(), 'tiny-moe-q8_0');
    assert.equal(await row.locator('.cached-size').textContent(), '7.2 MB');
    await row.locator('button[data-action="delete"]').click();
    await row.waitFor({ state: 'detached' });
    assert.ok(await page.isVisible('#cached-empty'));
    const left = await page.evaluate(async () => (await import('lfm-webgpu')).listCachedModels());
    assert.deepEqual(left, []);
  });

  pageTest('a local .gguf file loads (file picker; drag and drop selects it too)', 120_000, async (page) => {
    await page.evaluate(async (url) => {
      const file = new File([await (await fetch(url)).blob()], 'dropped-model.gguf');
      const data = new DataTransfer();
      data.items.add(file);
      const target = document.querySelector('#scroller');
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    }, MODEL_URL);
    assert.ok(await page.isChecked('#choice-file'));
    assert.equal(await page.textContent('#picked-file'), 'Chosen: dropped-model.gguf (7.2 MB)');
    await page.setInputFiles('#model-file', path.join(fixtures, 'tiny-moe/tiny-moe-q8_0.gguf'));
    assert.equal(await page.textContent('#picked-file'), 'Chosen: tiny-moe-q8_0.gguf (7.2 MB)');
    await page.click('#load-model');
    await page.waitForFunction(() => window.__lfmTest.engine && document.querySelector('#model-panel').hidden, null, { timeout: 120_000 });
    assert.equal(await page.textContent('#model-status'), 'Model: tiny-moe-q8_0');
    assert.equal(await page.evaluate(() => window.__lfmTest.progress.some((p) => p.phase === 'download' && p.totalBytes === null)), false);
    // A file is never cached (it is already on the device).
    assert.deepEqual(await page.evaluate(async () => (await import('lfm-webgpu')).listCachedModels()), []);
  });

  pageTest('notes tools: add, search and list in IndexedDB, shown in the settings', 60_000, async (page) => {
    const r = await page.evaluate(async () => {
      const { createToolbox } = await import('/tools/index.js');
      const toolbox = createToolbox({ tools: {}, toolTimeoutMs: 5000 });
      const call = (name, args) => toolbox.run({ id: 'x', function: { name, arguments: typeof args === 'string' ? args : JSON.stringify(args) } });
      return {
        added: await call('add_note', { title: 'Groceries', text: 'milk and eggs' }),
        added2: await call('add_note', { title: 'Ideas', text: 'a private chat page' }),
        found: await call('search_notes', { query: 'MILK eggs' }),
        none: await call('search_notes', { query: 'bread' }),
        all: await call('list_notes', {}),
        badArgs: await call('add_note', '{not json'),
        unknown: await call('rm_rf', {}),
        empty: await call('add_note', { title: ' ', text: '' }),
        calcError: await call('calculator', { expression: '2 +' }),
      };
    });
    assert.equal(r.added.ok, true);
    assert.equal(JSON.parse(r.found.content).count, 1);
    assert.equal(JSON.parse(r.found.content).notes[0].title, 'Groceries');
    assert.equal(JSON.parse(r.none.content).count, 0);
    assert.deepEqual(JSON.parse(r.all.content).notes.map((n) => n.title), ['Groceries', 'Ideas']);
    assert.match(JSON.parse(r.badArgs.content).error, /arguments could not be read/);
    assert.match(JSON.parse(r.unknown.content).error, /no tool named 'rm_rf'/);
    assert.match(JSON.parse(r.empty.content).error, /needs a title or a text/);
    assert.deepEqual([r.calcError.ok, JSON.parse(r.calcError.content).error], [false, 'expected a number but found the end of the expression (at position 4)']);
    await openSettings(page);
    assert.deepEqual(await page.$$eval('#notes-list .note-title', (n) => n.map((x) => x.textContent)), ['Groceries', 'Ideas']);
    await page.click('#notes-list button[aria-label="Delete the note Groceries"]');
    await page.waitForFunction(() => document.querySelectorAll('#notes-list .note').length === 1);
    await closeSettings(page);
  });

  pageTest('a phone-sized screen and dark mode', 60_000, async (page) => {
    await page.setViewportSize({ width: 375, height: 740 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'no sideways scrolling');
    assert.ok(await page.isVisible('#toggle-sidebar'));
    await shot(page, 'phone');
    await page.click('#toggle-sidebar');
    assert.equal(await page.getAttribute('#toggle-sidebar', 'aria-expanded'), 'true');
    await page.waitForTimeout(300); // the slide-in
    await shot(page, 'phone-conversations');
    await page.keyboard.press('Escape');
    assert.equal(await page.getAttribute('#toggle-sidebar', 'aria-expanded'), 'false', 'Escape closes the drawer');
    await page.click('#toggle-sidebar');
    await page.click('.conversation-open >> text=What is 2*(3+4)?');
    assert.equal(await page.getAttribute('#toggle-sidebar', 'aria-expanded'), 'false');
    await page.waitForSelector('.tool-card');
    await page.evaluate(() => document.querySelector('.message.assistant').scrollIntoView());
    await shot(page, 'phone-chat');

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.click('#toggle-theme');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(background, 'rgb(19, 20, 23)');
    await shot(page, 'dark');
    await page.click('#toggle-theme');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
  });

  pageTest('without WebGPU the page explains what to do instead of offering models', 60_000, async () => {
    const page = await context.newPage();
    try {
      await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
      await page.goto(server.url);
      await page.waitForFunction(() => document.documentElement.dataset.ready);
      assert.equal(await page.evaluate(() => document.documentElement.dataset.ready), 'no-webgpu');
      assert.ok(await page.isVisible('#webgpu-missing'));
      assert.ok(await page.isHidden('#model-panel'));
      assert.match(await page.textContent('#webgpu-missing'), /does not offer WebGPU.*Chrome or Edge 113/s);
      // Saved chats stay readable.
      assert.ok((await page.locator('.conversation-open').count()) > 0);
      await shot(page, 'no-webgpu');
    } finally {
      await page.close();
    }
  });

  pageTest('no request left this server, and the CSP was never violated', 10_000, async (page) => {
    const foreign = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('blob:') && !u.startsWith('data:'));
    assert.deepEqual(foreign, []);
    assert.deepEqual(await page.evaluate(() => window.__lfmTest.cspViolations), []);
    const refused = session.logs.filter((l) => /Content Security Policy|Refused to/i.test(l));
    assert.deepEqual(refused, []);
    assert.deepEqual(session.logs.filter((l) => l.startsWith('[pageerror]')), []);
  });
});
