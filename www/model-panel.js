// The model panel: checks WebGPU, offers the catalog, a URL or a local file (picker or drag
// and drop), loads the choice with createEngine showing progress, and lists the downloaded
// (cached) models with their size and a Delete button.

import { createEngine, deleteCachedModel, listCachedModels } from 'lfm-webgpu';

import { byId, h, show } from './dom.js';
import { describeError } from './errors.js';
import { formatBytes } from './format.js';
import { DEFAULT_MODEL, MODELS, modelForUrl, modelName } from './models.js';
import { ProgressMeter } from './progress.js';

/**
 * Whether this browser can run the model: `{ ok: true, adapter }` or `{ ok: false, reason }`
 * with `reason` a sentence for people.
 */
export async function checkWebGpu() {
  if (!window.isSecureContext) {
    return { ok: false, reason: 'This page is not a secure context (it was opened over plain http from another machine), and browsers only offer WebGPU to secure pages.' };
  }
  if (!navigator.gpu) return { ok: false, reason: 'This browser does not offer WebGPU (navigator.gpu is missing): it is too old, or WebGPU is switched off.' };
  let adapter = null;
  try {
    adapter = await navigator.gpu.requestAdapter();
  } catch (e) {
    return { ok: false, reason: `The browser could not reach the GPU: ${e.message}` };
  }
  if (!adapter) {
    return { ok: false, reason: 'This browser has WebGPU but found no usable GPU: hardware acceleration may be off, or the GPU or its driver is blocklisted.' };
  }
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ');
  return { ok: true, adapter: name || 'a WebGPU adapter' };
}

export class ModelPanel {
  /** The chosen local File (from the picker or a drop). */
  #file = null;
  #loading = null; // AbortController of the load in progress

  /**
   * `settings` (live object; `save()` persists it), `onLoaded(engine, name)` when a model is
   * ready, `beforeLoad()` (resolves once the previous engine is unloaded), `onProgress(view)`
   * for tests, `onSettled()` when a load ended either way.
   */
  constructor({ settings, save, onLoaded, beforeLoad, onProgress, onSettled }) {
    Object.assign(this, { settings, save, onLoaded, beforeLoad, onProgress, onSettled });
    this.root = byId('model-panel');
    this.urlInput = byId('model-url');
    this.fileInput = byId('model-file');
    this.loadButton = byId('load-model');
    this.cancelButton = byId('cancel-load');
    this.errorText = byId('load-error');
  }

  /** Fills the panel; returns the WebGPU check's result (the panel stays hidden without WebGPU). */
  async init() {
    this.#renderCatalog();
    const context = byId('context-tokens');
    context.value = String(this.settings.contextTokens);
    context.addEventListener('change', () => this.#saveOption('contextTokens', Number(context.value)));
    const cache = byId('cache-downloads');
    cache.checked = this.settings.cacheDownloads;
    cache.addEventListener('change', () => this.#saveOption('cacheDownloads', cache.checked));

    const last = this.settings.lastModelUrl;
    if (last && !modelForUrl(last)) {
      this.urlInput.value = last;
      this.#select('url');
    }
    this.urlInput.addEventListener('input', () => this.#select('url'));
    this.urlInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') this.load();
    });
    this.fileInput.addEventListener('change', () => this.#takeFile(this.fileInput.files[0]));
    this.#enableDrop();
    this.loadButton.addEventListener('click', () => this.load());
    this.cancelButton.addEventListener('click', () => this.#loading?.abort());
    this.root.addEventListener('change', (e) => {
      if (e.target.name === 'model-choice') this.#updateLoadLabel();
    });
    byId('cached-list').addEventListener('click', (e) => this.#onCachedClick(e));

    const gpu = await checkWebGpu();
    this.gpuOk = gpu.ok;
    if (gpu.ok) {
      byId('webgpu-adapter').textContent = `WebGPU: ${gpu.adapter}.`;
      await this.refreshCached();
    } else {
      byId('webgpu-missing-reason').textContent = gpu.reason;
      show(byId('webgpu-missing'));
    }
    this.#updateLoadLabel();
    return gpu;
  }

  #saveOption(key, value) {
    this.settings[key] = value;
    this.save();
  }

  #renderCatalog() {
    const selected = modelForUrl(this.settings.lastModelUrl) ?? DEFAULT_MODEL;
    byId('catalog').replaceChildren(
      ...MODELS.map((m) =>
        h('div', { class: 'choice catalog-choice' },
          h('input', { type: 'radio', name: 'model-choice', id: `choice-${m.id}`, value: m.id, checked: m === selected }),
          h('label', { for: `choice-${m.id}` },
            h('span', { class: 'model-name' }, `${m.label} `, h('span', { class: 'quant' }, 'Q4_K_M')),
            h('span', { class: 'model-size', dataset: { url: m.url } }, `about ${formatBytes(m.approxBytes)}`),
            h('span', { class: 'model-description' }, m.description),
          ),
        ),
      ),
    );
  }

  #select(value) {
    const radio = this.root.querySelector(`input[name="model-choice"][value="${value}"]`);
    if (radio) radio.checked = true;
    this.#updateLoadLabel();
  }

  #takeFile(file) {
    if (!file) return;
    this.#file = file;
    this.#select('file');
    byId('picked-file').textContent = `Chosen: ${file.name} (${formatBytes(file.size)})`;
    this.#setError(/\.gguf$/i.test(file.name) ? null : `${file.name} does not end in .gguf; it will be tried anyway.`);
    this.#updateLoadLabel();
  }

