// Loading models through the npm package in headless Chromium: from a URL into the OPFS cache
// and back from it offline; a download interrupted and resumed; a corrupt cache, a wrong
// hash, a full quota; a `File` picked in the page; a model larger than the wasm heap we allow;
// a 1 MiB storage-binding limit; clear errors for bad URLs and bad files; a lost GPU device.
//
//   node --test tests/browser/pkg-load.test.mjs

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';

import { ensureBuilt, openSession, pageTests } from './harness.mjs';
import { defaultRoutes, repoRoot } from './server.mjs';

const fixtures = path.resolve(repoRoot, '../shared/fixtures/tiny-moe');
const golden = JSON.parse(readFileSync(path.join(fixtures, 'golden.json'), 'utf8'));
const Q8 = 'tiny-moe-q8_0.gguf';
const Q4 = 'tiny-moe-q4_0.gguf';
const want = (variant, n) => golden.files[variant].dequant_reference.generated_ids.slice(0, n);

/** The synthetic model for the heap test, and the most wasm memory its load may take. */
const BIG_MODEL = path.join(repoRoot, 'target/test-models/big-moe-q8_0.gguf');
const HEAP_LIMIT = 128 << 20;

/** Writes the random-weight model of the heap test (examples/synth_gguf.rs) unless present. */
function ensureBigModel() {
  if (statSync(BIG_MODEL, { throwIfNoEntry: false })?.size > 2 * HEAP_LIMIT) return;
  const args = ['run', '--quiet', '--example', 'synth_gguf', '--', '--like', path.join(fixtures, Q8), '--out', BIG_MODEL];
  const r = spawnSync('cargo', args, { cwd: repoRoot, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`cargo ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

/** Bad files served under /gen/: not a GGUF, truncated, and a GGUF of an unknown architecture. */
function writeBadFiles(dir) {
  const q8 = readFileSync(path.join(fixtures, Q8));
  writeFileSync(path.join(dir, 'noise.gguf'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
  writeFileSync(path.join(dir, 'truncated.gguf'), q8.subarray(0, q8.length >> 1));
  // Same length, so every offset in the file stays right: only the architecture changes.
  writeFileSync(path.join(dir, 'other-arch.gguf'), Buffer.from(q8.toString('latin1').replaceAll('lfm2moe', 'gpt2moe'), 'latin1'));
}

describe('npm package: loading (tiny-moe)', () => {
  let session;
  let genDir;

  before(
    async () => {
      ensureBuilt();
      ensureBigModel();
      genDir = mkdtempSync(path.join(os.tmpdir(), 'lfm-pkg-load-'));
      writeBadFiles(genDir);
      mkdirSync(path.dirname(BIG_MODEL), { recursive: true });
      const routes = { ...defaultRoutes, '/gen/': genDir, '/test-models/': path.dirname(BIG_MODEL) };
      session = await openSession({ routes });
      await session.page.evaluate(async () => {
        window.pkg = await import('/pkg-npm/index.js');
        // Greedy tokens of an engine, then unload it.
        window.greedy = async (engine, tokens, n) => {
          try {
            return (await engine.generate({ tokens, max_tokens: n, temperature: 0 })).tokens;
          } finally {
            await engine.unload();
          }
        };
        window.failure = (promise) => promise.then(() => 'resolved', (e) => ({ name: e.name, code: e.code, status: e.status, message: e.message }));
      });
    },
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    await session?.close();
    if (genDir) rmSync(genDir, { recursive: true, force: true });
  });

  const pageTest = pageTests(() => session, 'pkg-load');
  const modelRequests = (name) => session.server.requests.filter((r) => r.path.endsWith(name));

  pageTest('a URL is downloaded into the OPFS cache once, then loaded from it offline', 300_000, async (page) => {
    const sha256 = createHash('sha256').update(readFileSync(path.join(fixtures, Q8))).digest('hex');
    const first = await page.evaluate(async (url) => {
      const events = [];
      const engine = await window.pkg.createEngine({ model: url, onProgress: (p) => events.push(p) });
      const info = engine.model;
      const tokens = await window.greedy(engine, [1, 2, 3], 1);
      return { events, info, tokens, cached: await window.pkg.listCachedModels() };
    }, `/fixtures/tiny-moe/${Q8}`);
    const phases = [...new Set(first.events.map((e) => e.phase))];
    assert.deepEqual(phases, ['download', 'header', 'weights', 'done']);
    for (const phase of phases) {
      const loaded = first.events.filter((e) => e.phase === phase).map((e) => e.loadedBytes);
      assert.deepEqual(loaded, [...loaded].sort((a, b) => a - b), `${phase} progress goes backwards`);
    }
    const size = statSync(path.join(fixtures, Q8)).size;
    assert.equal(first.events.filter((e) => e.phase === 'download').at(-1).loadedBytes, size);
    assert.equal(first.info.fromCache, false);
    const entry = first.cached.find((c) => c.url.endsWith(`/fixtures/tiny-moe/${Q8}`));
    assert.ok(entry, JSON.stringify(first.cached));
    assert.deepEqual([entry.complete, entry.sizeBytes, entry.sha256], [true, size, sha256]);

    const before = modelRequests(Q8).length;
    await page.route('**/fixtures/**', (route) => route.abort('internetdisconnected'));
    try {
      const second = await page.evaluate(async ({ url, prompt, n }) => {
        const events = [];
        const engine = await window.pkg.createEngine({ model: url, onProgress: (p) => events.push(p.phase) });
        return { phases: [...new Set(events)], fromCache: engine.model.fromCache, tokens: await window.greedy(engine, prompt, n) };
      }, { url: `/fixtures/tiny-moe/${Q8}`, prompt: golden.prompt.ids, n: 4 });
      assert.deepEqual(second.phases, ['header', 'weights', 'done']);
      assert.equal(second.fromCache, true);
      assert.deepEqual(second.tokens, want('q8_0', 4));
    } finally {
      await page.unroute('**/fixtures/**');
    }
    assert.equal(modelRequests(Q8).length, before, 'the cached load made network requests');
  });

  pageTest('an interrupted download resumes where it stopped', 300_000, async (page) => {
    const url = `/slow/tiny-moe/${Q4}`;
    const size = statSync(path.join(fixtures, Q4)).size;
    const r = await page.evaluate(async (url) => {
      await window.pkg.deleteCachedModel(new URL(url, location.href).href);
      const ac = new AbortController();
      const aborted = await window.failure(
        window.pkg.createEngine({ model: url, signal: ac.signal, onProgress: (p) => p.loadedBytes > 2e6 && ac.abort() }),
      );
      const partial = (await window.pkg.listCachedModels()).find((c) => c.url.endsWith(url));
      const events = [];
      const engine = await window.pkg.createEngine({ model: url, onProgress: (p) => events.push(p) });
      const complete = (await window.pkg.listCachedModels()).find((c) => c.url.endsWith(url));
      await engine.unload();
      return { aborted, partial, firstDownload: events.find((e) => e.phase === 'download'), complete };
    }, url);
    assert.equal(r.aborted.code, 'aborted', JSON.stringify(r.aborted));
    assert.equal(r.partial.complete, false);
    assert.ok(r.partial.sizeBytes > 2e6 && r.partial.sizeBytes < size, `partial download of ${r.partial.sizeBytes} bytes`);
    assert.equal(r.firstDownload.loadedBytes, r.partial.sizeBytes, 'the second load started from the partial file');
    const resumed = modelRequests(Q4).filter((q) => q.path.startsWith('/slow/')).at(-1);
    assert.equal(resumed.range, `bytes=${r.partial.sizeBytes}-`);
    assert.equal(r.complete.complete, true);
    assert.equal(r.complete.sha256, createHash('sha256').update(readFileSync(path.join(fixtures, Q4))).digest('hex'));
  });

  pageTest('a corrupt cache is reported, deleted, and downloaded again', 300_000, async (page) => {
    const r = await page.evaluate(async ({ url, prompt }) => {
      const abs = new URL(url, location.href).href;
      await window.pkg.deleteCachedModel(abs);
      await (await window.pkg.createEngine({ model: url })).unload();
      // The cache's files, found by their metadata.
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('lfm-webgpu-models');
      const modelFile = async () => {
        for await (const [name, handle] of dir.entries()) {
          if (name.endsWith('.json') && JSON.parse(await (await handle.getFile()).text()).url === abs) {
            return dir.getFileHandle(name.replace(/\.json$/, '.gguf'));
          }
        }
        return null;
      };
      const damage = async (f) => {
        const w = await (await modelFile()).createWritable({ keepExistingData: true });
        await f(w);
        await w.close();
      };
      await damage((w) => w.write({ type: 'write', position: 0, data: new TextEncoder().encode('JUNK') }));
      const header = await window.failure(window.pkg.createEngine({ model: url }));
      const goneAfterHeader = (await modelFile()) === null;
      await (await window.pkg.createEngine({ model: url })).unload();
      await damage((w) => w.truncate(1000));
      const truncated = await window.failure(window.pkg.createEngine({ model: url }));
      const engine = await window.pkg.createEngine({ model: url });
      return { header, goneAfterHeader, truncated, fromCache: engine.model.fromCache, tokens: await window.greedy(engine, prompt, 2) };
    }, { url: `/fixtures/tiny-moe/${Q8}`, prompt: golden.prompt.ids });
    assert.equal(r.header.code, 'cache_corrupt', JSON.stringify(r.header));
    assert.match(r.header.message, /not a GGUF file.*deleted/);
    assert.ok(r.goneAfterHeader);
    assert.equal(r.truncated.code, 'cache_corrupt', JSON.stringify(r.truncated));
    assert.match(r.truncated.message, /1000 of \d+ bytes/);
    assert.equal(r.fromCache, false, 'downloaded again');
    assert.deepEqual(r.tokens, want('q8_0', 2));
  });

  pageTest('a wrong SHA-256 and a full quota are clear errors that leave nothing behind', 300_000, async (page) => {
    const cdp = await page.context().newCDPSession(page);
    const r = await page.evaluate(async (url) => {
      const abs = new URL(url, location.href).href;
      await window.pkg.deleteCachedModel(abs);
      const integrity = await window.failure(window.pkg.createEngine({ model: url, sha256: '0'.repeat(64) }));
      const left = (await window.pkg.listCachedModels()).filter((c) => c.url === abs);
      return { integrity, left };
    }, `/fixtures/tiny-moe/${Q4}`);
    assert.equal(r.integrity.code, 'integrity', JSON.stringify(r.integrity));
    assert.deepEqual(r.left, []);

    const origin = new URL(session.server.url).origin;
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 1 << 20 });
    try {
      const quota = await page.evaluate((url) => window.failure(window.pkg.createEngine({ model: url })), `/fixtures/tiny-moe/${Q4}`);
      assert.equal(quota.code, 'quota_exceeded', JSON.stringify(quota));
      assert.match(quota.message, /cache: false/);
      // Without the cache the same model loads.
      const tokens = await page.evaluate(
        async ({ url, prompt }) => window.greedy(await window.pkg.createEngine({ model: url, cache: false }), prompt, 2),
        { url: `/fixtures/tiny-moe/${Q4}`, prompt: golden.prompt.ids },
      );
      assert.deepEqual(tokens, want('q4_0', 2));
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    }
  });

  pageTest('a File picked in the page loads by slices', 300_000, async (page) => {
    await page.evaluate(() => document.body.insertAdjacentHTML('beforeend', '<input type="file" id="model-file">'));
    await page.setInputFiles('#model-file', path.join(fixtures, Q4));
    const r = await page.evaluate(async (prompt) => {
      const file = document.getElementById('model-file').files[0];
      const events = [];
      const engine = await window.pkg.createEngine({ model: file, onProgress: (p) => events.push(p.phase) });
      return { name: engine.model.name, phases: [...new Set(events)], tokens: await window.greedy(engine, prompt, 3) };
    }, golden.prompt.ids);
    assert.equal(r.name, 'tiny-moe-q4_0');
    assert.deepEqual(r.phases, ['header', 'weights', 'done']);
    assert.deepEqual(r.tokens, want('q4_0', 3));
  });

  pageTest('a model larger than the wasm heap allowed loads without holding the file', 900_000, async (page) => {
    const size = statSync(BIG_MODEL).size;
    assert.ok(size > 2 * HEAP_LIMIT, `the synthetic model has only ${size} bytes`);
    await page.evaluate(() => document.body.insertAdjacentHTML('beforeend', '<input type="file" id="big-file">'));
    await page.setInputFiles('#big-file', BIG_MODEL);
    const r = await page.evaluate(async () => {
      const t0 = performance.now();
      const engine = await window.pkg.createEngine({ model: document.getElementById('big-file').files[0] });
      const loadMs = performance.now() - t0;
      const out = await engine.generate({ tokens: [1, 2, 3], max_tokens: 2 });
      const stats = engine.stats();
      await engine.unload();
      return { loadMs, out, heap: stats.wasmMemoryBytes, weightBytes: stats.model.weightBytes };
    });
    console.log(`big model: ${(size / 2 ** 20).toFixed(0)} MiB file, ${(r.weightBytes / 2 ** 20).toFixed(0)} MiB on the GPU, wasm heap ${(r.heap / 2 ** 20).toFixed(1)} MiB, loaded in ${Math.round(r.loadMs)} ms`);
    assert.ok(r.heap < HEAP_LIMIT, `wasm heap ${r.heap} bytes after loading a ${size}-byte file`);
    assert.ok(r.weightBytes > 2 * HEAP_LIMIT);
    assert.equal(r.out.tokens.length, 2);
  });

  pageTest('a 1 MiB storage-binding limit, weights in buffers: split, and the tokens unchanged', 300_000, async (page) => {
    const r = await page.evaluate(async ({ url, prompt }) => {
      const engine = await window.pkg.createEngine({ model: url, cache: false, maxBindingBytes: 1 << 20, kvCache: 'f32', weightTextures: false });
      const m = engine.model;
      return { limit: m.maxBindingBytes, kv: m.kvCache, tex: m.weightTextures, tokens: await window.greedy(engine, prompt, 4) };
    }, { url: `/fixtures/tiny-moe/${Q8}`, prompt: golden.prompt.ids });
    assert.equal(r.limit, 1 << 20);
    assert.equal(r.kv, 'f32', 'kvCache reaches the worker');
    assert.equal(r.tex, false, 'weightTextures reaches the worker (SwiftShader defaults to textures)');
    assert.deepEqual(r.tokens, want('q8_0', 4));
  });

  pageTest('bad URLs, bad files and aborted loads are typed errors', 300_000, async (page) => {
    const r = await page.evaluate(async () => {
      const tryLoad = (model, options = {}) => window.failure(window.pkg.createEngine({ model, ...options }));
      const ac = new AbortController();
      return {
        missing: await tryLoad('/fixtures/tiny-moe/missing.gguf'),
        server: await tryLoad('/status/500', { cache: false }),
        noise: await tryLoad('/gen/noise.gguf'),
        truncated: await tryLoad('/gen/truncated.gguf', { cache: false }),
        arch: await tryLoad('/gen/other-arch.gguf'),
        notModel: await tryLoad(42),
        // Served slowly, so the abort arrives while the weights are being read.
        abortedLoad: await tryLoad('/slow/tiny-moe/tiny-moe-q8_0.gguf', { cache: false, signal: ac.signal, onProgress: (p) => p.phase === 'header' && ac.abort() }),
        cached: (await window.pkg.listCachedModels()).map((c) => c.url),
      };
    });
    assert.deepEqual([r.missing.name, r.missing.code, r.missing.status], ['LfmError', 'http', 404], JSON.stringify(r.missing));
    assert.deepEqual([r.server.code, r.server.status], ['http', 500]);
    assert.equal(r.noise.code, 'bad_model', JSON.stringify(r.noise));
    assert.match(r.noise.message, /not a GGUF file/);
    assert.equal(r.truncated.code, 'bad_model', JSON.stringify(r.truncated));
    assert.match(r.truncated.message, /truncated/i);
    assert.equal(r.arch.code, 'unsupported', JSON.stringify(r.arch));
    assert.match(r.arch.message, /gpt2moe/);
    assert.equal(r.notModel.code, 'invalid_request');
    assert.equal(r.abortedLoad.code, 'aborted', JSON.stringify(r.abortedLoad));
    assert.ok(!r.cached.some((u) => u.includes('/gen/')), 'bad downloads stay out of the cache');
  });

  pageTest('a lost GPU device fails the answer with device_lost; a new engine works', 300_000, async (page) => {
    const r = await page.evaluate(async ({ url, prompt }) => {
      const engine = await window.pkg.createEngine({ model: url });
      const events = [];
      engine.addEventListener('error', (e) => events.push(e.error.code));
      const stream = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 200, stream: true });
      let chunks = 0;
      let streamError = null;
      try {
        for await (const _ of stream) {
          if (++chunks === 2) await engine._destroyDevice();
        }
      } catch (e) {
        streamError = { code: e.code, message: e.message };
      }
      const later = await window.failure(engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] }));
      const stats = engine.stats();
      await engine.unload().catch(() => {});
      const fresh = await window.pkg.createEngine({ model: url });
      return { chunks, streamError, later: later.code, events, lost: stats.lost, tokens: await window.greedy(fresh, prompt, 2) };
    }, { url: `/fixtures/tiny-moe/${Q8}`, prompt: golden.prompt.ids });
    assert.equal(r.streamError?.code, 'device_lost', JSON.stringify(r));
    assert.match(r.streamError.message, /lost/);
    assert.equal(r.later, 'device_lost');
    assert.deepEqual(r.events, ['device_lost']);
    assert.equal(r.lost, true);
    assert.deepEqual(r.tokens, want('q8_0', 2));
  });
});
