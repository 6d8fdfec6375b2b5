// Drawing the conversation: message bubbles (assistant text as safe Markdown, user text as
// plain text), tool-call cards with their arguments, status and result, and per-message
// actions. Each message element is rebuilt only when its `_rev` changed, so streaming
// re-renders one bubble per frame. Buttons carry `data-action`; app.js handles the clicks.

import { toolResultFor } from './conversation.js';
import { h } from './dom.js';
import { formatRate } from './format.js';
import { renderMarkdown } from './markdown.js';

const FINISH_NOTES = {
  length: 'Reached the answer length limit (Settings > Max tokens).',
  abort: 'Stopped.',
  loop: 'Stopped: the answer started repeating itself.',
};

/** Arguments JSON text, pretty-printed when it parses. */
function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return String(text);
  }
}

export class ChatView {
  /** Message id -> { rev, node } of what is on screen. */
  #shown = new Map();

  /** `container` holds the messages; `scroller` is the element that scrolls them. */
  constructor(container, scroller = container) {
    this.container = container;
    this.scroller = scroller;
  }

  /**
   * Shows `conversation` (null: none). `ui`: { pending: Set of call ids awaiting approval,
   * runningTools: Set of call ids, running: whether a turn runs, editingId, autoApprove(name) }.
   */
  render(conversation, ui) {
    const messages = conversation?.messages ?? [];
    const { scroller } = this;
    // While an answer streams, follow it, unless the reader scrolled up to read something else.
    const stickToBottom = ui.running && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const lastAssistant = messages.findLast((m) => m.role === 'assistant');
    const wanted = [];
    for (const message of messages) {
      if (message.role === 'tool' && this.#hasCallFor(messages, message)) continue; // shown on its call's card
      const key = [message._rev ?? 0, ui.running, ui.editingId === message.id, message === lastAssistant, ui.version].join('|');
      let entry = this.#shown.get(message.id);
      if (!entry || entry.key !== key) {
        const node = this.#renderMessage(message, messages, ui, message === lastAssistant);
        if (entry) entry.node.replaceWith(node);
        entry = { key, node };
        this.#shown.set(message.id, entry);
      }
      wanted.push(entry.node);
    }
    // Drop what is gone (another conversation, a truncated edit) and put the rest in order.
    const keep = new Set(wanted);
    for (const [id, entry] of this.#shown) {
      if (!keep.has(entry.node)) {
        entry.node.remove();
        this.#shown.delete(id);
      }
    }
    wanted.forEach((node, i) => {
      if (this.container.children[i] !== node) this.container.insertBefore(node, this.container.children[i] ?? null);
    });
    if (messages.length === 0) this.container.replaceChildren(this.#emptyState());
    else this.container.querySelector('.empty-state')?.remove();
    if (stickToBottom) scroller.scrollTop = scroller.scrollHeight;
  }

  #hasCallFor(messages, toolMessage) {
    return messages.some((m) => m.role === 'assistant' && m.tool_calls?.some((c) => c.id === toolMessage.tool_call_id));
  }

  #emptyState() {
    return h('div', { class: 'empty-state' },
      h('p', { class: 'empty-title' }, 'A private chat on your own device.'),
      h('p', { class: 'hint' }, 'Load a model, then ask anything. The model can use a calculator, the date and time, unit conversion and a notebook, with your approval.'),
    );
  }

  #renderMessage(message, messages, ui, isLastAssistant) {
    if (message.role === 'user') return this.#renderUser(message, ui);
    if (message.role === 'assistant') return this.#renderAssistant(message, messages, ui, isLastAssistant);
    // A tool result whose call is not in the conversation (should not happen): show it plainly.
    return h('article', { class: 'message tool', dataset: { id: message.id } }, this.#toolCard({ id: message.tool_call_id, function: { name: message.name, arguments: '{}' } }, message, ui));
  }

