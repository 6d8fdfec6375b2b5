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
// GET and HEAD only; byte ranges are honoured (`Range: bytes=a-b`) so a page can stream a
// large GGUF in chunks. Run it alone to poke at the page by hand:
//   node tests/browser/server.mjs [port]

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');

export const defaultRoutes = {
  '/pkg/': process.env.LFM_WEB_PKG ? path.resolve(process.env.LFM_WEB_PKG) : path.join(repoRoot, 'target/web-pkg'),
  '/pkg-npm/dist/': process.env.LFM_WEB_PKG ? path.resolve(process.env.LFM_WEB_PKG) : path.join(repoRoot, 'target/web-pkg'),
  '/pkg-npm/': path.join(repoRoot, 'pkg'),
  '/fixtures/': path.resolve(repoRoot, '../shared/fixtures'),
  '/': path.join(here, 'page'),
};

const mimeTypes = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm', // needed by WebAssembly.instantiateStreaming
  '.md': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The file a URL path names under `routes` (longest prefix first), or null. */
function resolve(routes, urlPath) {
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) {
    if (!urlPath.startsWith(prefix)) continue;
    const root = routes[prefix];
    let rel = decodeURIComponent(urlPath.slice(prefix.length));
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(root, rel);
    // No escaping the route's folder with `..`.
    return file === root || file.startsWith(root + path.sep) ? file : null;
  }
  return null;
}

/** `Range: bytes=a-b` of a file of `size` bytes as [start, end] inclusive; null for the whole. */
function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header || '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') return [Math.max(0, size - Number(m[2])), size - 1]; // suffix: last N bytes
  return [Number(m[1]), m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
}

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
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  let urlPath = new URL(req.url, 'http://x').pathname;
  const forced = /^\/status\/(\d{3})$/.exec(urlPath);
  if (forced) {
    res.writeHead(Number(forced[1]), { 'content-type': 'text/plain' }).end(`status ${forced[1]}\n`);
    return;
  }
  const slow = urlPath.startsWith('/slow/');
  if (slow) urlPath = urlPath.replace('/slow/', '/fixtures/');
  const file = resolve(routes, urlPath);
  const info = file && (await stat(file).catch(() => null));
  if (!info || !info.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${req.url}\n`);
    return;
  }
  const headers = {
    'content-type': mimeTypes[path.extname(file)] || 'application/octet-stream',
    'accept-ranges': 'bytes',
    'cache-control': 'no-store',
  };
  let range = parseRange(req.headers.range, info.size);
  let status = 200;
  if (range) {
    if (range[0] > range[1] || range[0] >= info.size) {
      res.writeHead(416, { 'content-range': `bytes */${info.size}` }).end();
      return;
    }
    status = 206;
    headers['content-range'] = `bytes ${range[0]}-${range[1]}/${info.size}`;
  } else {
    range = [0, info.size - 1];
  }
  headers['content-length'] = range[1] - range[0] + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || info.size === 0) {
    res.end();
    return;
  }
  const body = createReadStream(file, { start: range[0], end: range[1] }).on('error', () => res.destroy());
  if (slow) await sendSlowly(body, res);
  else body.pipe(res);
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
