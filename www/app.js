// The chat page: wires the model panel, the conversation list, the chat view, the tool loop
// and the settings together. State lives in `state`; everything persistent is in IndexedDB
// (store.js); the model runs in the lfm-webgpu engine's worker.

import { runTurn } from './chat-runner.js';
import { ChatView, renderConversationList, statsLine } from './chat-view.js';
import { lastUserIndex, newConversation, newMessage, titleFrom, touch } from './conversation.js';
import { byId, show } from './dom.js';
import { describeError } from './errors.js';
import { ModelPanel } from './model-panel.js';
import { SettingsPanel } from './settings-panel.js';
import { applyTheme, effectiveTheme, loadSettings, saveSettings, savedTheme, toolSettings } from './settings.js';
import { conversationStore, userToolStore } from './store.js';
import { installTestHooks } from './test-hooks.js';
import { createToolbox } from './tools/index.js';

applyTheme(savedTheme());

const state = {
  settings: null,
  userTools: [],
  toolbox: null,
  engine: null,
  modelName: null,
  conversations: [],
  conversation: null,
  /** The running turn: { controller, conversation }. */
  turn: null,
  /** UI-only state the view reads. */
  ui: { pending: new Map(), runningTools: new Set(), running: false, editingId: null, version: 0, autoApprove: (name) => state.toolbox?.autoApprove(name) ?? false },
};

const testHooks = installTestHooks();
const view = new ChatView(byId('messages'), byId('scroller'));
const prompt = byId('prompt');
let modelPanel;
let settingsPanel;

// ---------------------------------------------------------------------------------------
// Rendering (at most once per animation frame: streaming changes the answer per token)

let frame = 0;
let renderedListKey = '';

/** Sets `node`'s text only when it differs (live regions would announce it again). */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function scheduleRender() {
  frame ||= requestAnimationFrame(renderNow);
}