  #enableDrop() {
    const zone = byId('drop-zone');
    // Anywhere on the page: a file dropped outside the zone would otherwise make the browser open it.
    document.addEventListener('dragover', (e) => {
      if (!e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      zone.classList.add('dragging');
    });
    document.addEventListener('dragleave', (e) => {
      if (e.relatedTarget === null) zone.classList.remove('dragging');
    });
    document.addEventListener('drop', (e) => {
      if (!e.dataTransfer?.files.length) return;
      e.preventDefault();
      zone.classList.remove('dragging');
      if (!this.gpuOk || this.#loading) return;
      if (this.root.hidden) this.open({ closable: true }); // dropped while chatting: offer it
      this.#takeFile(e.dataTransfer.files[0]);
    });
  }

  /** What the radio group selects: `{ source, name, approxBytes?, url? }` or an error string. */
  #choice() {
    const value = this.root.querySelector('input[name="model-choice"]:checked')?.value;
    if (value === 'file') return this.#file ? { source: this.#file, name: modelName(this.#file.name) } : 'Choose a .gguf file first (or drop one on the page).';
    if (value === 'url') {
      const text = this.urlInput.value.trim();
      if (!text) return 'Type the URL of a .gguf file first.';
      let url;
      try {
        url = new URL(text, location.href);
      } catch {
        return `'${text}' is not a URL.`;
      }
      if (url.origin !== location.origin && url.protocol !== 'https:') return 'Only https:// URLs (or files on this server) can be downloaded.';
      return { source: url.href, url: url.href, name: modelName(url.href) };
    }
    const model = MODELS.find((m) => m.id === value) ?? DEFAULT_MODEL;
    return { source: model.url, url: model.url, name: `${model.label} Q4_K_M`, approxBytes: model.approxBytes };
  }

