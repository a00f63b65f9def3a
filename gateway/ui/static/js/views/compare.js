// Compare two refs (two- or three-dot, paged) and merge one into the other. On a conflict the
// API lists every conflicting path with its base, source and destination entries; the table
// lets the user choose a side per path (or per glob), then retries the merge with those
// resolutions.

import { api, get, p } from '../api.js';
import { h, add, link, uiUrl, fmtBytes, fmtTime, shortId, notice, clear, exactGlob, globRegExp } from '../dom.js';
import { navigate } from '../router.js';
import { repoHeader, loadRepo, isBranch, loadMore, changeBadge, metadataEditor, inputsField, PAGE } from './common.js';

export async function compareView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const base = query.get('base') || info.default_branch;
  const compare = query.get('compare') || '';
  const type = query.get('type') === 'two_dot' ? 'two_dot' : 'three_dot';
  repoHeader(section, repo, base, 'compare', { withRef: false });
  document.title = `${repo} · compare ${base}…${compare} · Weir`;
  add(section, h('h2', {}, 'Compare and merge'), pickForm(repo, base, compare, type));
  if (!compare) {
    add(section, notice('Choose a ref to compare with the base.', 'info'));
    return;
  }
  const enc = encodeURIComponent(repo);
  const body = h('tbody');
  const listing = h('table', { class: 'listing', 'aria-label': 'Differences' },
    h('thead', {}, h('tr', {}, ['Change', 'Path', 'Size'].map((t) => h('th', { scope: 'col' }, t)))), body);
  add(section, h('p', { class: 'muted' }, type === 'three_dot'
    ? `What ${compare} changed since it diverged from ${base} (three-dot).`
    : `Every difference between ${base} and ${compare} (two-dot).`), listing);
  let count = 0;
  await loadMore(
    (after) => get(p`/repositories/${repo}/refs/${base}/diff/${compare}`, { after, amount: PAGE, type }),
    (rows) => {
      count += rows.length;
      rows.forEach((d) => body.append(h('tr', {},
        h('td', {}, changeBadge(d.type)),
        h('td', { class: 'mono' }, d.type === 'removed' ? d.path
          : link(uiUrl(`/repositories/${enc}/objects`, { ref: compare, path: d.path }), d.path)),
        h('td', { class: 'num' }, fmtBytes(d.size_bytes)))));
      if (!count) body.append(h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'No differences.')));
    },
    section);
  if (await isBranch(repo, base)) add(section, mergeCard(repo, compare, base));
  else add(section, notice(`${base} is not a branch, so nothing can be merged into it.`, 'info'));
}

function pickForm(repo, base, compare, type) {
  const b = h('input', { name: 'base', value: base, size: 22, required: true, 'aria-label': 'Base ref (merge destination)' });
  const c = h('input', { name: 'compare', value: compare, size: 22, required: true, 'aria-label': 'Compare ref (merge source)' });
  const t = h('select', { name: 'type', 'aria-label': 'Comparison' },
    h('option', { value: 'three_dot', selected: type === 'three_dot' }, 'three-dot: changes since the merge base'),
    h('option', { value: 'two_dot', selected: type === 'two_dot' }, 'two-dot: every difference'));
  const form = h('form', { class: 'inline compare-pick', role: 'search' },
    h('label', {}, 'Base ', b), h('span', { 'aria-hidden': 'true' }, ' ← '), h('label', {}, 'Compare ', c), t,
    h('button', { type: 'submit' }, 'Compare'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(uiUrl(`/repositories/${encodeURIComponent(repo)}/compare`, { base: b.value.trim(), compare: c.value.trim(), type: t.value }));
  });
  return form;
}

function mergeCard(repo, source, dest) {
  const status = h('div', { class: 'status-slot' });
  const conflictsSlot = h('div', { class: 'conflicts-slot' });
  const message = h('input', { name: 'message', size: 50, 'aria-label': 'Merge message', value: `Merge ${source} into ${dest}` });
  const strategy = h('select', { name: 'strategy', 'aria-label': 'Merge strategy' },
    h('option', { value: '' }, 'stop on conflicts (show them)'),
    h('option', { value: 'source-wins' }, `on conflict take ${source} (source wins)`),
    h('option', { value: 'dest-wins' }, `on conflict keep ${dest} (destination wins)`));
  const squash = h('input', { type: 'checkbox', name: 'squash' });
  const meta = metadataEditor();
  const inputs = inputsField();
  const doMerge = async (resolutions) => {
    const json = { message: message.value, metadata: meta.values(), squash_merge: squash.checked };
    if (strategy.value) json.strategy = strategy.value;
    if (resolutions && resolutions.length) json.resolutions = resolutions;
    if (inputs.values().length) json.inputs = inputs.values();
    clear(status);
    try {
      const result = await api('POST', p`/repositories/${repo}/refs/${source}/merge/${dest}`, { json });
      clear(conflictsSlot);
      status.append(notice(`Merged ${source} into ${dest}: commit ${shortId(result.reference)}.`),
        link(uiUrl(`/repositories/${encodeURIComponent(repo)}/commits/${encodeURIComponent(result.reference)}`), 'See the merge commit'));
    } catch (err) {
      if (err.status === 409 && Array.isArray(err.body.conflicts)) {
        status.append(notice(`${err.body.conflicts.length} conflicting path${err.body.conflicts.length === 1 ? '' : 's'}: choose a side for each, then merge again.`, 'error'));
        clear(conflictsSlot).append(conflictTable(err.body.conflicts, source, dest, doMerge));
      } else {
        status.append(notice(err.message, 'error'));
      }
    }
  };
  const form = h('form', { class: 'card merge', 'aria-label': 'Merge' },
    h('h2', {}, `Merge ${source} into ${dest}`),
    h('label', {}, 'Message ', message),
    h('label', {}, 'Strategy ', strategy),
    h('label', { class: 'check' }, squash, ' Squash into one commit with a single parent'),
    meta, inputs,
    h('button', { type: 'submit', class: 'primary' }, 'Merge'), status, conflictsSlot);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    doMerge([]);
  });
  return form;
}

