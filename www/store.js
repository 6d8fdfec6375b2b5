// Everything the page keeps, in this browser's IndexedDB (nothing leaves the device):
//   conversations  { id, title, createdAt, updatedAt, messages: [...] }
//   settings       one record, key 'settings'
//   notes          { id, title, text, createdAt } (the notes tools read and write these)
//   userTools      { name, description, parameters, body } (tools the user wrote)

const DB_NAME = 'lfm-chat';
const DB_VERSION = 1;

let opened = null;

function openDb() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains('conversations')) db.createObjectStore('conversations', { keyPath: 'id' });
      if (!db.objectStoreNames.contains('settings')) db.createObjectStore('settings');
      if (!db.objectStoreNames.contains('notes')) db.createObjectStore('notes', { keyPath: 'id', autoIncrement: true });
      if (!db.objectStoreNames.contains('userTools')) db.createObjectStore('userTools', { keyPath: 'name' });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error('the chat database is blocked by another tab of this page; close it and reload'));
  }).catch((e) => {
    opened = null;
    throw e;
  });
  return opened;
}

/** Runs `f(objectStore)` in a transaction; resolves with the value of the request `f` returns. */
async function withStore(name, mode, f) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(name, mode);
    const request = f(tx.objectStore(name));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('the database transaction was aborted'));
  });
}

/** A plain copy without runtime-only fields (names starting with `_`), safe to store. */
function storable(value) {
  return JSON.parse(JSON.stringify(value, (key, v) => (key.startsWith('_') ? undefined : v)));
}

export const conversationStore = {
  /** Every conversation, most recently updated first. */
  async all() {
    const list = await withStore('conversations', 'readonly', (s) => s.getAll());
    return list.sort((a, b) => b.updatedAt - a.updatedAt);
  },
  get(id) {
    return withStore('conversations', 'readonly', (s) => s.get(id));
  },
  put(conversation) {
    return withStore('conversations', 'readwrite', (s) => s.put(storable(conversation)));
  },
  delete(id) {
    return withStore('conversations', 'readwrite', (s) => s.delete(id));
  },
};

export const settingsStore = {
  async get() {
    return (await withStore('settings', 'readonly', (s) => s.get('settings'))) ?? null;
  },
  put(settings) {
    return withStore('settings', 'readwrite', (s) => s.put(storable(settings), 'settings'));
  },
};

export const noteStore = {
  /** Adds a note; resolves with its id. */
  add({ title, text }) {
    return withStore('notes', 'readwrite', (s) => s.add({ title: String(title ?? ''), text: String(text ?? ''), createdAt: new Date().toISOString() }));
  },
  all() {
    return withStore('notes', 'readonly', (s) => s.getAll());
  },
  /** Notes whose title or text contains every word of `query` (any letter case). */
  async search(query) {
    const words = String(query ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    const notes = await this.all();
    return notes.filter((n) => {
      const haystack = `${n.title}\n${n.text}`.toLowerCase();
      return words.every((w) => haystack.includes(w));
    });
  },
  delete(id) {
    return withStore('notes', 'readwrite', (s) => s.delete(id));
  },
};

export const userToolStore = {
  async all() {
    const tools = await withStore('userTools', 'readonly', (s) => s.getAll());
    return tools.sort((a, b) => a.name.localeCompare(b.name));
  },
  put(tool) {
    return withStore('userTools', 'readwrite', (s) => s.put(storable(tool)));
  },
  delete(name) {
    return withStore('userTools', 'readwrite', (s) => s.delete(name));
  },
};
