// One assistant turn with tools: stream an answer; when it calls tools, ask the user (or
// auto-approve), run them, append their results and let the model continue, up to MAX_STEPS
// answers. Written here rather than with engine.runTools because every call needs approval.

import { apiMessages, newMessage, touch } from './conversation.js';
import { describeError } from './errors.js';
import { errorContent } from './tools/index.js';

/** Most answers one turn may take (each tool round is one). */
export const MAX_STEPS = 8;

/** The sampling fields of a request, from the settings. */
export function samplingFields(settings) {
  const fields = {
    temperature: settings.temperature,
    top_p: settings.top_p,
    top_k: settings.top_k,
    repetition_penalty: settings.repetition_penalty,
    max_tokens: settings.max_tokens,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => typeof v === 'number' && Number.isFinite(v)));
}

/**
 * Runs the turn that answers the end of `conversation.messages`, adding the answer (and
 * tool messages) to it. Options:
 * - `engine`, `settings`, `toolbox` (tools/index.js), `signal` (stop),
 * - `changed(message)`: a message was added or changed (the view re-renders it),
 * - `save()`: persist the conversation (called after each answer and tool result),
 * - `approve(call)`: resolves true / false when the user approves / denies a call,
 * - `running(callId, on)`: a tool is running (for the card's status),
 * - `forcedOutput()`: for tests, text the next answer starts with (or null).
 * Resolves with the last finish reason ('stop', 'length', 'abort', 'error', 'max_steps', ...).
 */
export async function runTurn({ engine, conversation, settings, toolbox, signal, changed, save, approve, running, forcedOutput }) {
  const tools = toolbox.schemas.length ? toolbox.schemas : undefined;
  for (let step = 0; step < MAX_STEPS; step++) {
    const history = apiMessages(conversation.messages, settings.systemPrompt ?? '');
    const reply = newMessage('assistant', { content: '', tool_calls: [] });
    reply._streaming = true;
    conversation.messages.push(reply);
    changed(reply);
    const finish = await streamAnswer(engine, { messages: history, tools, signal, ...samplingFields(settings) }, reply, forcedOutput?.(), changed);
    reply._streaming = false;
    conversation.updatedAt = Date.now();
    touch(reply);
    changed(reply);
    await save();
    if (finish !== 'tool_calls' || reply.tool_calls.length === 0) return finish;

    for (const call of reply.tool_calls) {
      const result = await handleCall(call, { toolbox, signal, approve, running });
      conversation.messages.push(newMessage('tool', { tool_call_id: call.id, name: call.function.name, ...result }));
      touch(reply); // its card shows the result
      changed(reply);
      await save();
    }
    if (signal.aborted) return 'abort';
  }
  const last = conversation.messages.at(-1);
  if (last.role === 'tool') {
    // The model kept calling tools: say so on the last answer instead of looping forever.
    const previous = conversation.messages.findLast((m) => m.role === 'assistant');
    previous.error = `Stopped after ${MAX_STEPS} tool rounds in one answer.`;
    touch(previous);
    changed(previous);
    await save();
  }
  return 'max_steps';
}

/** Streams one answer into `reply`; resolves with its finish reason ('error' when it failed). */
async function streamAnswer(engine, request, reply, forced, changed) {
  try {
    const stream = await engine.chat.completions.create({ ...request, stream: true, ...(forced ? { forced_output: forced } : {}) });
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice.delta.content) reply.content += choice.delta.content;
      for (const call of choice.delta.tool_calls ?? []) {
        reply.tool_calls.push({ id: call.id, type: 'function', function: { name: call.function.name, arguments: call.function.arguments } });
      }
      if (choice.finish_reason) {
        reply.finish_reason = choice.finish_reason;
        reply.usage = chunk.usage;
        reply.timings = chunk.timings;
      }
      touch(reply);
      changed(reply);
    }
    return reply.finish_reason ?? 'stop';
  } catch (e) {
    if (e?.name === 'AbortError') {
      // Stopped while still queued: nothing was written.
      reply.finish_reason = 'abort';
      return 'abort';
    }
    reply.error = describeError(e);
    reply.finish_reason = 'error';
    return 'error';
  }
}

/** Asks for approval (unless auto-approved), runs the call; the tool message's fields. */
async function handleCall(call, { toolbox, signal, approve, running }) {
  const name = call.function.name;
  if (signal.aborted) return { content: errorContent('the user stopped the answer before this tool ran'), status: 'denied' };
  if (!toolbox.has(name)) return { content: errorContent(`there is no tool named '${name}'`), status: 'error' };
  const approved = toolbox.autoApprove(name) || (await approve(call));
  if (!approved) {
    const why = signal.aborted ? 'the user stopped the answer before this tool ran' : 'the user denied this tool call';
    return { content: errorContent(why), status: 'denied' };
  }
  running(call.id, true);
  try {
    const result = await toolbox.run(call, { signal });
    return { content: result.content, status: result.ok ? 'ok' : 'error' };
  } finally {
    running(call.id, false);
  }
}
