// runTools: the agent loop. The model answers; each tool call it makes runs its JS handler;
// the results go back as `tool` messages; until the model answers without calls, or after
// `maxSteps` answers. A handler that throws, times out or is unknown gives the model an error
// result (`{"error": "..."}`) instead of ending the loop.

import { LfmError } from './errors.js';

/** Default time a handler may take, in milliseconds. */
export const DEFAULT_TOOL_TIMEOUT_MS = 30_000;

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

/** The tool message answering `call`, running its handler (never throws). */
export async function runToolCall(call, tools, { timeoutMs = DEFAULT_TOOL_TIMEOUT_MS, signal } = {}) {
  const name = call.function.name;
  const reply = (content) => ({ role: 'tool', tool_call_id: call.id, name, content });
  const tool = tools.find((t) => t.name === name);
  if (!tool) return reply(JSON.stringify({ error: `there is no tool named '${name}'; the tools are: ${tools.map((t) => t.name).join(', ')}` }));
  let args;
  try {
    args = JSON.parse(call.function.arguments || '{}');
  } catch {
    return reply(JSON.stringify({ error: `the arguments are not valid JSON: ${call.function.arguments}` }));
  }
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`the tool did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    const result = await Promise.race([Promise.resolve().then(() => tool.handler(args, { call, signal })), timeout]);
    return reply(typeof result === 'string' ? result : JSON.stringify(result ?? null));
  } catch (e) {
    return reply(JSON.stringify({ error: String(e?.message ?? e) }));
  } finally {
    clearTimeout(timer);
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
