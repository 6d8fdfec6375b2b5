// runTools: the agent loop. The model answers; each tool call it makes runs its JS handler;
// the results go back as `tool` messages; until the model answers without calls, or after
// `maxSteps` answers. A handler that throws, times out or is unknown gives the model an error
// result (`{"error": "..."}`) instead of ending the loop; what a handler returns is made into
// well-formed text of bounded length (`toolResultText`), so no result can break the request.

import { LfmError } from './errors.js';

/** Default time a handler may take, in milliseconds. */
export const DEFAULT_TOOL_TIMEOUT_MS = 30_000;

/** What a tool call still running when the request's signal fires gets as its result. */
export const INTERRUPTED = 'interrupted: the request was aborted before the tool answered';

/**
 * `s` with every lone surrogate (half of a UTF-16 pair, which no UTF-8 text can hold) replaced
 * by U+FFFD, as `String.prototype.toWellFormed` does.
 */
export function wellFormed(s) {
  if (typeof s.toWellFormed === 'function') return s.toWellFormed();
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/**
 * A handler's return value as the text the model is shown: a string as it is, bytes
 * (`ArrayBuffer`, typed array, `DataView`) decoded as UTF-8 with invalid sequences as U+FFFD,
 * anything else as JSON; lone surrogates replaced by U+FFFD; cut to `maxChars` characters with
 * a note saying so.
 */
export function toolResultText(result, maxChars = Infinity) {
  let text;
  if (typeof result === 'string') text = result;
  else if (result instanceof ArrayBuffer || ArrayBuffer.isView(result)) text = new TextDecoder().decode(result);
  else text = JSON.stringify(result ?? null) ?? 'null'; // a function or a symbol: undefined
  text = wellFormed(text);
  if (text.length <= maxChars) return text;
  let cut = Math.max(0, Math.floor(maxChars));
  if (cut > 0 && /[\uD800-\uDBFF]/.test(text[cut - 1])) cut -= 1; // not inside a surrogate pair
  return `${text.slice(0, cut)}\n[truncated: the tool returned ${text.length} characters, the first ${cut} are shown]`;
}

/** Validates `tools` and returns the OpenAI tool schemas the model is shown. */
export function toolSchemas(tools) {
  if (!Array.isArray(tools) || tools.length === 0) throw new LfmError('invalid_request', 'runTools: `tools` must be a non-empty array');
  const names = new Set();
  return tools.map((t, i) => {
    if (!t || typeof t.name !== 'string' || !t.name) throw new LfmError('invalid_request', `runTools: tools[${i}] has no name`);
    if (typeof t.handler !== 'function') throw new LfmError('invalid_request', `runTools: tool '${t.name}' has no handler function`);
    if (names.has(t.name)) throw new LfmError('invalid_request', `runTools: two tools are named '${t.name}'`);
    names.add(t.name);
    const schema = { name: t.name, description: t.description ?? '', parameters: t.parameters ?? { type: 'object', properties: {} } };
    return { type: 'function', function: schema };
  });
}

/**
 * The tool message answering `call`, running its handler (never throws). Options:
 * `timeoutMs`, `signal` (once it fires, the result is an interruption error, without waiting
 * for the handler), `maxResultChars` (longer results are cut, see `toolResultText`).
 */
export async function runToolCall(call, tools, { timeoutMs = DEFAULT_TOOL_TIMEOUT_MS, signal, maxResultChars = Infinity } = {}) {
  const name = call.function.name;
  const reply = (content) => ({ role: 'tool', tool_call_id: call.id, name, content });
  const error = (message) => reply(JSON.stringify({ error: toolResultText(message, maxResultChars) }));
  const tool = tools.find((t) => t.name === name);
  if (!tool) return error(`there is no tool named '${name}'; the tools are: ${tools.map((t) => t.name).join(', ')}`);
  let args;
  try {
    args = JSON.parse(call.function.arguments || '{}');
  } catch {
    return error(`the arguments are not valid JSON: ${call.function.arguments}`);
  }
  if (signal?.aborted) return error(INTERRUPTED);
  let timer;
  let onAbort;
  const stopped = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`the tool did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    onAbort = () => fail(new Error(INTERRUPTED));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const result = await Promise.race([Promise.resolve().then(() => tool.handler(args, { call, signal })), stopped]);
    return reply(toolResultText(result, maxResultChars));
  } catch (e) {
    return error(String(e?.message ?? e));
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Adds `u` into the usage total `into` (OpenAI shape). */
export function addUsage(into, u) {
  if (!u) return into;
  if (!into) return structuredClone(u);
  into.prompt_tokens += u.prompt_tokens;
  into.completion_tokens += u.completion_tokens;
  into.total_tokens += u.total_tokens;
  into.prompt_tokens_details.cached_tokens += u.prompt_tokens_details.cached_tokens;
  return into;
}