function side(entry) {
  if (!entry) return h('span', { class: 'muted' }, 'absent');
  return h('span', {}, h('span', { class: 'mono', title: entry.checksum }, entry.checksum.slice(0, 10)), ' ',
    h('span', { class: 'muted' }, `${fmtBytes(entry.size_bytes)} · ${fmtTime(entry.mtime)}`));
}

const SHOW = 100;

// Every conflict, 100 rows at a time; a choice per path, or rules by glob; then retry.
export function conflictTable(conflicts, source, dest, retry) {
  const choices = new Map();
  const rules = [];
  const body = h('tbody');
  let shown = 0;
  const showMore = h('button', { type: 'button', class: 'more' }, 'Show more conflicts');
  const rulesList = h('ul', { class: 'plain rules' });
  const count = h('span', { class: 'muted', role: 'status' });
  const update = () => {
    const settled = conflicts.filter((c) => choices.has(c.path) || rules.some((r) => r.re.test(c.path))).length;
    count.textContent = `${settled} of ${conflicts.length} settled`;
  };
  const row = (c, i) => {
    const name = `choice-${i}`;
    const radio = (value, label) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name, value, onchange: () => { choices.set(c.path, value); update(); } }), ` ${label}`);
    return h('tr', { dataset: { path: c.path } },
      h('td', { class: 'mono' }, c.path),
      h('td', {}, c.type),
      h('td', {}, side(c.base)),
      h('td', {}, side(c.source)),
      h('td', {}, side(c.destination)),
      h('td', { class: 'choices' }, radio('source', `take ${source}`), radio('dest', `keep ${dest}`)));
  };
  const more = () => {
    const next = conflicts.slice(shown, shown + SHOW);
    next.forEach((c, k) => body.append(row(c, shown + k)));
    shown += next.length;
    showMore.hidden = shown >= conflicts.length;
  };
  showMore.addEventListener('click', more);
  more();
  const pattern = h('input', { size: 20, 'aria-label': 'Glob of paths', placeholder: 'e.g. data/*.csv' });
  const ruleSide = h('select', { 'aria-label': 'Side for the glob' },
    h('option', { value: 'source' }, `take ${source}`), h('option', { value: 'dest' }, `keep ${dest}`));
  const addRule = () => {
    const glob = pattern.value.trim();
    if (!glob) return;
    const re = globRegExp(glob);
    rules.push({ pattern: glob, side: ruleSide.value, re });
    rulesList.append(h('li', {}, h('span', { class: 'mono' }, glob), ` → ${ruleSide.value === 'source' ? `take ${source}` : `keep ${dest}`}`));
    pattern.value = '';
    update();
  };
  const retryButton = h('button', {
    type: 'button', class: 'primary',
    onclick: () => {
      // Per-path choices first (exact globs), then the rules: the server applies the first match.
      const resolutions = [...choices].map(([path, s]) => ({ pattern: exactGlob(path), side: s }));
      rules.forEach((r) => resolutions.push({ pattern: r.pattern, side: r.side }));
      retry(resolutions);
    },
  }, 'Merge with these choices');
  update();
  return h('section', { class: 'conflicts', 'aria-label': 'Merge conflicts' },
    h('h3', {}, `Conflicts (${conflicts.length})`),
    h('div', { class: 'scroll-x' }, h('table', { class: 'listing conflict-table', 'aria-label': 'Conflicts' },
      h('thead', {}, h('tr', {}, ['Path', 'Kind', 'Base', `Source (${source})`, `Destination (${dest})`, 'Choice']
        .map((t) => h('th', { scope: 'col' }, t)))), body)),
    showMore,
    h('div', { class: 'inline' }, h('label', {}, 'Settle every path matching ', pattern), ruleSide,
      h('button', { type: 'button', onclick: addRule }, 'Add rule')),
    rulesList,
    h('div', { class: 'toolbar' }, retryButton, count));
}
