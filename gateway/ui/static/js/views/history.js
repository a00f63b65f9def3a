// The history of one object or prefix: the commits that changed it, newest first (answered from
// the path index the engine writes at commit time, not by diffing history), one page at a time.

import { get, p } from '../api.js';
import { h, add, link, uiUrl, fmtTime, shortId, notice } from '../dom.js';
import { repoHeader, loadRepo, loadMore } from './common.js';

export async function historyView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  const path = query.get('path') || '';
  const enc = encodeURIComponent(repo);
  repoHeader(section, repo, ref, 'objects');
  document.title = `${repo} · history of ${path} · Weir`;
  const isPrefix = path === '' || path.endsWith('/');
  add(section, h('h2', {}, 'History of ', h('span', { class: 'mono' }, path || '/'), ` at ${ref}`),
    h('div', { class: 'toolbar' },
      link(uiUrl(`/repositories/${enc}/objects`, { ref, path }), isPrefix ? 'Browse' : 'Object details', { class: 'button' })));
  const body = h('tbody');
  const listing = h('table', { class: 'listing', 'aria-label': 'Commits that changed this path' },
    h('thead', {}, h('tr', {}, ['Commit', 'Message', 'Committer', 'Date', ''].map((t) => h('th', { scope: 'col' }, t)))), body);
  add(section, listing);
  let count = 0;
  const filter = isPrefix ? { prefixes: path } : { objects: path };
  await loadMore(
    (after) => get(p`/repositories/${repo}/refs/${ref}/commits`, { after, amount: 50, ...filter }),
    (rows) => {
      count += rows.length;
      rows.forEach((c) => body.append(h('tr', {},
        h('td', {}, link(uiUrl(`/repositories/${enc}/commits/${encodeURIComponent(c.id)}`), shortId(c.id), { class: 'mono' })),
        h('td', {}, (c.message || '').split('\n')[0]),
        h('td', {}, c.committer),
        h('td', {}, fmtTime(c.creation_date)),
        h('td', { class: 'actions' }, isPrefix ? null : link(uiUrl(`/repositories/${enc}/objects`, { ref: c.id, path }), 'This version')))));
      if (!count) listing.replaceWith(notice('No commit reachable from this ref changed this path (it may only be staged).', 'info'));
    },
    section);
}
