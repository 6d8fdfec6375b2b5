// A tiny read-only static server for the browser tests, on 127.0.0.1 (WebGPU needs a real
// origin: it is not exposed on about:blank or file://).
//
//   /               tests/browser/page/ (the test page)
//   /pkg/...        the wasm-bindgen output (target/web-pkg, see build-wasm.sh)
//   /fixtures/...   ../shared/fixtures (model files for the model tests)
//   /pkg-npm/...    the npm package's sources (pkg/), its dist/ being the same wasm-bindgen
//                   output as /pkg/ (pkg/build.sh writes that into pkg/dist for publishing)
//   /slow/...       like /fixtures/, sent at about 4 MB/s (to interrupt a download midway)
//   /status/NNN     answers HTTP NNN (error paths)
//
// Files are served by the chat page's own server code (www/serve.mjs `serveFile`: GET and
// HEAD, byte ranges so a page can stream a large GGUF in chunks), without its CSP (the test
// page runs an inline script). Run it alone to poke at the page by hand:
//   node tests/browser/server.mjs [port]

import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { serveFile } from '../../www/serve.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');

/** The wasm-bindgen output the tests run (tests/browser/build-wasm.sh, or LFM_WEB_PKG). */
export const webPkgDir = process.env.LFM_WEB_PKG ? path.resolve(process.env.LFM_WEB_PKG) : path.join(repoRoot, 'target/web-pkg');
export const fixturesDir = path.resolve(repoRoot, '../shared/fixtures');

export const defaultRoutes = {
  '/pkg/': webPkgDir,
  '/pkg-npm/dist/': webPkgDir,
  '/pkg-npm/': path.join(repoRoot, 'pkg'),
  '/fixtures/': fixturesDir,
  '/': path.join(here, 'page'),
};

/** Bytes per tick and the tick (ms) of /slow/: about 4 MB/s. */
const SLOW_CHUNK = 64 << 10;
const SLOW_TICK_MS = 16;

/** `stream` piped into `res` at most SLOW_CHUNK bytes per SLOW_TICK_MS. */
async function sendSlowly(stream, res) {
  for await (const data of stream) {
    for (let i = 0; i < data.length; i += SLOW_CHUNK) {
      if (res.destroyed) return stream.destroy();
      res.write(data.subarray(i, i + SLOW_CHUNK));
      await new Promise((ok) => setTimeout(ok, SLOW_TICK_MS));
    }
  }
  res.end();
}

async function handle(routes, req, res) {
  let urlPath = new URL(req.url, 'http://x').pathname;
  const forced = /^\/status\/(\d{3})$/.exec(urlPath);
  if (forced) {
    res.writeHead(Number(forced[1]), { 'content-type': 'text/plain' }).end(`status ${forced[1]}\n`);
    return;
  }
  const slow = urlPath.startsWith('/slow/');
  if (slow) urlPath = urlPath.replace('/slow/', '/fixtures/');
  // Never cached: a test that damages or replaces a file must see the new bytes.
  await serveFile(routes, req, res, { urlPath, headers: { 'cache-control': 'no-store' }, send: slow ? sendSlowly : undefined });
}

/**
 * Starts the server on 127.0.0.1 and a free port (or `port`). `requests` logs every request
 * as `{ method, path, range }` (tests check what the page fetched).
 * @returns {Promise<{ url: string, close: () => Promise<void>, requests: object[] }>} `url` ends with '/'.
 */
export async function startServer({ routes = defaultRoutes, port = 0 } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, path: new URL(req.url, 'http://x').pathname, range: req.headers.range ?? null });
    handle(routes, req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`server error: ${e.message}\n`);
    });
  });
  await new Promise((ok, fail) => server.once('error', fail).listen(port, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${server.address().port}/`;
  const close = () =>
    new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    });
  return { url, close, requests };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await startServer({ port: Number(process.argv[2] || 0) });
  console.log(`serving ${url} (page), ${url}pkg/, ${url}fixtures/; Ctrl-C to stop`);
}
