// A small, safe Markdown renderer for model output: text in, DOM nodes out.
//
// Safety by construction: every piece of model text becomes a Text node (or textContent);
// elements are created with createElement from a fixed list of tags; the only attributes set
// are a link's href (http/https only, checked with the URL parser), rel, target and class
// names we choose. Raw HTML in the text is shown as text. Images are never loaded: an image
// becomes a link to it. There is no innerHTML anywhere.
//
// Supported: paragraphs (single newlines kept as line breaks), ATX headings, **bold**,
// *italic*, ~~strike~~, `code`, fenced code blocks (an unclosed fence while streaming is
// still a block), ordered / unordered / nested lists, > blockquotes, --- rules, simple pipe
// tables, [links](https://...), <https://...> and bare https:// links.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const LIST_ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])(?:\s+(.*))?$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{1,}:?\s*(?:\|\s*:?-{1,}:?\s*)*\|?\s*$/;
const ESCAPABLE = /[\\`*_{}[\]()#+\-.!|~<>"']/;

/** The element `tag` with `className` (if any) and children appended (strings become text). */
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

/** `href` as a normalized http(s) URL, or null for anything else (javascript:, data:, relative...). */
export function safeUrl(href) {
  try {
    const url = new URL(String(href).trim());
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function link(href, ...children) {
  const a = el('a', null, ...children);
  a.href = href;
  a.rel = 'noopener noreferrer nofollow';
  a.target = '_blank';
  return a;
}

/** Renders `text` as Markdown; returns a DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  renderBlocks(String(text ?? '').replace(/\r\n?/g, '\n').split('\n'), fragment);
  return fragment;
}

function renderBlocks(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i += 1;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      const fence = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`).test(lines[i])) body.push(lines[i++]);
      i += 1; // the closing fence (or past the end while the answer is still streaming)
      const code = el('code', m[2] ? `language-${m[2].replace(/[^\w+-]/g, '')}` : null, body.join('\n'));
      parent.append(el('pre', 'code-block', code));
      continue;
    }
    if ((m = HEADING.exec(line))) {
      const heading = el(`h${Math.min(6, m[1].length + 2)}`, 'md-heading'); // h3..h6: below the page's own headings
      renderInline(m[2] ?? '', heading);
      parent.append(heading);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.append(el('hr'));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && lines[i].trim() !== '' && (m = QUOTE.exec(lines[i]) ?? [null, lines[i]])) {
        quoted.push(m[1]);
        i += 1;
      }
      const quote = el('blockquote');
      renderBlocks(quoted, quote);
      parent.append(quote);
      continue;
    }
    if (LIST_ITEM.test(line)) {
      i = renderList(lines, i, parent);
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      i = renderTable(lines, i, parent);
      continue;
    }
    // A paragraph: up to a blank line or the start of another block.
    const paragraph = [line];
    i += 1;
    while (i < lines.length && lines[i].trim() !== '' && !startsBlock(lines[i])) paragraph.push(lines[i++]);
    const p = el('p');
    paragraph.forEach((l, k) => {
      if (k > 0) p.append(el('br'));
      renderInline(l.trim(), p);
    });
    parent.append(p);
  }
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || LIST_ITEM.test(line);
}

const indentOf = (line) => line.length - line.trimStart().length;

/** Renders the list starting at `lines[start]`; returns the index after it. */
function renderList(lines, start, parent) {
  const first = LIST_ITEM.exec(lines[start]);
  const baseIndent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const list = el(ordered ? 'ol' : 'ul');
  if (ordered && parseInt(first[2], 10) !== 1) list.start = parseInt(first[2], 10);
  let i = start;
  while (i < lines.length) {
    const m = LIST_ITEM.exec(lines[i]);
    if (!m || m[1].length !== baseIndent || /\d/.test(m[2]) !== ordered) break;
    // The item: its first line, then lines indented past the marker (or lazy continuations).
    const itemLines = [m[3] ?? ''];
    i += 1;
    while (i < lines.length) {
      const next = lines[i];
      if (next.trim() === '') {
        // A blank line ends the item unless more indented content follows.
        if (i + 1 < lines.length && lines[i + 1].trim() !== '' && indentOf(lines[i + 1]) > baseIndent) {
          itemLines.push('');
          i += 1;
          continue;
        }
        break;
      }
      const nested = LIST_ITEM.exec(next);
      if (indentOf(next) > baseIndent) itemLines.push(next.slice(Math.min(indentOf(next), baseIndent + m[2].length + 1)));
      else if (!nested && !startsBlock(next)) itemLines.push(next.trim());
      else break;
      i += 1;
    }
    const item = el('li');
    // A one-paragraph item renders inline (no <p> inside the <li>).
    if (itemLines.length === 1) renderInline(itemLines[0].trim(), item);
    else renderBlocks(itemLines, item);
    list.append(item);
    // Items of one list may be separated by a blank line.
    if (i < lines.length && lines[i].trim() === '' && i + 1 < lines.length) {
      const after = LIST_ITEM.exec(lines[i + 1]);
      if (after && after[1].length === baseIndent && /\d/.test(after[2]) === ordered) i += 1;
    }
  }
  parent.append(list);
  return i;
}

function tableCells(line) {
  return line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
}