function renderNow() {
  cancelAnimationFrame(frame);
  frame = 0;
  view.render(state.conversation, state.ui);
  // The list only when it changed: rebuilding it every frame would lose keyboard focus in it.
  const listKey = JSON.stringify([state.conversation?.id, state.conversations.map((c) => [c.id, c.title])]);
  if (listKey !== renderedListKey) {
    renderedListKey = listKey;
    renderConversationList(byId('conversation-list'), state.conversations, state.conversation?.id);
  }
  show(byId('conversation-empty'), state.conversations.length === 0);
  const running = Boolean(state.turn);
  prompt.disabled = !state.engine;
  byId('send').disabled = !state.engine || running;
  show(byId('send'), !running);
  show(byId('stop'), running);
  setText(byId('chat-stats'), state.engine ? statsLine(state.conversation, state.engine.stats().contextTokens) : '');
  setText(byId('model-status'), state.engine ? `Model: ${state.modelName}` : modelPanel?.loading ? 'Loading a model…' : 'No model loaded');
  byId('toggle-theme').setAttribute('aria-label', effectiveTheme() === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme');
}

function showChatError(message) {
  const node = byId('chat-error');
  node.textContent = message ?? '';
  show(node, Boolean(message));
}

// ---------------------------------------------------------------------------------------
// Conversations

async function refreshConversations() {
  state.conversations = await conversationStore.all();
}

function saveConversation(conversation) {
  return conversationStore.put(conversation).catch((e) => showChatError(`Could not save the chat: ${e.message}`));
}

async function openConversation(id) {
  if (id && id === state.conversation?.id) {
    closeSidebar();
    return;
  }
  stopTurn();
  const conversation = id ? await conversationStore.get(id) : null;
  state.conversation = conversation ?? newConversation();
  state.ui.editingId = null;
  view.reset();
  showChatError(null);
  closeSidebar();
  renderNow();
  // The latest messages, unless a panel above them asks for attention first.
  const panelShown = !byId('model-panel').hidden || !byId('webgpu-missing').hidden;
  byId('scroller').scrollTop = panelShown ? 0 : byId('scroller').scrollHeight;
}

async function deleteConversation(id) {
  if (state.turn?.conversation.id === id) stopTurn();
  await conversationStore.delete(id);
  await refreshConversations();
  if (state.conversation?.id === id) await openConversation(state.conversations[0]?.id ?? null);
  else renderNow();
}

// ---------------------------------------------------------------------------------------
// Turns: the user's message in, the model's answer (and tool calls) out

async function send(text) {
  if (!text.trim() || state.turn) return;
  if (!state.engine) {
    showChatError('Load a model first (the Model button).');
    return;
  }
  const conversation = state.conversation;
  if (!conversation.messages.some((m) => m.role === 'user')) conversation.title = titleFrom(text);
  conversation.messages.push(newMessage('user', { content: text }));
  prompt.value = '';
  await answer(conversation);
}

/** Runs the model's turn for the end of `conversation`. */
async function answer(conversation) {
  const controller = new AbortController();
  state.turn = { controller, conversation };
  state.ui.running = true;
  showChatError(null);
  conversation.updatedAt = Date.now();
  renderNow();
  byId('scroller').scrollTop = byId('scroller').scrollHeight; // show the question, then follow the answer
  await saveConversation(conversation);
  await refreshConversations();
  renderNow();
  const visible = () => state.conversation === conversation;
  try {
    await runTurn({
      engine: state.engine,
      conversation,
      settings: state.settings,
      toolbox: state.toolbox,
      signal: controller.signal,
      changed: () => visible() && scheduleRender(),
      save: () => saveConversation(conversation),
      approve: (call) => askApproval(conversation, call, controller.signal),
      running: (callId, on) => {
        if (on) state.ui.runningTools.add(callId);
        else state.ui.runningTools.delete(callId);
        touchCallMessage(conversation, callId);
      },
      forcedOutput: testHooks?.nextForcedOutput,
    });
  } catch (e) {
    showChatError(describeError(e));
  } finally {
    if (state.turn?.controller === controller) state.turn = null;
    state.ui.running = Boolean(state.turn);
    await refreshConversations();
    renderNow();
    if (visible() && document.activeElement === document.body) prompt.focus();
  }
}

/** Marks the assistant message holding `callId` changed (its card's status changed). */
function touchCallMessage(conversation, callId) {
  const message = conversation.messages.find((m) => m.tool_calls?.some((c) => c.id === callId));
  if (message) touch(message);
  if (state.conversation === conversation) scheduleRender();
}

/** Shows Approve / Deny on the call's card; resolves with the choice (false when stopped). */
function askApproval(conversation, call, signal) {
  return new Promise((resolve) => {
    const settle = (approved) => {
      state.ui.pending.delete(call.id);
      signal.removeEventListener('abort', onAbort);
      touchCallMessage(conversation, call.id);
      resolve(approved);
    };
    const onAbort = () => settle(false);
    signal.addEventListener('abort', onAbort, { once: true });
    state.ui.pending.set(call.id, settle);
    touchCallMessage(conversation, call.id);
  });
}

function stopTurn() {
  state.turn?.controller.abort();
}

/** Regenerates the last answer: everything after the last user message goes. */
async function regenerate() {
  const conversation = state.conversation;
  const at = lastUserIndex(conversation.messages);
  if (at === -1 || state.turn) return;
  if (!state.engine) {
    showChatError('Load a model first (the Model button).');
    return;
  }
  conversation.messages.splice(at + 1);
  await answer(conversation);
}

/** Replaces a user message's text, drops everything after it and answers again. */
async function saveEdit(id, text) {
  const conversation = state.conversation;
  const at = conversation.messages.findIndex((m) => m.id === id);
  if (at === -1 || !text.trim() || state.turn) return;
  if (!state.engine) {
    showChatError('Load a model first (the Model button): the edited message is answered again.');
    return;
  }
  state.ui.editingId = null;
  const message = conversation.messages[at];
  message.content = text;
  touch(message);
  conversation.messages.splice(at + 1);
  if (conversation.messages.findIndex((m) => m.role === 'user') === at) conversation.title = titleFrom(text);
  await answer(conversation);
}

// ---------------------------------------------------------------------------------------
// The model

function onModelLoaded(engine, name) {
  state.engine = engine;
  state.modelName = name;
  engine.addEventListener('error', (e) => {
    // The GPU device was lost: this engine is dead; a new one can be created without a reload.
    stopTurn();
    state.engine = null;
    showChatError(describeError(e.error));
    modelPanel.open({ closable: false });
    renderNow();
  });
  modelPanel.close();
  testHooks?.loaded(engine);
  renderNow();
  prompt.focus();
}

async function unloadModel() {
  stopTurn();
  const engine = state.engine;
  state.engine = null;
  renderNow();
  await engine?.unload().catch(() => {});
}

function rebuildToolbox() {
  state.toolbox = createToolbox(state.settings, state.userTools);
  state.ui.version += 1;
  scheduleRender();
}

// ---------------------------------------------------------------------------------------
// Events

function closeSidebar() {
  document.body.classList.remove('sidebar-open');
  byId('toggle-sidebar').setAttribute('aria-expanded', 'false');
}

function wireEvents() {
  byId('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send(prompt.value);
  });
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send(prompt.value);
    }
  });
  byId('stop').addEventListener('click', stopTurn);
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || document.querySelector('dialog[open]')) return;
    if (document.body.classList.contains('sidebar-open')) {
      closeSidebar();
      byId('toggle-sidebar').focus();
    } else if (state.turn) {
      e.preventDefault();
      stopTurn();
    }
  });
  // On phones the conversation list is a drawer: a tap outside it closes it.
  document.addEventListener('click', (e) => {
    if (document.body.classList.contains('sidebar-open') && !e.target.closest('#sidebar, #toggle-sidebar')) closeSidebar();
  });
  byId('new-chat').addEventListener('click', () => openConversation(null).then(() => prompt.focus()));
  byId('conversation-list').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    if (button.dataset.action === 'open-conversation') openConversation(button.dataset.id);
    else deleteConversation(button.dataset.id);
  });
  byId('messages').addEventListener('click', onMessageClick);
  byId('messages').addEventListener('change', (e) => {
    const box = e.target.closest('input[data-action="always"]');
    if (!box) return;
    toolSettings(state.settings, box.dataset.tool).autoApprove = box.checked;
    saveSettings(state.settings);
    rebuildToolbox();
  });
  byId('messages').addEventListener('keydown', (e) => {
    const editor = e.target.closest('textarea[data-edit-for]');
    if (!editor) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      saveEdit(editor.dataset.editFor, editor.value);
    } else if (e.key === 'Escape') {
      state.ui.editingId = null;
      renderNow();
    }
  });
  byId('open-model').addEventListener('click', () => {
    modelPanel.open({ closable: Boolean(state.engine) });
    byId('model-panel-title').scrollIntoView();
  });
  byId('close-model-panel').addEventListener('click', () => modelPanel.close());
  byId('open-settings').addEventListener('click', () => settingsPanel.open());
  byId('toggle-theme').addEventListener('click', () => {
    settingsPanel.setTheme(effectiveTheme() === 'dark' ? 'light' : 'dark');
    renderNow();
  });
  byId('toggle-sidebar').addEventListener('click', () => {
    const open = document.body.classList.toggle('sidebar-open');
    byId('toggle-sidebar').setAttribute('aria-expanded', String(open));
  });
}