  #renderUser(message, ui) {
    if (ui.editingId === message.id) {
      const textarea = h('textarea', { class: 'edit-input', rows: 3, 'aria-label': 'Edit your message', value: message.content, dataset: { editFor: message.id } });
      return h('article', { class: 'message user editing', dataset: { id: message.id }, 'aria-label': 'Your message (editing)' },
        textarea,
        h('div', { class: 'message-actions' },
          h('button', { type: 'button', class: 'button primary', dataset: { action: 'save-edit', id: message.id } }, 'Save and answer again'),
          h('button', { type: 'button', class: 'button', dataset: { action: 'cancel-edit', id: message.id } }, 'Cancel'),
        ),
      );
    }
    return h('article', { class: 'message user', dataset: { id: message.id }, 'aria-label': 'You said' },
      h('div', { class: 'bubble user-text' }, message.content),
      h('div', { class: 'message-actions' },
        h('button', { type: 'button', class: 'link-button', disabled: ui.running, dataset: { action: 'edit', id: message.id }, 'aria-label': 'Edit this message' }, 'Edit'),
      ),
    );
  }

  #renderAssistant(message, messages, ui, isLastAssistant) {
    const streaming = Boolean(message._streaming);
    const article = h('article', { class: 'message assistant', dataset: { id: message.id }, 'aria-label': 'The model said', 'aria-busy': streaming ? 'true' : 'false' });
    if (message.content || (streaming && !message.tool_calls?.length)) {
      const bubble = h('div', { class: `bubble markdown${streaming ? ' streaming' : ''}` });
      bubble.append(renderMarkdown(message.content));
      if (streaming && !message.content) bubble.append(h('span', { class: 'typing', 'aria-label': 'Thinking' }, '…'));
      article.append(bubble);
    }
    for (const call of message.tool_calls ?? []) article.append(this.#toolCard(call, toolResultFor(messages, call.id), ui));
    if (message.error) article.append(h('p', { class: 'error message-error', role: 'alert' }, message.error));
    const meta = this.#meta(message);
    if (meta) article.append(h('p', { class: 'message-meta' }, meta));
    if (!streaming && !ui.running) {
      const actions = h('div', { class: 'message-actions' });
      if (message.content) actions.append(h('button', { type: 'button', class: 'link-button', dataset: { action: 'copy', id: message.id } }, 'Copy'));
      if (isLastAssistant) actions.append(h('button', { type: 'button', class: 'link-button', dataset: { action: 'regenerate', id: message.id } }, 'Regenerate'));
      if (actions.childElementCount) article.append(actions);
    }
    return article;
  }

  /** "12 tokens · 8.1 tokens/s · Stopped." for a finished answer. */
  #meta(message) {
    const parts = [];
    if (message.usage) parts.push(`${message.usage.completion_tokens} tokens`);
    if (message.timings?.decode_tokens_per_s) parts.push(`${formatRate(message.timings.decode_tokens_per_s)} tokens/s`);
    const note = FINISH_NOTES[message.finish_reason];
    if (note) parts.push(note);
    return parts.join(' · ');
  }

  #toolCard(call, result, ui) {
    const name = call.function.name;
    let status;
    let statusClass;
    if (result) {
      status = { ok: 'Done', error: 'Failed', denied: 'Denied' }[result.status] ?? 'Done';
      statusClass = result.status ?? 'ok';
    } else if (ui.pending.has(call.id)) {
      status = 'Waiting for your approval';
      statusClass = 'pending';
    } else if (ui.runningTools.has(call.id)) {
      status = 'Running…';
      statusClass = 'running';
    } else {
      status = ui.running ? 'Queued' : 'Not run';
      statusClass = 'idle';
    }
    const card = h('section', { class: `tool-card status-${statusClass}`, dataset: { callId: call.id, tool: name }, 'aria-label': `Tool call: ${name}` },
      h('header', { class: 'tool-card-header' },
        h('span', { class: 'tool-icon', 'aria-hidden': 'true' }, '⚙'),
        h('span', { class: 'tool-name' }, name),
        h('span', { class: 'tool-status', role: 'status' }, status),
      ),
      h('p', { class: 'tool-label' }, 'Arguments'),
      h('pre', { class: 'tool-output tool-args' }, prettyJson(call.function.arguments)),
    );
    if (ui.pending.has(call.id)) {
      card.append(
        h('div', { class: 'tool-approval' },
          h('button', { type: 'button', class: 'button primary', dataset: { action: 'approve', call: call.id } }, 'Approve'),
          h('button', { type: 'button', class: 'button danger', dataset: { action: 'deny', call: call.id } }, 'Deny'),
          h('label', { class: 'checkbox-label' },
            h('input', { type: 'checkbox', dataset: { action: 'always', tool: name }, checked: ui.autoApprove(name) }),
            ` Always approve ${name}`,
          ),
        ),
      );
    }
    if (result) {
      // Tool output is data, never markup: plain text in a <pre>.
      card.append(h('p', { class: 'tool-label' }, 'Result'), h('pre', { class: 'tool-output tool-result' }, prettyJson(result.content)));
    }
    return card;
  }

  /** Clears everything shown (a new conversation replaces it all). */
  reset() {
    this.#shown.clear();
    this.container.replaceChildren();
  }
}

/** The conversation list in the sidebar. */
export function renderConversationList(list, conversations, currentId) {
  list.replaceChildren(
    ...conversations.map((c) =>
      h('li', { class: `conversation-item${c.id === currentId ? ' current' : ''}`, dataset: { id: c.id } },
        h('button', { type: 'button', class: 'conversation-open', dataset: { action: 'open-conversation', id: c.id }, 'aria-current': c.id === currentId ? 'page' : null }, c.title || 'New chat'),
        h('button', { type: 'button', class: 'icon-button conversation-delete', dataset: { action: 'delete-conversation', id: c.id }, 'aria-label': `Delete the chat "${c.title || 'New chat'}"` }, '✕'),
      ),
    ),
  );
}

/** The tokens/s and context line under the composer. */
export function statsLine(conversation, contextTokens) {
  const last = conversation?.messages.findLast((m) => m.role === 'assistant' && m.usage);
  if (!last) return contextTokens ? `Context: 0 of ${contextTokens.toLocaleString('en-US')} tokens` : '';
  const used = last.usage.prompt_tokens + last.usage.completion_tokens;
  const parts = [];
  if (last.timings) {
    parts.push(`${formatRate(last.timings.decode_tokens_per_s)} tokens/s`);
    parts.push(`prompt ${formatRate(last.timings.prefill_tokens_per_s)} tokens/s`);
  }
  if (contextTokens) parts.push(`context: ${used.toLocaleString('en-US')} of ${contextTokens.toLocaleString('en-US')} tokens (${Math.round((100 * used) / contextTokens)} %)`);
  else parts.push(`context: ${used.toLocaleString('en-US')} tokens`);
  return parts.join(' · ');
}