/** Renders the pipe table starting at `lines[start]` (header, separator, rows); returns the index after it. */
function renderTable(lines, start, parent) {
  const header = tableCells(lines[start]);
  const table = el('table');
  const headRow = el('tr');
  for (const cell of header) {
    const th = el('th');
    th.scope = 'col';
    renderInline(cell, th);
    headRow.append(th);
  }
  table.append(el('thead', null, headRow));
  const body = el('tbody');
  let i = start + 2;
  while (i < lines.length && lines[i].includes('|') && lines[i].trim() !== '') {
    const row = el('tr');
    const cells = tableCells(lines[i]);
    header.forEach((_, k) => {
      const td = el('td');
      renderInline(cells[k] ?? '', td);
      row.append(td);
    });
    body.append(row);
    i += 1;
  }
  table.append(body);
  parent.append(el('div', 'table-scroll', table));
  return i;
}

// ---------------------------------------------------------------------------------------
// Inline elements

const EMPHASIS = [
  ['**', 'strong'],
  ['__', 'strong'],
  ['~~', 'del'],
  ['*', 'em'],
  ['_', 'em'],
];

const isSpace = (c) => c === undefined || /\s/.test(c);
const isWordChar = (c) => c !== undefined && /[\p{L}\p{N}]/u.test(c);

/** The end of the emphasis opened by `delim` at `start` in `src`, or -1. */
function findClosing(src, start, delim) {
  let j = start + delim.length;
  if (isSpace(src[j])) return -1; // "* not emphasis"
  if (delim[0] === '_' && isWordChar(src[start - 1])) return -1; // snake_case_names
  j += 1; // at least one character inside
  while (j < src.length) {
    if (src[j] === '\\') {
      j += 2;
      continue;
    }
    if (src[j] === '`') {
      // Skip code spans: delimiters inside them do not count.
      const run = /^`+/.exec(src.slice(j))[0];
      const end = src.indexOf(run, j + run.length);
      j = end === -1 ? j + run.length : end + run.length;
      continue;
    }
    if (delim.length === 1 && src.startsWith(delim + delim, j)) {
      // A nested **strong** inside *em*: jump over it whole.
      const end = src.indexOf(delim + delim, j + 2);
      if (end === -1) return -1;
      j = end + 2;
      continue;
    }
    if (src.startsWith(delim, j) && !isSpace(src[j - 1]) && !(delim[0] === '_' && isWordChar(src[j + delim.length]))) return j;
    j += 1;
  }
  return -1;
}

/** `[text](url)` at `start` (the '['): `{ text, url, end }` or null. */
function matchLink(src, start) {
  let depth = 0;
  let j = start;
  for (; j < src.length; j++) {
    if (src[j] === '\\') j += 1;
    else if (src[j] === '[') depth += 1;
    else if (src[j] === ']' && --depth === 0) break;
  }
  if (j >= src.length || src[j + 1] !== '(') return null;
  const close = src.indexOf(')', j + 2);
  if (close === -1) return null;
  const target = src.slice(j + 2, close).trim();
  const url = target.replace(/\s+("[^"]*"|'[^']*')$/, '').replace(/^<(.*)>$/, '$1');
  return { text: src.slice(start + 1, j), url, end: close + 1 };
}

/** Appends the inline rendering of `src` to `parent`. */
function renderInline(src, parent) {
  let text = '';
  const flush = () => {
    if (text) parent.append(text);
    text = '';
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '\\' && ESCAPABLE.test(src[i + 1] ?? '')) {
      text += src[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const run = /^`+/.exec(src.slice(i))[0];
      const end = src.indexOf(run, i + run.length);
      if (end !== -1) {
        flush();
        parent.append(el('code', null, src.slice(i + run.length, end).replace(/^ (.+) $/, '$1')));
        i = end + run.length;
      } else {
        text += run;
        i += run.length;
      }
      continue;
    }
    const emphasis = EMPHASIS.find(([d]) => src.startsWith(d, i));
    if (emphasis) {
      const [delim, tag] = emphasis;
      const end = findClosing(src, i, delim);
      if (end !== -1) {
        flush();
        const node = el(tag);
        renderInline(src.slice(i + delim.length, end), node);
        parent.append(node);
        i = end + delim.length;
        continue;
      }
      text += delim;
      i += delim.length;
      continue;
    }
    if (c === '!' && src[i + 1] === '[') {
      const m = matchLink(src, i + 1);
      const url = m && safeUrl(m.url);
      if (url) {
        // Never load images from model output: a link to the image instead.
        flush();
        parent.append(link(url, `image: ${m.text || url}`));
        i = m.end;
        continue;
      }
    }
    if (c === '[') {
      const m = matchLink(src, i);
      const url = m && safeUrl(m.url);
      if (url) {
        flush();
        const a = link(url);
        renderInline(m.text || url, a);
        parent.append(a);
        i = m.end;
        continue;
      }
      // Not a safe link (javascript:, relative...): it stays text, as written.
    }
    if (c === '<') {
      const m = /^<(https?:\/\/[^\s<>]+)>/.exec(src.slice(i));
      const url = m && safeUrl(m[1]);
      if (url) {
        flush();
        parent.append(link(url, m[1]));
        i += m[0].length;
        continue;
      }
    }
    if (c === 'h' && !isWordChar(src[i - 1])) {
      const m = /^https?:\/\/[^\s<>"]+/.exec(src.slice(i));
      if (m) {
        const raw = m[0].replace(/[.,;:!?'")\]]+$/, ''); // trailing punctuation is the sentence's
        const url = safeUrl(raw);
        if (url) {
          flush();
          parent.append(link(url, raw));
          i += raw.length;
          continue;
        }
      }
    }
    text += c;
    i += 1;
  }
  flush();
}