async function onMessageClick(e) {
  const button = e.target.closest('button[data-action]');
  if (!button) return;
  const { action, id, call } = button.dataset;
  if (action === 'approve' || action === 'deny') state.ui.pending.get(call)?.(action === 'approve');
  else if (action === 'regenerate') regenerate();
  else if (action === 'edit') {
    state.ui.editingId = id;
    renderNow();
    byId('messages').querySelector(`textarea[data-edit-for="${id}"]`)?.focus();
  } else if (action === 'cancel-edit') {
    state.ui.editingId = null;
    renderNow();
  } else if (action === 'save-edit') {
    saveEdit(id, byId('messages').querySelector(`textarea[data-edit-for="${id}"]`).value);
  } else if (action === 'copy') {
    const message = state.conversation.messages.find((m) => m.id === id);
    await navigator.clipboard?.writeText(message?.content ?? '').catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------
// Start-up

async function main() {
  state.settings = await loadSettings();
  applyTheme(state.settings.theme);
  state.userTools = await userToolStore.all().catch(() => []);
  rebuildToolbox();
  const save = () => saveSettings(state.settings).catch((e) => showChatError(`Could not save the settings: ${e.message}`));
  settingsPanel = new SettingsPanel({ settings: state.settings, save, userTools: state.userTools, onChange: rebuildToolbox });
  settingsPanel.init();
  modelPanel = new ModelPanel({
    settings: state.settings,
    save,
    onLoaded: onModelLoaded,
    beforeLoad: unloadModel,
    onProgress: (p, progressView) => testHooks?.progress(p, progressView),
    onSettled: renderNow,
  });
  wireEvents();
  await refreshConversations();
  await openConversation(state.conversations[0]?.id ?? null);
  const gpu = await modelPanel.init();
  if (gpu.ok) modelPanel.open({ closable: false });
  byId('scroller').scrollTop = 0; // the model panel (or the WebGPU explanation) comes first
  document.documentElement.dataset.ready = gpu.ok ? 'webgpu' : 'no-webgpu';
  renderNow();
}

main().catch((e) => {
  console.error(e);
  showChatError(`The page could not start: ${e.message}`);
  document.documentElement.dataset.ready = 'error';
});
