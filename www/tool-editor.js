// The editor of the user's own tools: name, description, JSON-schema parameters and a
// JavaScript body, validated before saving; "Try it" runs the body in the sandbox worker.

import { byId, show } from './dom.js';
import { toolSettings } from './settings.js';
import { userToolStore } from './store.js';
import { BUILTIN_NAMES } from './tools/index.js';
import { runInSandbox, validateUserTool } from './tools/sandbox.js';

const EXAMPLE_PARAMETERS = JSON.stringify({ type: 'object', properties: { n: { type: 'number', description: 'A number' } }, required: ['n'] }, null, 2);

export class ToolEditor {
  /** The name of the tool being edited (null: a new one). */
  #editing = null;

  constructor({ userTools, settings, onChange }) {
    Object.assign(this, { userTools, settings, onChange });
    this.form = byId('tool-editor');
    this.fields = { name: byId('tool-name'), description: byId('tool-description'), parameters: byId('tool-parameters'), body: byId('tool-body') };
  }

  init() {
    this.fields.parameters.value = EXAMPLE_PARAMETERS;
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save();
    });
    byId('tool-try').addEventListener('click', () => this.tryIt());
    byId('tool-clear').addEventListener('click', () => this.clear());
  }

  #values() {
    return Object.fromEntries(Object.entries(this.fields).map(([k, input]) => [k, input.value]));
  }

  /** Shows the validation errors (field -> message); true when there were none. */
  #showErrors(errors) {
    for (const field of ['name', 'parameters', 'body']) {
      const message = errors[field];
      const note = byId(`tool-${field}-error`);
      note.textContent = message ?? '';
      show(note, Boolean(message));
      this.fields[field].setAttribute('aria-invalid', String(Boolean(message)));
    }
    const first = ['name', 'parameters', 'body'].find((f) => errors[f]);
    if (first) this.fields[first].focus();
    return !first;
  }

  #validate() {
    const taken = [...BUILTIN_NAMES, ...this.userTools.map((t) => t.name).filter((n) => n !== this.#editing)];
    const { tool, errors } = validateUserTool(this.#values(), taken);
    return this.#showErrors(errors) ? tool : null;
  }

  async save() {
    const tool = this.#validate();
    if (!tool) return;
    if (this.#editing && this.#editing !== tool.name) await this.remove(this.#editing, { quiet: true });
    await userToolStore.put(tool);
    const at = this.userTools.findIndex((t) => t.name === tool.name);
    if (at === -1) this.userTools.push(tool);
    else this.userTools[at] = tool;
    toolSettings(this.settings, tool.name);
    this.#result(`Saved ${tool.name}. It is offered to the model from the next message.`);
    this.#editing = null;
    this.onChange();
  }

  async tryIt() {
    const tool = this.#validate();
    if (!tool) return;
    let args;
    try {
      args = JSON.parse(byId('tool-test-args').value || '{}');
    } catch (e) {
      this.#result(`The test arguments are not valid JSON: ${e.message}`, true);
      return;
    }
    this.#result('Running…');
    const t0 = performance.now();
    try {
      const value = await runInSandbox(tool.body, args, { timeoutMs: this.settings.toolTimeoutMs });
      this.#result(`Result (${Math.round(performance.now() - t0)} ms):\n${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}`);
    } catch (e) {
      this.#result(`Error: ${e.message}`, true);
    }
  }

  /** Shows `text` under the editor (as text). */
  #result(text, isError = false) {
    const out = byId('tool-try-result');
    out.textContent = text;
    out.classList.toggle('error', isError);
    show(out);
  }

  edit(name) {
    const tool = this.userTools.find((t) => t.name === name);
    if (!tool) return;
    this.#editing = name;
    this.fields.name.value = tool.name;
    this.fields.description.value = tool.description;
    this.fields.parameters.value = JSON.stringify(tool.parameters, null, 2);
    this.fields.body.value = tool.body;
    this.#showErrors({});
    this.fields.name.focus();
  }

  async remove(name, { quiet = false } = {}) {
    await userToolStore.delete(name);
    const at = this.userTools.findIndex((t) => t.name === name);
    if (at !== -1) this.userTools.splice(at, 1);
    delete this.settings.tools[name];
    if (!quiet) {
      if (this.#editing === name) this.clear();
      this.onChange();
    }
  }

  clear() {
    this.#editing = null;
    this.fields.name.value = '';
    this.fields.description.value = '';
    this.fields.parameters.value = EXAMPLE_PARAMETERS;
    this.fields.body.value = '';
    this.#showErrors({});
    show(byId('tool-try-result'), false);
  }
}
