// LfmError: every failure of the package is one, with a machine-readable `code`.
//
// The wasm module throws errors of the same shape (name 'LfmError', `code`, and `status` for
// HTTP errors). Errors cross the worker boundary as plain objects (structured clone keeps
// only an Error's name and message), rebuilt on the other side by `fromWire`.

/**
 * Codes: 'http' (`status` set), 'network', 'bad_model', 'unsupported', 'gpu', 'out_of_memory',
 * 'device_lost', 'context_overflow', 'invalid_request', 'busy', 'aborted', 'quota_exceeded',
 * 'cache_corrupt', 'integrity', 'unloaded', 'no_webgpu', 'worker', 'tool', 'internal'.
 */
export class LfmError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'LfmError';
    this.code = code;
    Object.assign(this, extra);
  }
}

/** `e` as an LfmError (wasm errors already are, by shape; anything else is `internal`). */
export function asLfmError(e, fallbackCode = 'internal') {
  if (e instanceof LfmError) return e;
  if (e && typeof e === 'object' && e.name === 'LfmError' && typeof e.code === 'string') {
    const { status } = e;
    return new LfmError(e.code, e.message, status === undefined ? {} : { status });
  }
  if (e && e.name === 'AbortError') return new LfmError('aborted', e.message || 'aborted');
  if (e && e.name === 'QuotaExceededError') return new LfmError('quota_exceeded', e.message);
  return new LfmError(fallbackCode, String(e?.message ?? e));
}

/** A structured-clonable copy of an error for postMessage. */
export function toWire(e) {
  const err = asLfmError(e);
  return { code: err.code, message: err.message, status: err.status };
}

/** The LfmError a `toWire` object describes. */
export function fromWire(w) {
  return new LfmError(w.code, w.message, w.status === undefined ? {} : { status: w.status });
}
