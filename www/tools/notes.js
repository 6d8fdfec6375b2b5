// The notes tools: the model can add, search and list notes kept in this browser's IndexedDB.

import { noteStore } from '../store.js';

/** A note as the model sees it. */
const shown = ({ id, title, text, createdAt }) => ({ id, title, text, created: createdAt });

export const noteTools = [
  {
    name: 'add_note',
    description: "Saves a note in the user's notebook (kept in this browser).",
    parameters: {
      type: 'object',
      properties: {
        title: { type: 'string', description: 'A short title' },
        text: { type: 'string', description: 'The note itself' },
      },
      required: ['title', 'text'],
    },
    async run({ title, text }) {
      if (!String(title ?? '').trim() && !String(text ?? '').trim()) throw new Error('a note needs a title or a text');
      const id = await noteStore.add({ title, text });
      return { saved: true, id };
    },
  },
  {
    name: 'search_notes',
    description: "Finds the user's notes whose title or text contains all the words of a query.",
    parameters: {
      type: 'object',
      properties: { query: { type: 'string', description: 'Words to look for' } },
      required: ['query'],
    },
    async run({ query }) {
      const found = await noteStore.search(query);
      return { query, count: found.length, notes: found.map(shown) };
    },
  },
  {
    name: 'list_notes',
    description: "Lists all of the user's notes.",
    parameters: { type: 'object', properties: {} },
    async run() {
      const notes = await noteStore.all();
      return { count: notes.length, notes: notes.map(shown) };
    },
  },
];