  #updateLoadLabel() {
    const choice = this.#choice();
    let label = 'Load';
    if (typeof choice === 'object' && choice.approxBytes) {
      label = this.cachedUrls?.has(choice.url) ? 'Load (downloaded)' : `Download (about ${formatBytes(choice.approxBytes)}) and load`;
    }
    this.loadButton.textContent = label;
  }

  /** Loads the selected model. */
  async load() {
    if (this.#loading) return;
    const choice = this.#choice();
    if (typeof choice === 'string') {
      this.#setError(choice);
      return;
    }
    this.#setError(null);
    const controller = (this.#loading = new AbortController());
    const meter = new ProgressMeter();
    show(this.loadButton, false);
    show(this.cancelButton);
    show(byId('load-progress'));
    this.#showProgress({ label: `Preparing ${choice.name}`, fraction: null, detail: '' });
    let engine = null;
    try {
      await this.beforeLoad();
      engine = await createEngine({
        model: choice.source,
        signal: controller.signal,
        contextTokens: this.settings.contextTokens,
        cache: this.settings.cacheDownloads,
        onProgress: (p) => {
          const view = meter.update(p);
          this.#showProgress({ ...view, label: p.phase === 'download' ? `Downloading ${choice.name}` : view.label });
          this.onProgress?.(p, view);
        },
      });
      if (choice.url) this.#saveOption('lastModelUrl', choice.url);
    } catch (e) {
      this.#setError(`Could not load ${choice.name}. ${describeError(e)}`);
    } finally {
      this.#loading = null;
      show(byId('load-progress'), false);
      show(this.loadButton);
      show(this.cancelButton, false);
      this.refreshCached();
    }
    if (engine) this.onLoaded(engine, choice.name);
    this.onSettled?.();
  }

  #showProgress({ label, fraction, detail }) {
    byId('progress-label').textContent = label;
    const bar = byId('progress-bar');
    if (fraction === null || fraction === undefined) bar.removeAttribute('value'); // indeterminate
    else bar.value = fraction;
    byId('progress-detail').textContent = detail;
  }

  #setError(message) {
    this.errorText.textContent = message ?? '';
    show(this.errorText, Boolean(message));
  }

  /** Lists the cached models again. */
  async refreshCached() {
    const list = byId('cached-list');
    let models = [];
    try {
      models = await listCachedModels();
    } catch (e) {
      list.replaceChildren();
      byId('cached-empty').textContent = `The download cache is not available in this browser (${e.message}).`;
      show(byId('cached-empty'));
      return;
    }
    this.cachedUrls = new Set(models.filter((m) => m.complete).map((m) => m.url));
    list.replaceChildren(
      ...models.map((m) => {
        const name = modelName(m.url);
        const size = m.complete ? formatBytes(m.sizeBytes) : `${formatBytes(m.sizeBytes)} of ${m.totalBytes ? formatBytes(m.totalBytes) : '?'}, partial: loading it resumes the download`;
        return h('li', { class: 'cached-model', dataset: { url: m.url } },
          h('span', { class: 'cached-name', title: m.url }, name),
          h('span', { class: 'cached-size' }, size),
          h('span', { class: 'cached-actions' },
            h('button', { type: 'button', class: 'button', dataset: { action: 'load' }, 'aria-label': `Load ${name}` }, 'Load'),
            h('button', { type: 'button', class: 'button danger', dataset: { action: 'delete' }, 'aria-label': `Delete the downloaded ${name}` }, 'Delete'),
          ),
        );
      }),
    );
    show(byId('cached-empty'), models.length === 0);
    for (const label of this.root.querySelectorAll('.model-size')) {
      const known = models.find((m) => m.url === label.dataset.url && m.complete);
      const approx = MODELS.find((m) => m.url === label.dataset.url).approxBytes;
      label.textContent = known ? `${formatBytes(known.sizeBytes)}, downloaded` : `about ${formatBytes(approx)}`;
    }
    this.#updateLoadLabel();
  }

  async #onCachedClick(event) {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const { url } = button.closest('li').dataset;
    if (button.dataset.action === 'delete') {
      button.disabled = true;
      try {
        await deleteCachedModel(url);
      } catch (e) {
        this.#setError(`Could not delete ${modelName(url)}: ${e.message}`);
      }
      await this.refreshCached();
    } else {
      const known = modelForUrl(url);
      if (known) this.#select(known.id);
      else {
        this.urlInput.value = url;
        this.#select('url');
      }
      await this.load();
    }
  }

  open({ closable }) {
    show(this.root);
    show(byId('close-model-panel'), closable);
    this.refreshCached();
  }

  close() {
    if (!this.#loading) show(this.root, false);
  }

  get loading() {
    return Boolean(this.#loading);
  }
}
