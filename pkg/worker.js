// The engine's Web Worker: runs an EngineCore (core.js) for the page's proxy (client.js), so
// weight loading and generation never block the page.
//
// Messages from the page: `{ id, method, args }` (one call; the page queues them, so at most one
// runs), `{ op: 'interrupt' }` (stop the running answer), `{ op: 'abort', id }` (cancel a load).
// Messages to the page: `{ id, type: 'progress' | 'event', value }` while a call runs, then
// `{ id, type: 'result', value, stats }` or `{ id, type: 'error', error, stats }`.

import { EngineCore } from './core.js';
import { toWire } from './errors.js';

const core = new EngineCore();
/** AbortControllers of the running loads, by call id. */
const aborts = new Map();

self.onmessage = async ({ data }) => {
  if (data.op === 'interrupt') return core.interrupt();
  if (data.op === 'abort') return aborts.get(data.id)?.abort();
  const { id, method, args = [] } = data;
  const post = (type) => (value) => self.postMessage({ id, type, value });
  const ac = new AbortController();
  aborts.set(id, ac);
  try {
    let value;
    if (method === 'load') value = await core.load(args[0], { ...args[1], onProgress: post('progress'), signal: ac.signal });
    else if (method === 'chat') value = await core.chat(args[0], post('event'));
    else if (['generate', 'resetChat', 'tokenize', 'detokenize', 'unload', 'stats', 'destroyDevice'].includes(method)) value = await core[method](...args);
    else throw new Error(`unknown method ${method}`);
    self.postMessage({ id, type: 'result', value, stats: core.stats() });
  } catch (e) {
    self.postMessage({ id, type: 'error', error: toWire(e), stats: core.stats() });
  } finally {
    aborts.delete(id);
  }
};

self.postMessage({ type: 'ready' });
