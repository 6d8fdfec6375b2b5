// Conversations as the page keeps them, and as the model gets them.
//
// A stored message is one of
//   { id, role: 'user', content }
//   { id, role: 'assistant', content, tool_calls?, finish_reason?, usage?, timings?, error? }
//   { id, role: 'tool', tool_call_id, name, content, status: 'ok' | 'error' | 'denied' }
// Fields starting with `_` are runtime-only (not stored): `_rev` counts changes for the view.

/** A random id (crypto.randomUUID needs a secure context, which WebGPU needs anyway). */
export function newId() {
  return crypto.randomUUID();
}

export function newConversation() {
  const now = Date.now();
  return { id: newId(), title: 'New chat', createdAt: now, updatedAt: now, messages: [] };
}

export function newMessage(role, fields = {}) {
  return { id: newId(), role, ...fields, _rev: 0 };
}

/** Marks `message` changed, so the view renders it again. */
export function touch(message) {
  message._rev = (message._rev ?? 0) + 1;
}

/** A title from the first user message: its first line, at most 60 characters. */
export function titleFrom(text) {
  const line = String(text).trim().split('\n')[0].replace(/\s+/g, ' ');
  return line.length > 60 ? `${line.slice(0, 57)}…` : line || 'New chat';
}

/** The messages to send to the model, with the system prompt first (if any). */
export function apiMessages(messages, systemPrompt = '') {
  const out = [];
  if (systemPrompt.trim()) out.push({ role: 'system', content: systemPrompt });
  for (const m of messages) {
    if (m.role === 'user') out.push({ role: 'user', content: m.content });
    else if (m.role === 'assistant') {
      const calls = m.tool_calls ?? [];
      // An answer that failed before writing anything is not part of the conversation.
      if (!m.content && calls.length === 0) continue;
      const message = { role: 'assistant', content: calls.length && !m.content ? null : m.content };
      if (calls.length) message.tool_calls = calls.map(({ id, type, function: f }) => ({ id, type: type ?? 'function', function: { name: f.name, arguments: f.arguments } }));
      out.push(message);
    } else if (m.role === 'tool') {
      out.push({ role: 'tool', tool_call_id: m.tool_call_id, name: m.name, content: m.content });
    }
  }
  return out;
}

/** The tool message answering `callId` in `messages`, if any. */
export function toolResultFor(messages, callId) {
  return messages.find((m) => m.role === 'tool' && m.tool_call_id === callId) ?? null;
}

/** Index of the last user message (-1 if none). */
export function lastUserIndex(messages) {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') return i;
  return -1;
}
