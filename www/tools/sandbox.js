// User-defined tools run here: each call in a fresh Web Worker made from a Blob whose script
// is the user's function body wrapped in a message handler. A worker has no DOM, no access
// to the page's variables or storage handles, and is terminated when it takes too long, so a
// `while (true) {}` costs nothing but the time limit. No eval or `new Function` is involved
// (the page's CSP forbids both); the worker's script is the wrapped text itself.

export const DEFAULT_TIMEOUT_MS = 5000;

/** Lines before the user's body in the worker script (to map error line numbers back). */
const PRELUDE_LINES = 2;

/** The worker script for `body`: an async function of `args` whose value is posted back as JSON. */
export function workerSource(body) {
  return [
    "'use strict';",
    'const run = async (args) => {',
    String(body),
    '};',
    'self.onmessage = async (event) => {',
    '  let value;',
    '  try {',
    '    value = await run(event.data);',
    '  } catch (e) {',
    "    self.postMessage({ ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });",
    '    return;',
    '  }',
    '  let json;',
    '  try {',
    '    json = JSON.stringify(value === undefined ? null : value);',
    '  } catch (e) {',
    "    self.postMessage({ ok: false, error: 'the result cannot be turned into JSON: ' + e.message });",
    '    return;',
    '  }',
    '  self.postMessage({ ok: true, json });',
    '};',
  ].join('\n');
}

export class ToolTimeoutError extends Error {
  name = 'ToolTimeoutError';
}

/**
 * Runs the tool body `body` with `args` in a sandboxed worker. Resolves with its value (any
 * JSON value); rejects with an Error when the body throws, has a syntax error, takes longer
 * than `timeoutMs`, or `signal` aborts.
 */
export function runInSandbox(body, args, { timeoutMs = DEFAULT_TIMEOUT_MS, signal } = {}) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new Error('stopped'));
      return;
    }
    const url = URL.createObjectURL(new Blob([workerSource(body)], { type: 'text/javascript' }));
    let worker;
    try {
      worker = new Worker(url, { name: 'user tool' });
    } catch (e) {
      URL.revokeObjectURL(url);
      reject(new Error(`the tool's worker could not start: ${e.message}`));
      return;
    }
    const finish = (settle, value) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      worker.terminate();
      URL.revokeObjectURL(url);
      settle(value);
    };
    const timer = setTimeout(() => finish(reject, new ToolTimeoutError(`the tool did not finish within ${timeoutMs / 1000} s and was stopped`)), timeoutMs);
    const onAbort = () => finish(reject, new Error('stopped'));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.onmessage = ({ data }) => {
      if (data?.ok) finish(resolve, JSON.parse(data.json));
      else finish(reject, new Error(String(data?.error ?? 'the tool failed')));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const line = event.lineno ? ` (line ${Math.max(1, event.lineno - PRELUDE_LINES)} of the tool's code)` : '';
      finish(reject, new Error(`${event.message || 'the tool\'s code has an error'}${line}`));
    };
    worker.postMessage(args ?? {});
  });
}

const RESERVED = new Set('break case catch class const continue debugger default delete do else export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static enum await implements package protected interface private public'.split(' '));

/**
 * Checks a user tool `{ name, description, parameters (JSON text), body }`; returns
 * `{ tool, errors }` where `tool` has `parameters` parsed (errors: field -> message).
 */
export function validateUserTool({ name, description, parameters, body }, takenNames = []) {
  const errors = {};
  const cleanName = String(name ?? '').trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(cleanName)) errors.name = 'Use letters, digits and underscores, not starting with a digit (like get_weather).';
  else if (RESERVED.has(cleanName)) errors.name = `'${cleanName}' is a reserved word.`;
  else if (takenNames.includes(cleanName)) errors.name = `A tool named '${cleanName}' already exists.`;
  let schema = null;
  try {
    schema = JSON.parse(String(parameters ?? '').trim() || '{"type":"object","properties":{}}');
    if (!schema || typeof schema !== 'object' || Array.isArray(schema)) errors.parameters = 'The parameters must be a JSON schema object.';
    else if (schema.type !== 'object') errors.parameters = 'The schema\'s "type" must be "object" (the arguments are an object).';
    else if (schema.properties !== undefined && (typeof schema.properties !== 'object' || Array.isArray(schema.properties))) errors.parameters = '"properties" must be an object.';
    else if (schema.required !== undefined && !(Array.isArray(schema.required) && schema.required.every((r) => typeof r === 'string'))) errors.parameters = '"required" must be a list of property names.';
  } catch (e) {
    errors.parameters = `Not valid JSON: ${e.message}`;
  }
  if (!String(body ?? '').trim()) errors.body = 'Write the function body (it gets `args` and returns the result).';
  const tool = { name: cleanName, description: String(description ?? '').trim(), parameters: schema, body: String(body ?? '') };
  return { tool, errors };
}
