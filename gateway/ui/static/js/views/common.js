// Pieces every repository page shares: the title, the tabs, the ref picker, paging.

import { api, get, p } from '../api.js';
import { h, add, uiUrl, link, clear, notice } from '../dom.js';
import { navigate } from '../router.js';

export const PAGE = 100;

export async function loadRepo(repo) {
  return get(p`/repositories/${repo}`);
}

// Whether `ref` names a branch (writes and the changes view need one).
export async function isBranch(repo, ref) {
  try {
    await get(p`/repositories/${repo}/branches/${ref}`);
    return true;
  } catch (err) {
    if (err.status === 404 || err.status === 403) return false;
    throw err;
  }
}

const TABS = [
  ['objects', 'Objects'],
  ['changes', 'Uncommitted changes'],
  ['commits', 'Commits'],
  ['branches', 'Branches'],
  ['tags', 'Tags'],
  ['compare', 'Compare & merge'],
  ['runs', 'Runs'],
  ['settings', 'Settings'],
];

// The page title, the ref picker and the repository's tabs. `withRef`: the view reads a ref.
export function repoHeader(section, repo, ref, active, { withRef = true, extraTabs = [], onPick } = {}) {
  const tabs = [...TABS, ...extraTabs];
  const nav = h('nav', { class: 'tabs', 'aria-label': 'Repository' },
    tabs.map(([view, label]) => link(
      uiUrl(`/repositories/${encodeURIComponent(repo)}/${view}`, withRef || view !== 'compare' ? { ref } : {}),
      label,
      { 'aria-current': view === active ? 'page' : null, class: view === active ? 'active' : null },
    )));
  const head = h('div', { class: 'repo-head' },
    h('h1', {}, link(uiUrl(`/repositories/${encodeURIComponent(repo)}/objects`), repo)),
    withRef ? refPicker(repo, ref, active, { onPick }) : null);
  add(section, head, nav);
}

// A text box for any ref expression (branch, tag, commit id, main~1), with suggestions.
export function refPicker(repo, ref, active, { label = 'Ref', name = 'ref', onPick } = {}) {
  const id = `refs-${Math.random().toString(36).slice(2)}`;
  const input = h('input', {
    name, value: ref, list: id, size: 24, autocomplete: 'off', spellcheck: 'false',
    'aria-label': label,
  });
  const options = h('datalist', { id });
  const form = h('form', { class: 'ref-picker', role: 'search' },
    h('label', {}, `${label} `, input), options,
    h('button', { type: 'submit' }, 'Go'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    if (onPick) onPick(value);
    else {
      const url = new URL(window.location.href);
      url.searchParams.set('ref', value);
      url.searchParams.delete('after');
      navigate(url.pathname + url.search);
    }
  });
  fillRefOptions(repo, options);
  return form;
}

async function fillRefOptions(repo, datalist) {
  try {
    const [branches, tags] = await Promise.all([
      get(p`/repositories/${repo}/branches`, { amount: 100 }),
      get(p`/repositories/${repo}/tags`, { amount: 100 }),
    ]);
    for (const b of branches.results) datalist.append(h('option', { value: b.id }, 'branch'));
    for (const t of tags.results) datalist.append(h('option', { value: t.id }, 'tag'));
  } catch (err) {
    // Suggestions are a convenience: the box still takes any ref typed in.
  }
}

// "Next page" for URL-paged lists (the cursor is in the URL, so a page can be shared).
export function pager(result, { first } = {}) {
  const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const url = new URL(window.location.href);
  if (url.searchParams.get('after')) {
    url.searchParams.delete('after');
    nav.append(link(url.pathname + url.search, first || 'First page'));
  }
  if (result.pagination && result.pagination.has_more) {
    const next = new URL(window.location.href);
    next.searchParams.set('after', result.pagination.next_offset);
    nav.append(link(next.pathname + next.search, 'Next page', { rel: 'next' }));
  }
  return nav;
}

// "Load more" for lists that grow in place (the commit graph, a diff): one page at a time,
// never everything at once.
export function loadMore(fetchPage, appendRows, slot) {
  let cursor = '';
  const button = h('button', { type: 'button', class: 'more' }, 'Load more');
  const status = h('div');
  const wrap = h('div', { class: 'load-more' }, status, button);
  async function next() {
    button.disabled = true;
    clear(status);
    try {
      const page = await fetchPage(cursor);
      appendRows(page.results, page);
      cursor = page.pagination.next_offset;
      button.hidden = !page.pagination.has_more;
    } catch (err) {
      status.append(notice(err.message, 'error'));
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener('click', next);
  add(slot, wrap);
  return next();
}

export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function metadataEditor(initial = []) {
  const rows = h('div', { class: 'meta-rows' });
  function addRow(key = '', value = '') {
    const row = h('div', { class: 'meta-row' },
      h('input', { 'aria-label': 'Metadata key', placeholder: 'key', value: key, class: 'meta-key' }),
      h('input', { 'aria-label': 'Metadata value', placeholder: 'value', value, class: 'meta-value' }),
      h('button', { type: 'button', class: 'link', onclick: () => row.remove(), 'aria-label': 'Remove this metadata row' }, 'Remove'));
    rows.append(row);
  }
  initial.forEach(([k, v]) => addRow(k, v));
  const box = h('fieldset', { class: 'meta' }, h('legend', {}, 'Metadata'), rows,
    h('button', { type: 'button', class: 'link', onclick: () => addRow() }, 'Add metadata'));
  box.values = () => {
    const out = {};
    for (const row of rows.children) {
      const key = row.querySelector('.meta-key').value.trim();
      if (key) out[key] = row.querySelector('.meta-value').value;
    }
    return out;
  };
  return box;
}

// Lineage inputs of a commit or merge: REPO@REF[:PATH], one per line.
export function inputsField() {
  const area = h('textarea', {
    name: 'inputs', rows: 2, 'aria-label': 'Inputs',
    placeholder: 'REPO@REF[:PATH], one per line: what this was built from (optional)',
  });
  const box = h('label', {}, 'Inputs (lineage)', area);
  box.values = () => area.value.split('\n').map((line) => line.trim()).filter(Boolean);
  return box;
}

export function changeBadge(type) {
  const label = { added: 'added', removed: 'removed', changed: 'changed', conflict: 'conflict', prefix_changed: 'changed' }[type] || type;
  return h('span', { class: `badge ${label}` }, label);
}

export { api, get, p };
