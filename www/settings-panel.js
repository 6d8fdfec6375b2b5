// The settings dialog: system prompt and sampling, theme, which tools are offered and which
// run without asking, the user's own tools (tool-editor.js) and the notes the model kept.

import { byId, h, show } from './dom.js';
import { DEFAULT_SETTINGS, applyTheme, toolSettings } from './settings.js';
import { noteStore } from './store.js';
import { ToolEditor } from './tool-editor.js';
import { BUILTIN_TOOLS } from './tools/index.js';

/** Number inputs and the settings they edit. */
const NUMBER_FIELDS = [
  ['temperature', 'temperature'],
  ['top-p', 'top_p'],
  ['top-k', 'top_k'],
  ['repetition-penalty', 'repetition_penalty'],
  ['max-tokens', 'max_tokens'],
];

export class SettingsPanel {
  /**
   * `settings` (live object), `save()` persists it, `userTools` (live array, changed by the
   * editor), `onChange()` after any change (the app rebuilds its toolbox).
   */
  constructor({ settings, save, userTools, onChange }) {
    Object.assign(this, { settings, save, userTools, onChange });
    this.dialog = byId('settings-dialog');
    this.editor = new ToolEditor({ userTools, settings, onChange: () => this.#changed(true) });
  }

  init() {
    const s = this.settings;
    const system = byId('system-prompt');
    system.value = s.systemPrompt;
    system.addEventListener('input', () => {
      s.systemPrompt = system.value;
      this.#changed();
    });
    for (const [id, key] of NUMBER_FIELDS) {
      const input = byId(id);
      input.value = String(s[key]);
      input.addEventListener('change', () => {
        const value = Number(input.value);
        const ok = input.value !== '' && Number.isFinite(value) && value >= Number(input.min) && value <= Number(input.max);
        input.setAttribute('aria-invalid', String(!ok));
        if (!ok) return;
        s[key] = key === 'top_k' || key === 'max_tokens' ? Math.round(value) : value;
        this.#changed();
      });
    }
    byId('reset-sampling').addEventListener('click', () => {
      for (const [id, key] of NUMBER_FIELDS) {
        s[key] = DEFAULT_SETTINGS[key];
        byId(id).value = String(s[key]);
        byId(id).removeAttribute('aria-invalid');
      }
      this.#changed();
    });
    const theme = byId('theme');
    theme.value = s.theme;
    theme.addEventListener('change', () => this.setTheme(theme.value));
    const timeout = byId('tool-timeout');
    timeout.value = String(s.toolTimeoutMs / 1000);
    timeout.addEventListener('change', () => {
      const seconds = Number(timeout.value);
      if (!(seconds >= 0.1 && seconds <= 300)) return timeout.setAttribute('aria-invalid', 'true');
      timeout.removeAttribute('aria-invalid');
      s.toolTimeoutMs = Math.round(seconds * 1000);
      this.#changed();
    });
    byId('tool-settings').addEventListener('change', (e) => this.#onToolToggle(e));
    byId('tool-settings').addEventListener('click', (e) => this.#onToolAction(e));
    byId('notes-list').addEventListener('click', (e) => this.#onNoteDelete(e));
    byId('close-settings').addEventListener('click', () => this.dialog.close());
    // A click on the backdrop (outside the dialog's box) closes it.
    this.dialog.addEventListener('click', (e) => {
      if (e.target === this.dialog) this.dialog.close();
    });
    this.editor.init();
    this.renderTools();
  }

  setTheme(theme) {
    this.settings.theme = theme;
    byId('theme').value = theme;
    applyTheme(theme);
    this.#changed();
  }

  #changed(toolsChanged = false) {
    this.save();
    if (toolsChanged) this.renderTools();
    this.onChange();
  }

  async open() {
    this.renderTools();
    await this.renderNotes();
    this.dialog.showModal();
  }

  /** The table of tools: offered / approve automatically, and Edit / Delete for the user's. */
  renderTools() {
    const rows = [
      ...BUILTIN_TOOLS.map((t) => ({ name: t.name, description: t.description, user: false })),
      ...this.userTools.map((t) => ({ name: t.name, description: t.description, user: true })),
    ];
    byId('tool-settings').replaceChildren(
      ...rows.map(({ name, description, user }) => {
        const ts = toolSettings(this.settings, name);
        return h('tr', { dataset: { tool: name } },
          h('th', { scope: 'row' }, h('span', { class: 'tool-name' }, name), h('span', { class: 'tool-description' }, description || (user ? 'Your tool' : ''))),
          h('td', {}, h('input', { type: 'checkbox', dataset: { field: 'enabled' }, checked: ts.enabled, 'aria-label': `Offer ${name} to the model` })),
          h('td', {}, h('input', { type: 'checkbox', dataset: { field: 'autoApprove' }, checked: ts.autoApprove, 'aria-label': `Approve ${name} automatically` })),
          h('td', {}, user
            ? [h('button', { type: 'button', class: 'link-button', dataset: { action: 'edit-tool' }, 'aria-label': `Edit ${name}` }, 'Edit'),
              h('button', { type: 'button', class: 'link-button danger', dataset: { action: 'delete-tool' }, 'aria-label': `Delete ${name}` }, 'Delete')]
            : h('span', { class: 'hint' }, 'built in')),
        );
      }),
    );
  }

  #onToolToggle(event) {
    const input = event.target;
    const name = input.closest('tr')?.dataset.tool;
    if (!name || !input.dataset.field) return;
    toolSettings(this.settings, name)[input.dataset.field] = input.checked;
    this.#changed();
  }

  async #onToolAction(event) {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const name = button.closest('tr').dataset.tool;
    if (button.dataset.action === 'edit-tool') this.editor.edit(name);
    else if (button.dataset.action === 'delete-tool') await this.editor.remove(name);
  }

  async renderNotes() {
    const notes = await noteStore.all().catch(() => []);
    byId('notes-list').replaceChildren(
      ...notes.map((n) =>
        h('li', { class: 'note', dataset: { id: n.id } },
          h('span', { class: 'note-title' }, n.title || '(untitled)'),
          h('span', { class: 'note-text' }, n.text),
          h('button', { type: 'button', class: 'link-button danger', dataset: { action: 'delete-note' }, 'aria-label': `Delete the note ${n.title}` }, 'Delete'),
        ),
      ),
    );
    show(byId('notes-empty'), notes.length === 0);
  }

  async #onNoteDelete(event) {
    const button = event.target.closest('button[data-action="delete-note"]');
    if (!button) return;
    await noteStore.delete(Number(button.closest('li').dataset.id));
    await this.renderNotes();
  }
}
