#!/usr/bin/env node
// Serves the private chat page: builds the npm package's wasm module when it is missing or
// older than the Rust sources, then serves, on http://127.0.0.1:8080,
//
//   /               www/ (the page)
//   /lfm-webgpu/    pkg/ (the npm package; the page imports it as `lfm-webgpu` through an import map)
//
//   node www/serve.mjs [--port 8080] [--host 127.0.0.1] [--no-build]
//
// A static server only: GET and HEAD, byte ranges honoured, nothing runs on the server (the
// model runs in the browser). Every answer carries the page's Content-Security-Policy (read
// from the <meta> of www/index.html, so the two cannot drift apart) and `nosniff`.
// `startServer({ port, routes })` is exported for the browser tests (extra routes on top).

import { spawnSync } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..');
const pkgDir = path.join(repoRoot, 'pkg');

export const defaultRoutes = {
  '/lfm-webgpu/': pkgDir,
  '/': here,
};

const mimeTypes = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm', // WebAssembly.instantiateStreaming insists on it
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.md': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.gguf': 'application/octet-stream',
};

/** The Content-Security-Policy of www/index.html's <meta http-equiv>. */
export function pageCsp() {
  const html = readFileSync(path.join(here, 'index.html'), 'utf8');
  const m = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i.exec(html);
  if (!m) throw new Error('www/index.html has no Content-Security-Policy <meta>');
  return m[1];
}

/** The file a URL path names under `routes` (longest prefix first), or null. */
function resolveFile(routes, urlPath) {
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) {
    if (!urlPath.startsWith(prefix)) continue;
    const root = path.resolve(routes[prefix]);
    let rel;
    try {
      rel = decodeURIComponent(urlPath.slice(prefix.length));
    } catch {
      return null; // malformed %-escape
    }
    if (rel.includes('\0')) return null;
    // Hidden files (.build-stamp, .git) are nobody's business.
    if (rel.split(/[\\/]/).some((part) => part.startsWith('.'))) return null;
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = path.resolve(root, rel);
    // No escaping the route's folder with `..`.
    return file.startsWith(root + path.sep) ? file : null;
  }
  return null;
}

/** `Range: bytes=a-b` of a file of `size` bytes as [start, end] inclusive; null for the whole. */
function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header || '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') return [Math.max(0, size - Number(m[2])), size - 1]; // suffix: the last N bytes
  return [Number(m[1]), m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
}

/** Sends a file body: piped as it is read (the test server substitutes a throttled sender). */
const pipeBody = (stream, res) => stream.pipe(res);

/**
 * Answers `req` with the file its path (or `urlPath`) names under `routes`: GET and HEAD,
 * byte ranges (206 / 416), 404 for anything else. `headers` go on every answer (and override
 * the defaults); `send(stream, res)` writes a body.
 */
export async function serveFile(routes, req, res, { urlPath, headers: extra = {}, send = pipeBody } = {}) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', ...extra }).end();
    return;
  }
  urlPath ??= new URL(req.url, 'http://x').pathname;
  const file = resolveFile(routes, urlPath);
  const info = file && (await stat(file).catch(() => null));
  if (!info || !info.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...extra }).end(`not found: ${urlPath}\n`);
    return;
  }
  const headers = {
    'content-type': mimeTypes[path.extname(file).toLowerCase()] || 'application/octet-stream',
    'accept-ranges': 'bytes',
    // A local development server: always revalidate, so edits show on reload.
    'cache-control': 'no-cache',
    'last-modified': info.mtime.toUTCString(),
    ...extra,
  };
  let range = parseRange(req.headers.range, info.size);
  let status = 200;
  if (range) {
    if (range[0] > range[1] || range[0] >= info.size) {
      res.writeHead(416, { 'content-range': `bytes */${info.size}`, ...extra }).end();
      return;
    }
    status = 206;
    headers['content-range'] = `bytes ${range[0]}-${range[1]}/${info.size}`;
  } else {
    range = [0, info.size - 1];
  }
  headers['content-length'] = info.size === 0 ? 0 : range[1] - range[0] + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || info.size === 0) {
    res.end();
    return;
  }
  await send(createReadStream(file, { start: range[0], end: range[1] }).on('error', () => res.destroy()), res);
}

/**
 * Starts the static server on `host` (default 127.0.0.1) and `port` (0: a free one).
 * `routes` ({ '/prefix/': folder }) are added to (and override) `defaultRoutes`.
 * @returns {Promise<{ url: string, close: () => Promise<void>, requests: object[] }>} `url` ends with '/'.
 */
export async function startServer({ port = 8080, host = '127.0.0.1', routes = {} } = {}) {
  const allRoutes = { ...defaultRoutes, ...routes };
  const csp = pageCsp();
  const securityHeaders = {
    // frame-ancestors only works as a header (a <meta> CSP ignores it).
    'content-security-policy': `${csp}; frame-ancestors 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, path: new URL(req.url, 'http://x').pathname, range: req.headers.range ?? null });
    serveFile(allRoutes, req, res, { headers: securityHeaders }).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`server error: ${e.message}\n`);
    });
  });
  await new Promise((ok, fail) => server.once('error', fail).listen(port, host, ok));
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${server.address().port}/`;
  const close = () =>
    new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    });
  return { url, close, requests };
}

