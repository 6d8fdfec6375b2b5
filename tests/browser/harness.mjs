// Shared set-up of the browser tests: the wasm build, the static server, headless Chromium
// with WebGPU, and the test page with the module loaded as `window.lfm`.
//
// Environment:
//   LFM_CHROMIUM       Chromium binary (default /usr/bin/chromium, Debian's package)
//   LFM_CHROMIUM_ARGS  replaces the WebGPU flags below (space-separated), e.g. to try a real GPU
//   LFM_WEB_PKG        use this wasm-bindgen output instead of building target/web-pkg

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chromium } from 'playwright-core';

import { newestMtime, startServer as startWwwServer } from '../../www/serve.mjs';
import { fixturesDir, repoRoot, startServer, webPkgDir } from './server.mjs';

export const chromiumPath = process.env.LFM_CHROMIUM || '/usr/bin/chromium';

// Playwright already runs Chromium headless, without the sandbox, and with background
// networking, sync, component updates and first-run UI off. What WebGPU needs on top:
// `--enable-unsafe-webgpu` (Linux has no WebGPU by default), and the SwiftShader adapter
// pinned so results do not depend on the machine's GPU.
export const chromiumArgs = process.env.LFM_CHROMIUM_ARGS
  ? process.env.LFM_CHROMIUM_ARGS.split(/\s+/).filter(Boolean)
  : ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

/** Where screenshots and console logs of failed tests go (ignored by git). */
export const artifactsDir = path.join(repoRoot, 'test-output/browser');

const pkgDir = path.join(repoRoot, 'target/web-pkg');

/**
 * Makes sure target/web-pkg holds a build of the current sources: runs
 * tests/browser/build-wasm.sh when it is missing or older than src/, shaders/ or Cargo.*.
 */
export function ensureBuilt() {
  if (process.env.LFM_WEB_PKG) return;
  const stamp = path.join(pkgDir, '.build-stamp');
  let built = 0;
  try {
    built = statSync(stamp).mtimeMs;
  } catch {}
  const sources = ['src', 'shaders', 'Cargo.toml', 'Cargo.lock'].map((p) => newestMtime(path.join(repoRoot, p)));
  if (built > Math.max(...sources)) return;
  // Cargo's output goes to stderr, out of the way of the test runner's own stdout.
  const r = spawnSync(path.join(repoRoot, 'tests/browser/build-wasm.sh'), [], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`tests/browser/build-wasm.sh failed (exit ${r.status ?? r.signal})`);
}

/**
 * The chat page's own server (www/serve.mjs, with its CSP) on a free port, serving also the
 * fixtures and this build's wasm module as the package's dist/.
 */
export function startPageServer() {
  return startWwwServer({ port: 0, routes: { '/fixtures/': fixturesDir, '/lfm-webgpu/dist/': webPkgDir } });
}

/**
 * Starts the server and Chromium and opens the test page with the module loaded.
 * `close()` ends both (safe to call twice, and after a failed start).
 * Options: `routes` (the server's, see server.mjs), `page` (the path opened; the page must set
 * `window.lfmReady` or `window.lfmError`).
 */
export async function openSession({ routes, page: pagePath = '' } = {}) {
  const session = { server: null, browser: null, page: null, logs: [], pageErrors: [] };
  session.close = async () => {
    const { browser, server } = session;
    session.browser = session.server = null;
    await browser?.close().catch(() => {});
    await server?.close();
  };
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: run .ci/run (apt-get install chromium) or set LFM_CHROMIUM`);
  }
  try {
    session.server = await startServer(routes ? { routes } : {});
    session.browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs, timeout: 60_000 });
    const page = (session.page = await session.browser.newPage());
    page.on('console', (m) => session.logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => {
      session.pageErrors.push(e);
      session.logs.push(`[pageerror] ${e.stack || e}`);
    });
    page.on('crash', () => session.logs.push('[crash] the page crashed'));
    page.on('worker', (w) => {
      session.logs.push(`[worker] started ${w.url()}`);
      w.on('close', () => session.logs.push(`[worker] closed ${w.url()}`));
    });
    await page.goto(session.server.url + pagePath, { timeout: 30_000 });
    await page.waitForFunction(() => window.lfmReady || window.lfmError, null, { timeout: 60_000 });
    const loadError = await page.evaluate(() => window.lfmError);
    if (loadError) throw new Error(`the page could not load the module:\n${loadError}`);
  } catch (e) {
    await session.close();
    throw e;
  }
  return session;
}

/**
 * Saves a screenshot and the console log of `session`'s page as `<name>.png` / `<name>.log`
 * under `artifactsDir`. Never throws (it runs while reporting another failure).
 */
export async function saveArtifacts(session, name) {
  try {
    mkdirSync(artifactsDir, { recursive: true });
    const base = path.join(artifactsDir, name.replace(/[^\w.-]+/g, '_'));
    writeFileSync(`${base}.log`, session.logs.join('\n') + '\n');
    await session.page?.screenshot({ path: `${base}.png`, timeout: 10_000 });
    return base;
  } catch {
    return null;
  }
}

/**
 * Returns `pageTest(name, timeout, body)`: a `node:test` test that runs `body(page, t)` on the
 * session `getSession()` returns, saves a screenshot and the console log (named `prefix name`)
 * when it fails, and prints how long it took.
 */
export function pageTests(getSession, prefix) {
  return (name, timeout, body) =>
    test(name, { timeout }, async (t) => {
      const session = getSession();
      assert.ok(session, 'the browser session did not start (see the before hook)');
      const t0 = Date.now();
      try {
        await body(session.page, t);
      } catch (e) {
        const saved = await saveArtifacts(session, `${prefix} ${name}`);
        if (saved) e.message += `\n(screenshot and console log: ${saved}.png / .log)`;
        throw e;
      } finally {
        console.log(`${name}: ${Date.now() - t0} ms`);
      }
    });
}
