// The models offered in the picker: Liquid AI's official GGUF files on the Hugging Face Hub.
// Sizes are approximate and shown before anything is downloaded (no request just to show a
// size); the exact size appears once the download starts.

const HUB = 'https://huggingface.co';

/** The URL of `file` in the Hub repository `repo`, on its main branch. */
export function hubUrl(repo, file) {
  return `${HUB}/${repo}/resolve/main/${file}`;
}

/** `id` is used in element ids and CSS selectors: letters, digits, - and _ only. */
function entry(id, label, repo, approxBytes, description) {
  const file = `${repo.split('/')[1].replace(/-GGUF$/, '')}-Q4_K_M.gguf`;
  return { id, label, repo, file, url: hubUrl(repo, file), approxBytes, description };
}

/** The catalog, the default first. */
export const MODELS = [
  entry('lfm2_5-8b-a1b', 'LFM2.5-8B-A1B', 'LiquidAI/LFM2.5-8B-A1B-GGUF', 5.1e9,
    'Mixture of experts: 8B parameters, 1.5B active per token. The best answers and tool use; needs a GPU with about 6 GB free.'),
  entry('lfm2-8b-a1b', 'LFM2-8B-A1B', 'LiquidAI/LFM2-8B-A1B-GGUF', 5.0e9,
    'The first-generation mixture of experts (8B, 1.5B active).'),
  entry('lfm2_5-1_2b-instruct', 'LFM2.5-1.2B-Instruct', 'LiquidAI/LFM2.5-1.2B-Instruct-GGUF', 0.73e9,
    'Small and quick, for laptops and phones.'),
  entry('lfm2-1_2b', 'LFM2-1.2B', 'LiquidAI/LFM2-1.2B-GGUF', 0.73e9, 'First-generation 1.2B.'),
  entry('lfm2-700m', 'LFM2-700M', 'LiquidAI/LFM2-700M-GGUF', 0.47e9, 'Tiny; fine for simple chats.'),
  entry('lfm2-350m', 'LFM2-350M', 'LiquidAI/LFM2-350M-GGUF', 0.23e9, 'The smallest; quick to try.'),
];

export const DEFAULT_MODEL = MODELS[0];

/** The catalog entry for `url`, if it is one. */
export function modelForUrl(url) {
  return MODELS.find((m) => m.url === url) ?? null;
}

/** A short name for a model URL or file name: the catalog label, else the file name without `.gguf`. */
export function modelName(urlOrName) {
  const known = modelForUrl(urlOrName);
  if (known) return `${known.label} Q4_K_M`;
  let name = String(urlOrName);
  try {
    name = new URL(name, 'http://x/').pathname.split('/').pop() || name;
  } catch {}
  return decodeURIComponent(name).replace(/\.gguf$/i, '');
}
