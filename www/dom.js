// Building DOM nodes without HTML strings: `h('button', { class: 'x', onclick }, 'Label')`.
// Children that are strings become Text nodes, so whatever they hold is shown as text.

/**
 * The element `tag` with `props` and `children`. Props: `class`, `text` (textContent),
 * `dataset`, `on<event>` listeners, booleans and `value` as properties, anything else as an
 * attribute. `null` / `false` props and children are skipped.
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'innerHTML' || key === 'outerHTML') throw new Error('h(): no HTML strings');
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (value === true || key === 'value') node[key] = value;
    else node.setAttribute(key, String(value));
  }
  node.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** The element with id `id` (throws when the page lacks it: a typo should fail loudly). */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

/** Shows or hides `node` (the `hidden` attribute). */
export function show(node, visible = true) {
  node.hidden = !visible;
}
