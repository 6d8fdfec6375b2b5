// The wasm32 build in headless Chromium: WebGPU is there, the GPU kernels match the
// reference inside the browser, and errors reach JS as exceptions with a message.
//
//   node --test tests/browser/        (tests/all.sh runs this after cargo test)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { chromiumArgs, ensureBuilt, openSession, pageTests } from './harness.mjs';

describe('lfm-webgpu in headless Chromium', () => {
  let session;

  before(
    async () => {
      ensureBuilt();
      session = await openSession();
    },
    { timeout: 20 * 60_000 }, // includes a wasm build from scratch
  );

  after(async () => {
    await session?.close();
  });

  const pageTest = pageTests(() => session, 'webgpu');

  pageTest('WebGPU exposes an adapter', 60_000, async (page) => {
    const browserSide = await page.evaluate(async () => {
      if (!navigator.gpu) return { error: 'navigator.gpu is undefined' };
      const a = await navigator.gpu.requestAdapter();
      if (!a) return { error: 'requestAdapter() returned null' };
      const { vendor, architecture, device, description } = a.info;
      return { vendor, architecture, device, description, features: [...a.features].sort() };
    });
    assert.equal(browserSide.error, undefined, `${browserSide.error} (Chromium flags: ${chromiumArgs.join(' ')})`);
    const info = await page.evaluate(() => window.lfm.gpu_info());
    console.log(`navigator.gpu adapter: ${JSON.stringify(browserSide)}`);
    console.log(`gpu_info(): ${JSON.stringify(info)}`);
    assert.equal(info.backend, 'webgpu');
    // What every kernel relies on (matvec binds 3 storage buffers, uses 64 threads).
    assert.ok(info.limits.maxStorageBuffersPerShaderStage >= 8, 'storage buffers per stage');
    assert.ok(info.limits.maxComputeInvocationsPerWorkgroup >= 256, 'invocations per workgroup');
    assert.ok(info.limits.maxStorageBufferBindingSize >= 128 << 20, 'storage binding size');
  });

  pageTest('self_test(): GPU kernels match the reference', 10 * 60_000, async (page) => {
    const report = await page.evaluate(() => window.lfm.self_test());
    console.log(`self_test on ${report.adapter}: ${report.checks.length} checks in ${Math.round(report.ms)} ms`);
    for (const c of report.checks) {
      const result = c.error ? `ERROR ${c.error}` : `maxErr ${c.maxErr?.toExponential(2)} (tol ${c.tol})`;
      console.log(`  ${c.passed ? 'ok  ' : 'FAIL'} ${c.name.padEnd(18)} ${result}  [${c.shape}] ${Math.round(c.ms)} ms`);
    }
    const failed = report.checks.filter((c) => !c.passed);
    const why = failed.map((c) =>
      c.error
        ? `${c.name}: ${c.error}`
        : `${c.name}: max error ${c.maxErr} > ${c.tol} at index ${c.index} (gpu ${c.gpu}, reference ${c.reference})`,
    );
    assert.equal(failed.length, 0, `failed checks:\n  ${why.join('\n  ')}`);
    assert.equal(report.passed, true);
    assert.ok(report.checks.some((c) => c.name === 'rms_norm') && report.checks.some((c) => c.name.startsWith('matvec_')));
  });

  pageTest('a bad call rejects with an Error that says why, and the page lives on', 60_000, async (page) => {
    const caught = await page.evaluate(async () => {
      try {
        await window.lfm.self_test('no-such-check');
        return { threw: false };
      } catch (e) {
        return { threw: true, isError: e instanceof Error, message: String(e.message) };
      }
    });
    assert.equal(caught.threw, true, 'self_test("no-such-check") resolved instead of rejecting');
    assert.equal(caught.isError, true, 'the rejection is not an Error');
    assert.match(caught.message, /no check matches "no-such-check"/);
    assert.match(caught.message, /rms_norm/, 'the message lists the checks there are');
    // The module still works afterwards, and nothing escaped as an uncaught page error.
    const again = await page.evaluate(() => window.lfm.self_test('add'));
    assert.equal(again.passed, true);
    assert.deepEqual(session.pageErrors.map(String), []);
  });

  pageTest('the server exposes ../shared/fixtures read-only, with byte ranges', 30_000, async (page) => {
    const r = await page.evaluate(async () => {
      const whole = await fetch('/fixtures/README.md');
      const part = await fetch('/fixtures/README.md', { headers: { range: 'bytes=0-9' } });
      const put = await fetch('/fixtures/README.md', { method: 'PUT', body: 'x' });
      const escape = await fetch('/fixtures/..%2f..%2fmain%2fCargo.toml');
      return { whole: whole.status, part: part.status, partLen: (await part.arrayBuffer()).byteLength, put: put.status, escape: escape.status };
    });
    assert.deepEqual(r, { whole: 200, part: 206, partLen: 10, put: 405, escape: 404 });
  });
});
