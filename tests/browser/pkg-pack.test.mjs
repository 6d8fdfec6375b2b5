// The published package as users get it: `npm pack` in pkg/, the tarball installed into a
// separate app by `npm install`, and a page of that app importing 'lfm-webgpu' by name (an
// import map, as a bundler would resolve it) loads tiny-moe and gives the golden tokens, and
// runs the README's ten-line example as written (model path and token limits swapped for the
// fixture's: the tiny model seldom stops on its own).
//
//   node --test tests/browser/pkg-pack.test.mjs

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';

import { ensureBuilt, openSession, pageTests } from './harness.mjs';
import { repoRoot } from './server.mjs';

const fixtures = path.resolve(repoRoot, '../shared/fixtures');
const golden = JSON.parse(readFileSync(path.join(fixtures, 'tiny-moe/golden.json'), 'utf8'));

const APP_PAGE = `<!doctype html>
<meta charset="utf-8">
<title>an app using lfm-webgpu</title>
<script type="importmap">{ "imports": { "lfm-webgpu": "/node_modules/lfm-webgpu/index.js" } }</script>
<script type="module">
  try {
    const { createEngine, LfmError } = await import('lfm-webgpu');
    Object.assign(window, { createEngine, LfmError, lfmReady: true });
  } catch (e) {
    window.lfmError = String(e && e.stack || e);
  }
</script>
`;

/** The README's usage example, pointed at the tiny fixture model. */
function readmeExample() {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## In the browser'));
  const code = /```js\n([\s\S]*?)```/.exec(section)[1];
  assert.ok(code.split('\n').filter(Boolean).length <= 10, 'the README example grew past ten lines');
  const swapped = code
    .replace(/model: '[^']+\.gguf'/, "model: '/fixtures/tiny-moe/tiny-moe-q8_0.gguf'")
    .replaceAll('max_tokens: 256', 'max_tokens: 6')
    .replace('runTools({ messages, tools })', 'runTools({ messages, tools, max_tokens: 6 })');
  assert.notEqual(swapped, code);
  return `${swapped}\nwindow.exampleDone = { text: document.body.textContent, content: message.content };\n`;
}

describe('npm pack: the package installed by name in another app', () => {
  let session;
  let tmp;
  let packed;

  before(
    async () => {
      ensureBuilt();
      tmp = mkdtempSync(path.join(os.tmpdir(), 'lfm-pack-'));
      const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 2] });
      // prepack runs pkg/build.sh: the wasm module into pkg/dist.
      [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], path.join(repoRoot, 'pkg')));
      const app = path.join(tmp, 'app');
      mkdirSync(app);
      writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
      npm(['install', '--offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)], app);
      writeFileSync(path.join(app, 'index.html'), APP_PAGE);
      writeFileSync(path.join(app, 'example.js'), readmeExample());
      session = await openSession({ routes: { '/fixtures/': fixtures, '/': app } });
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    await session?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const pageTest = pageTests(() => session, 'pkg-pack');

  pageTest('the tarball holds the module, the worker and the docs, nothing else', 10_000, async () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const f of ['index.js', 'index.d.ts', 'worker.js', 'core.js', 'README.md', 'package.json', 'dist/lfm_webgpu.js', 'dist/lfm_webgpu_bg.wasm']) {
      assert.ok(files.includes(f), `${f} is not in the package: ${files.join(', ')}`);
    }
    assert.ok(!files.some((f) => f.endsWith('.sh') || f.startsWith('src/')), files.join(', '));
    const crate = /^version = "(.+)"/m.exec(readFileSync(path.join(repoRoot, 'Cargo.toml'), 'utf8'))[1];
    assert.equal(packed.version, crate);
  });

  pageTest("import 'lfm-webgpu': load, golden tokens, a streamed answer", 300_000, async (page) => {
    const r = await page.evaluate(async (prompt) => {
      const engine = await createEngine({ model: '/fixtures/tiny-moe/tiny-moe-q8_0.gguf' });
      const { tokens } = await engine.generate({ tokens: prompt, max_tokens: 4, temperature: 0 });
      let text = '';
      for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi!' }], max_tokens: 6, stream: true })) {
        text += c.choices[0].delta.content ?? '';
      }
      const error = await createEngine({ model: '/nowhere.gguf' }).catch((e) => e instanceof LfmError && e.code);
      await engine.unload();
      return { tokens, text, error };
    }, golden.prompt.ids);
    assert.deepEqual(r.tokens, golden.files.q8_0.dequant_reference.generated_ids.slice(0, 4));
    assert.ok(r.text.length > 0);
    assert.equal(r.error, 'http');
  });

  pageTest("the README's example runs as written", 300_000, async (page) => {
    const logs = [];
    page.on('console', (m) => logs.push(m.text()));
    await page.evaluate(() => import('/example.js'));
    const done = await page.evaluate(() => window.exampleDone);
    assert.ok(done.text.length > 0, 'the streamed answer was not appended to the page');
    assert.equal(typeof done.content, 'string');
    assert.ok(logs.some((l) => l.startsWith('done ')), `no progress logged: ${logs.join(' | ')}`);
  });
});
