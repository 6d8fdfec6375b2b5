// The model cache: GGUF files downloaded once into the origin private file system (OPFS), so
// a 5 GB model is fetched from the network once and loaded from disk afterwards, offline.
//
// Layout: OPFS directory `lfm-webgpu-models/`, per model `<key>.gguf` (the bytes) and
// `<key>.json` (metadata: url, size, etag, sha256, complete), key = SHA-256 of the URL.
//
// Downloads (in the engine's worker: they need `createSyncAccessHandle`, which only dedicated
// workers have) write each chunk to disk as it arrives, so an interrupted download resumes with
// a `Range` request from where it stopped (`If-Range` on the ETag: a changed file restarts).
// The whole file is hashed (SHA-256) as it is written and checked against the expected hash
// when one is known (the `sha256` option, or a Hugging Face `X-Linked-Etag`). A cached file
// whose size differs from its metadata, or whose header does not parse, is corrupt: it is
// deleted and the load fails with `cache_corrupt` (the next load downloads it again).
//
// Listing and deleting (`listCachedModels`, `deleteCachedModel`) work on any thread.

import { LfmError } from './errors.js';

const DIR = 'lfm-webgpu-models';
/** Bytes between flushes of the partial file (what an interruption can lose at most). */
const FLUSH_EVERY = 32 << 20;
/** Bytes hashed per read when a resumed download re-hashes what it already has. */
const REHASH_CHUNK = 16 << 20;

/** Whether downloads can be cached here: OPFS with sync access handles (a dedicated worker). */
export function cacheAvailable() {
  return (
    typeof navigator !== 'undefined' &&
    typeof navigator.storage?.getDirectory === 'function' &&
    typeof DedicatedWorkerGlobalScope !== 'undefined' &&
    typeof FileSystemFileHandle !== 'undefined' &&
    'createSyncAccessHandle' in FileSystemFileHandle.prototype
  );
}

async function cacheDir(create = true) {
  if (typeof navigator === 'undefined' || typeof navigator.storage?.getDirectory !== 'function') {
    throw new LfmError('unsupported', 'this browser has no origin private file system (model cache)');
  }
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create });
}

/** The cache key of `url`: hex SHA-256 of the absolute URL (first 32 digits). */
async function keyOf(url) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(url));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, 32);
}

async function readMeta(dir, key) {
  try {
    const file = await (await dir.getFileHandle(`${key}.json`)).getFile();
    return JSON.parse(await file.text());
  } catch {
    return null;
  }
}

async function writeMeta(dir, key, meta) {
  const handle = await dir.getFileHandle(`${key}.json`, { create: true });
  const w = await handle.createWritable();
  await w.write(JSON.stringify(meta));
  await w.close();
}

async function removeEntry(dir, key) {
  for (const name of [`${key}.gguf`, `${key}.json`]) {
    await dir.removeEntry(name).catch((e) => {
      if (e?.name !== 'NotFoundError') throw e;
    });
  }
}

/**
 * The cached models: `[{ url, sizeBytes, complete, sha256, downloadedAt }]` (partial downloads
 * have `complete: false` and `sizeBytes` the bytes so far).
 */
export async function listCachedModels() {
  let dir;
  try {
    dir = await cacheDir(false);
  } catch (e) {
    if (e?.name === 'NotFoundError') return [];
    throw e;
  }
  const out = [];
  for await (const [name] of dir.entries()) {
    if (!name.endsWith('.json')) continue;
    const key = name.slice(0, -5);
    const meta = await readMeta(dir, key);
    if (!meta) continue;
    const file = await (await dir.getFileHandle(`${key}.gguf`)).getFile().catch(() => null);
    out.push({
      url: meta.url,
      sizeBytes: file?.size ?? 0,
      totalBytes: meta.size ?? null,
      complete: Boolean(meta.complete && file && file.size === meta.size),
      sha256: meta.sha256 ?? null,
      downloadedAt: meta.downloadedAt ?? null,
    });
  }
  return out.sort((a, b) => a.url.localeCompare(b.url));
}

/** Deletes `url`'s cached file (complete or partial). Resolves to whether there was one. */
export async function deleteCachedModel(url) {
  const dir = await cacheDir(true);
  const key = await keyOf(String(url));
  const had = (await readMeta(dir, key)) !== null;
  await removeEntry(dir, key);
  return had;
}

/**
 * The cached copy of `url` as a `File`, downloading (or resuming) it first when needed.
 * `onProgress({phase: 'download', loadedBytes, totalBytes})`; `newHasher()` returns an object
 * with `update(Uint8Array)` and `hex()`. Returns `{ file, fresh }` (`fresh`: just downloaded).
 */
export async function cachedFile(url, options) {
  try {
    return await openOrDownload(url, options);
  } catch (e) {
    if (e?.name !== 'QuotaExceededError') throw e;
    throw new LfmError('quota_exceeded', `the browser's storage quota for this site cannot hold ${url} (${e.message}); free some space, or load with cache: false`);
  }
}

async function openOrDownload(url, { onProgress, signal, sha256, newHasher }) {
  const dir = await cacheDir(true);
  const key = await keyOf(url);
  let meta = await readMeta(dir, key);
  if (meta?.complete) {
    const file = await (await dir.getFileHandle(`${key}.gguf`)).getFile().catch(() => null);
    if (file && file.size === meta.size && (!sha256 || !meta.sha256 || meta.sha256 === sha256.toLowerCase())) {
      return { file, fresh: false, evict: () => removeEntry(dir, key) };
    }
    await removeEntry(dir, key);
    const why = !file ? 'its file is missing' : file.size !== meta.size ? `it has ${file.size} of ${meta.size} bytes` : 'its SHA-256 differs from the one asked for';
    throw new LfmError('cache_corrupt', `the cached copy of ${url} was corrupt (${why}) and has been deleted; load it again to download it`);
  }
  await download(dir, key, url, meta, { onProgress, signal, sha256, newHasher });
  const file = await (await dir.getFileHandle(`${key}.gguf`)).getFile();
  return { file, fresh: true, evict: () => removeEntry(dir, key) };
}

