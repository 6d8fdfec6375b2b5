// The toolbox: the built-in tools (run in the page: our own code) and the user's tools (run
// in a sandboxed worker), as OpenAI tool schemas for the model and one `run` for the chat loop.

import { calculatorTool } from './calculator.js';
import { datetimeTool } from './datetime.js';
import { noteTools } from './notes.js';
import { DEFAULT_TIMEOUT_MS, runInSandbox } from './sandbox.js';
import { unitsTool } from './units.js';

export const BUILTIN_TOOLS = [calculatorTool, datetimeTool, unitsTool, ...noteTools];

export const BUILTIN_NAMES = BUILTIN_TOOLS.map((t) => t.name);

/** The result text the model gets for an error. */
export function errorContent(message) {
  return JSON.stringify({ error: message });
}

/** A result as the model gets it: strings as they are, anything else as JSON. */
export function resultContent(value) {
  return typeof value === 'string' ? value : JSON.stringify(value ?? null);
}

/**
 * The tools on offer given the settings (`settings.tools[name] = { enabled, autoApprove }`)
 * and the user's tools. `run(call, { signal })` never throws: it resolves with
 * `{ ok, content }` (`content`: the text for the tool message).
 */
export function createToolbox(settings, userTools = []) {
  const toolSettings = (name) => settings.tools?.[name] ?? { enabled: true, autoApprove: false };
  const builtins = BUILTIN_TOOLS.filter((t) => toolSettings(t.name).enabled).map((t) => ({ ...t, kind: 'builtin' }));
  const user = userTools.filter((t) => toolSettings(t.name).enabled).map((t) => ({ ...t, kind: 'user' }));
  const tools = new Map([...builtins, ...user].map((t) => [t.name, t]));
  const timeoutMs = settings.toolTimeoutMs ?? DEFAULT_TIMEOUT_MS;

  return {
    schemas: [...tools.values()].map(({ name, description, parameters }) => ({
      type: 'function',
      function: { name, description, parameters: parameters ?? { type: 'object', properties: {} } },
    })),
    has: (name) => tools.has(name),
    autoApprove: (name) => tools.has(name) && Boolean(toolSettings(name).autoApprove),

    async run(call, { signal } = {}) {
      const tool = tools.get(call.function.name);
      if (!tool) return { ok: false, content: errorContent(`there is no tool named '${call.function.name}'`) };
      let args;
      try {
        args = JSON.parse(call.function.arguments || '{}');
        if (!args || typeof args !== 'object' || Array.isArray(args)) throw new Error('the arguments are not an object');
      } catch (e) {
        return { ok: false, content: errorContent(`the arguments could not be read: ${e.message}`) };
      }
      try {
        const value = tool.kind === 'user' ? await runInSandbox(tool.body, args, { timeoutMs, signal }) : await withTimeout(tool.run(args), timeoutMs);
        return { ok: true, content: resultContent(value) };
      } catch (e) {
        return { ok: false, content: errorContent(e?.message ?? String(e)) };
      }
    },
  };
}

/** `promise`, or a rejection after `ms` (built-in tools are quick, but IndexedDB can stall). */
function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    Promise.resolve(promise),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the tool did not finish within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