// ---------------------------------------------------------------------------------------
// Building the package's wasm module (pkg/build.sh) when it is missing or stale.

/** Newest modification time (ms) of the files under `p` (0 when absent). */
export function newestMtime(p) {
  const s = statSync(p, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(p).map((f) => newestMtime(path.join(p, f))));
}

/** Why pkg/dist needs a build, or null when it is up to date. */
export function packageBuildReason() {
  const dist = path.join(pkgDir, 'dist');
  const wasm = statSync(path.join(dist, 'lfm_webgpu_bg.wasm'), { throwIfNoEntry: false });
  if (!wasm || !statSync(path.join(dist, 'lfm_webgpu.js'), { throwIfNoEntry: false })) return 'pkg/dist has no wasm module yet';
  // build-wasm.sh touches .build-stamp when cargo found nothing to rebuild.
  const built = Math.max(wasm.mtimeMs, newestMtime(path.join(dist, '.build-stamp')));
  const sources = Math.max(...['src', 'shaders', 'Cargo.toml', 'Cargo.lock'].map((p) => newestMtime(path.join(repoRoot, p))));
  return sources > built ? 'the Rust sources changed since pkg/dist was built' : null;
}

/** Runs a command with its output on our stderr; returns its exit status (null: not found). */
function run(command, args, log) {
  log(`$ ${command} ${args.join(' ')}`);
  const r = spawnSync(command, args, { cwd: repoRoot, stdio: ['ignore', 2, 2] });
  return r.error ? null : r.status;
}

function captured(command, args) {
  const r = spawnSync(command, args, { cwd: repoRoot, encoding: 'utf8' });
  return r.error || r.status !== 0 ? null : r.stdout;
}

/** The wasm-bindgen version Cargo.lock pins (wasm-bindgen-cli must match it). */
function lockedWasmBindgen() {
  const lock = readFileSync(path.join(repoRoot, 'Cargo.lock'), 'utf8');
  const m = /\[\[package\]\]\s*name = "wasm-bindgen"\s*version = "([^"]+)"/.exec(lock);
  if (!m) throw new Error('Cargo.lock does not pin wasm-bindgen');
  return m[1];
}

/**
 * Builds pkg/dist with pkg/build.sh when needed, installing the wasm32 target and
 * wasm-bindgen-cli first when they are missing. Throws with the command to run when Rust
 * itself is absent.
 */
export function ensurePackageBuilt(log = (line) => console.error(line)) {
  const reason = packageBuildReason();
  if (!reason) return;
  log(`building the package (${reason}):`);
  if (captured('cargo', ['--version']) === null || captured('rustup', ['--version']) === null) {
    throw new Error(
      'building the wasm module needs Rust (cargo and rustup), which is not installed. Install it with\n' +
        "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh\n" +
        'then run this command again.',
    );
  }
  const targets = captured('rustup', ['target', 'list', '--installed']) ?? '';
  if (!targets.split('\n').includes('wasm32-unknown-unknown')) {
    log('the wasm32-unknown-unknown target is missing: installing it');
    if (run('rustup', ['target', 'add', 'wasm32-unknown-unknown'], log) !== 0) {
      throw new Error('`rustup target add wasm32-unknown-unknown` failed; run it by hand and try again');
    }
  }
  const want = lockedWasmBindgen();
  const have = (captured('wasm-bindgen', ['--version']) ?? '').trim().split(/\s+/)[1] ?? null;
  if (have !== want) {
    log(`wasm-bindgen-cli ${want} is needed (Cargo.lock), found ${have ?? 'none'}: installing it (takes a few minutes)`);
    if (run('cargo', ['install', 'wasm-bindgen-cli', '--version', want], log) !== 0) {
      throw new Error(`\`cargo install wasm-bindgen-cli --version ${want}\` failed; run it by hand and try again`);
    }
  }
  if (run(path.join(pkgDir, 'build.sh'), [], log) !== 0) throw new Error('pkg/build.sh failed (see above)');
}

function parseArgs(argv) {
  const options = { port: 8080, host: '127.0.0.1', build: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--port') options.port = Number(value());
    else if (flag === '--host') options.host = value();
    else if (flag === '--no-build') options.build = false;
    else if (flag === '--help' || flag === '-h') options.help = true;
    else throw new Error(`unknown option ${argv[i]} (try --help)`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error('--port takes a number from 0 to 65535');
  return options;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const options = parseArgs(process.argv.slice(2));
    if (options.help) {
      console.log('node www/serve.mjs [--port 8080] [--host 127.0.0.1] [--no-build]: builds the package if needed and serves the chat page');
      process.exit(0);
    }
    if (options.build) ensurePackageBuilt();
    const { url } = await startServer(options);
    console.log(`LFM chat: open ${url} (WebGPU browser needed); Ctrl-C stops the server`);
  } catch (e) {
    console.error(`www/serve.mjs: ${e.message}`);
    process.exit(1);
  }
}
