// One commit: who, when, message, metadata, parents, inputs; the diff it made against its
// first parent (paged); revert it or cherry-pick it onto a branch.

import { api, get, p } from '../api.js';
import { h, add, link, uiUrl, fmtTime, fmtBytes, shortId, act, notice } from '../dom.js';
import { navigate } from '../router.js';
import { repoHeader, loadMore, kv, changeBadge, PAGE } from './common.js';
import { labelsFor, labelBadges } from './commits.js';
import { lineageUrl } from './lineage.js';

export async function commitView(section, { params }) {
  const repo = params.repo;
  const c = await get(p`/repositories/${repo}/commits/${params.id}`);
  const enc = encodeURIComponent(repo);
  repoHeader(section, repo, c.id, 'commits', {
    onPick: (ref) => navigate(uiUrl(`/repositories/${enc}/commits`, { ref })),
  });
  document.title = `${repo} · commit ${shortId(c.id)} · Weir`;
  const labels = await labelsFor(repo).catch(() => new Map());
  const metadata = Object.entries(c.metadata || {});
  const inputs = c.inputs || [];
  add(section, 
    h('h2', { class: 'commit-message' }, (c.message || '(no message)').split('\n')[0], ' ', labelBadges(labels, c.id)),
    (c.message || '').includes('\n') ? h('pre', { class: 'message-body' }, c.message.split('\n').slice(1).join('\n').trim()) : null,
    kv([
      ['Commit', h('span', { class: 'mono' }, c.id)],
      ['Committer', c.committer || ''],
      ['Date', fmtTime(c.creation_date)],
      ['Parents', c.parents.length ? h('span', {}, c.parents.map((id, i) => [i ? ', ' : '',
        link(uiUrl(`/repositories/${enc}/commits/${encodeURIComponent(id)}`), shortId(id), { class: 'mono' })])) : 'none (the first commit)'],
      metadata.length ? ['Metadata', h('ul', { class: 'plain' }, metadata.map(([k, v]) => h('li', {}, h('span', { class: 'mono' }, k), ' = ', v)))] : null,
      inputs.length ? ['Inputs', h('ul', { class: 'plain inputs' }, inputs.map((inp) => h('li', {},
        link(uiUrl(`/repositories/${encodeURIComponent(inp.repository)}/commits/${encodeURIComponent(inp.commit_id)}`),
          `${inp.repository}@${inp.ref || shortId(inp.commit_id)}`, { class: 'mono' }),
        inp.path ? ` : ${inp.path}` : '', ' ', h('span', { class: 'muted mono' }, shortId(inp.commit_id)))))] : null,
    ]),
    h('div', { class: 'toolbar' },
      link(uiUrl(`/repositories/${enc}/objects`, { ref: c.id }), 'Browse files at this commit', { class: 'button' }),
      link(lineageUrl(repo, c.id), 'Lineage', { class: 'button', title: 'What this commit was built from' }),
      link(lineageUrl(repo, c.id, { direction: 'downstream' }), 'Downstream', { class: 'button', title: 'What was built from this commit' })));
  add(section, pickForm(repo, c));
  add(section, h('h2', {}, c.parents.length ? `Changes against ${shortId(c.parents[0])}` : 'Changes'));
  if (!c.parents.length) {
    add(section, notice('The first commit of a repository has no parent to compare with.', 'info'));
    return;
  }
  const body = h('tbody');
  add(section, h('table', { class: 'listing', 'aria-label': 'Changes in this commit' },
    h('thead', {}, h('tr', {}, ['Change', 'Path', 'Size'].map((t) => h('th', { scope: 'col' }, t)))), body));
  let count = 0;
  await loadMore(
    (after) => get(p`/repositories/${repo}/refs/${c.parents[0]}/diff/${c.id}`, { after, amount: PAGE, type: 'two_dot' }),
    (rows) => {
      count += rows.length;
      rows.forEach((d) => body.append(h('tr', {},
        h('td', {}, changeBadge(d.type)),
        h('td', { class: 'mono' }, d.type === 'removed' ? d.path : link(uiUrl(`/repositories/${enc}/objects`, { ref: c.id, path: d.path }), d.path)),
        h('td', { class: 'num' }, fmtBytes(d.size_bytes)))));
      if (!count) body.append(h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'This commit changed no object.')));
    },
    section);
}

function pickForm(repo, c) {
  const status = h('div', { class: 'status-slot' });
  const branch = h('input', { name: 'branch', required: true, size: 20, 'aria-label': 'Target branch', placeholder: 'branch' });
  const parent = c.parents.length > 1
    ? h('select', { name: 'parent', 'aria-label': 'Parent of the merge' }, c.parents.map((id, i) => h('option', { value: i + 1 }, `parent ${i + 1} (${shortId(id)})`)))
    : null;
  const run = async (what) => {
    const target = branch.value.trim();
    if (!target) {
      branch.focus();
      return;
    }
    const parentNumber = parent ? Number(parent.value) : 0;
    const path = what === 'revert' ? p`/repositories/${repo}/branches/${target}/revert` : p`/repositories/${repo}/branches/${target}/cherry-pick`;
    const json = what === 'revert' ? { ref: c.id, parent_number: parentNumber } : { ref: c.id, parent_number: parentNumber };
    const done = await act(status, () => api('POST', path, { json }));
    if (done !== undefined) {
      navigate(uiUrl(`/repositories/${encodeURIComponent(repo)}/commits`, { ref: target }));
    }
  };
  return h('form', { class: 'card inline-form', 'aria-label': 'Revert or cherry-pick', onsubmit: (e) => e.preventDefault() },
    h('h3', {}, 'Apply to a branch'),
    h('label', {}, 'Branch ', branch), parent ? h('label', {}, 'Relative to ', parent) : null,
    h('button', { type: 'button', onclick: () => run('revert') }, 'Revert this commit'),
    h('button', { type: 'button', onclick: () => run('cherry-pick') }, 'Cherry-pick onto branch'),
    status);
}
