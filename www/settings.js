// The page's settings: defaults, loading (merged over the defaults, so new fields appear
// for people with older saved settings) and the theme.

import { settingsStore } from './store.js';

export const DEFAULT_SETTINGS = {
  systemPrompt: '',
  // The model card's sampling defaults.
  temperature: 0.2,
  top_p: 1,
  top_k: 80,
  repetition_penalty: 1.05,
  max_tokens: 1024,
  /** Per tool: { enabled, autoApprove }; tools without an entry are enabled and ask first. */
  tools: {},
  toolTimeoutMs: 5000,
  /** createEngine options for the next load. */
  contextTokens: 4096,
  cacheDownloads: true,
  /** The last model loaded from a URL (preselected next time). */
  lastModelUrl: null,
  theme: 'system',
};

export async function loadSettings() {
  const saved = await settingsStore.get().catch(() => null);
  return { ...structuredClone(DEFAULT_SETTINGS), ...(saved ?? {}) };
}

export function saveSettings(settings) {
  return settingsStore.put(settings);
}

/** The per-tool settings of `name` (a live object inside `settings`). */
export function toolSettings(settings, name) {
  settings.tools[name] ??= { enabled: true, autoApprove: false };
  return settings.tools[name];
}

// The theme is also kept in localStorage: it is read synchronously at start-up, before the
// database answers, so a dark page does not flash white.
const THEME_KEY = 'lfm-chat-theme';

/** Applies 'system' | 'light' | 'dark' to the page. */
export function applyTheme(theme) {
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  try {
    localStorage.setItem(THEME_KEY, theme);
  } catch {}
}

export function savedTheme() {
  try {
    return localStorage.getItem(THEME_KEY) ?? 'system';
  } catch {
    return 'system';
  }
}

/** The theme in effect: 'dark' or 'light'. */
export function effectiveTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen) return chosen;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