async function download(dir, key, url, meta, { onProgress, signal, sha256, newHasher }) {
  signal?.throwIfAborted();
  const handle = await dir.getFileHandle(`${key}.gguf`, { create: true });
  let access;
  try {
    access = await handle.createSyncAccessHandle();
  } catch (e) {
    throw new LfmError('busy', `the cache file of ${url} is in use (is it loading in another tab?): ${e.message}`);
  }
  try {
    let have = access.getSize();
    if (!meta || meta.url !== url) have = 0;
    access.truncate(have);
    let hasher = newHasher();
    const report = (loaded, total) => onProgress?.({ phase: 'download', loadedBytes: loaded, totalBytes: total });
    if (have > 0) rehash(access, have, hasher, signal);

    const headers = {};
    if (have > 0) {
      headers.range = `bytes=${have}-`;
      if (meta.etag) headers['if-range'] = meta.etag;
    }
    let response;
    try {
      response = await fetch(url, { headers, signal });
    } catch (e) {
      if (signal?.aborted) throw new LfmError('aborted', `downloading ${url} was aborted`);
      throw new LfmError('network', `downloading ${url} failed: ${e.message}`);
    }
    let total = null;
    if (response.status === 206) {
      const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) throw new LfmError('network', `${url}: the server resumed at the wrong offset (${response.headers.get('content-range')})`);
      total = m[2] === '*' ? null : Number(m[2]);
    } else if (response.status === 416 && have > 0 && meta?.size === have) {
      total = have; // the partial file was already whole
    } else if (response.status === 200) {
      have = 0;
      access.truncate(0);
      hasher = newHasher();
      const length = response.headers.get('content-encoding') ? null : response.headers.get('content-length');
      total = length === null ? null : Number(length);
    } else {
      throw new LfmError('http', `downloading ${url}: HTTP ${response.status} ${response.statusText}`.trim(), { status: response.status });
    }
    const etag = response.headers.get('etag');
    // Hugging Face sends the SHA-256 of LFS files as X-Linked-Etag.
    const linked = (response.headers.get('x-linked-etag') ?? '').replace(/^(W\/)?"|"$/g, '');
    const expected = (sha256 ?? (/^[0-9a-f]{64}$/i.test(linked) ? linked : null))?.toLowerCase() ?? null;

    if (total !== null && navigator.storage?.estimate) {
      const { quota, usage } = await navigator.storage.estimate();
      const free = quota - usage;
      if (quota !== undefined && free < total - have) {
        throw new LfmError('quota_exceeded', `caching ${url} needs ${mb(total - have)} more, but the browser allows this site only ${mb(Math.max(0, free))} more (free some space, or load with cache: false)`);
      }
    }
    await writeMeta(dir, key, { url, size: total, etag, complete: false });
    report(have, total);

    if (response.status !== 416) {
      const reader = response.body.getReader();
      let sinceFlush = 0;
      try {
        for (;;) {
          let chunk;
          try {
            chunk = await reader.read();
          } catch (e) {
            if (signal?.aborted) throw new LfmError('aborted', `downloading ${url} was aborted at byte ${have}; loading it again resumes there`);
            throw new LfmError('network', `downloading ${url} broke off at byte ${have} (${e.message}); loading it again resumes there`);
          }
          if (chunk.done) break;
          const bytes = chunk.value;
          try {
            access.write(bytes, { at: have });
          } catch (e) {
            if (e?.name === 'QuotaExceededError') throw new LfmError('quota_exceeded', `the browser's storage quota ran out at byte ${have} of ${url} (free some space, or load with cache: false)`);
            throw e;
          }
          hasher.update(bytes);
          have += bytes.length;
          sinceFlush += bytes.length;
          if (sinceFlush >= FLUSH_EVERY) {
            access.flush();
            sinceFlush = 0;
          }
          report(have, total);
        }
      } finally {
        reader.cancel().catch(() => {});
        access.flush();
      }
    }
    if (total !== null && have !== total) {
      throw new LfmError('network', `downloading ${url} ended at byte ${have} of ${total}; loading it again resumes there`);
    }
    const digest = hasher.hex();
    if (expected && digest !== expected) {
      access.close();
      access = null;
      await removeEntry(dir, key);
      throw new LfmError('integrity', `the download of ${url} has SHA-256 ${digest}, expected ${expected}; it has been deleted`);
    }
    await writeMeta(dir, key, { url, size: have, etag, sha256: digest, complete: true, downloadedAt: new Date().toISOString() });
  } finally {
    access?.close();
  }
}

/** Feeds the first `have` bytes of the partial file to `hasher` (a resumed download). */
function rehash(access, have, hasher, signal) {
  const buffer = new Uint8Array(Math.min(REHASH_CHUNK, have));
  for (let at = 0; at < have; at += buffer.length) {
    signal?.throwIfAborted();
    const view = buffer.subarray(0, Math.min(buffer.length, have - at));
    const n = access.read(view, { at });
    if (n !== view.length) throw new LfmError('cache_corrupt', `the partial download could not be read back (${n} of ${view.length} bytes at ${at})`);
    hasher.update(view);
  }
}

function mb(bytes) {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
