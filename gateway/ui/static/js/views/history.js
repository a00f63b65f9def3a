// Object history and blame. History: the commits of a ref's history that changed one path,
// newest first, with the object each left (the API's path index, not a diff of every commit).
// Blame: for every object under a prefix, the commit that wrote the content the ref has.

import { get, p } from '../api.js';
import { h, add, link, uiUrl, fmtTime, fmtBytes, shortId, notice } from '../dom.js';
import { repoHeader, loadRepo, loadMore } from './common.js';

function commitCell(repo, c) {
  if (!c) return h('span', { class: 'muted' }, 'not committed yet');
  return link(uiUrl(`/repositories/${encodeURIComponent(repo)}/commits/${encodeURIComponent(c.id)}`), shortId(c.id), { class: 'mono' });
}

function headTable(label, headers, body) {
  return h('table', { class: 'listing', 'aria-label': label },
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))), body);
}

export async function historyView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  const path = query.get('path') || '';
  const enc = encodeURIComponent(repo);
  repoHeader(section, repo, ref, 'objects');
  document.title = `${repo} · history of ${path} · Weir`;
  add(section, h('h2', {}, 'History of ', h('span', { class: 'mono' }, path), ` at ${ref}`),
    h('div', { class: 'toolbar' },
      link(uiUrl(`/repositories/${enc}/objects`, { ref, path }), 'Object details', { class: 'button' })));
  const body = h('tbody');
  const listing = headTable('Commits that changed this path', ['Commit', 'Message', 'Committer', 'Date', 'Object', ''], body);
  add(section, listing);
  let count = 0;
  await loadMore(
    (after) => get(p`/repositories/${repo}/refs/${ref}/history`, { path, after, amount: 50 }),
    (rows) => {
      count += rows.length;
      rows.forEach((v) => body.append(h('tr', {},
        h('td', {}, commitCell(repo, v.commit)),
        h('td', {}, (v.commit.message || '').split('\n')[0]),
        h('td', {}, v.commit.committer),
        h('td', {}, fmtTime(v.commit.creation_date)),
        h('td', {}, v.deleted ? h('span', { class: 'badge removed' }, 'deleted')
          : h('span', {}, h('span', { class: 'mono' }, v.object.checksum.slice(0, 10)), ` ${fmtBytes(v.object.size_bytes)}`)),
        h('td', { class: 'actions' }, v.deleted ? null
          : link(uiUrl(`/repositories/${enc}/objects`, { ref: v.commit.id, path }), 'This version')))));
      if (!count) listing.replaceWith(notice('No commit reachable from this ref changed this path (it may only be staged).', 'info'));
    },
    section);
}

export async function blameView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  const prefix = query.get('path') || '';
  const enc = encodeURIComponent(repo);
  repoHeader(section, repo, ref, 'objects');
  document.title = `${repo} · blame ${prefix || '/'} · Weir`;
  add(section, h('h2', {}, 'Blame of ', h('span', { class: 'mono' }, prefix || '/'), ` at ${ref}`),
    h('p', { class: 'muted' }, 'For each object, the commit that wrote the content this ref has.'),
    h('div', { class: 'toolbar' },
      link(uiUrl(`/repositories/${enc}/objects`, { ref, path: prefix }), 'Browse', { class: 'button' })));
  const body = h('tbody');
  const listing = headTable('Blame', ['Path', 'Commit', 'Message', 'Committer', 'Date'], body);
  add(section, listing);
  let count = 0;
  await loadMore(
    (after) => get(p`/repositories/${repo}/refs/${ref}/blame`, { path: prefix, recursive: true, after, amount: 100 }),
    (rows) => {
      count += rows.length;
      rows.forEach((line) => body.append(h('tr', {},
        h('td', { class: 'mono' }, link(uiUrl(`/repositories/${enc}/objects`, { ref, path: line.path }), line.path.slice(prefix.length))),
        h('td', {}, commitCell(repo, line.commit)),
        h('td', {}, line.commit ? (line.commit.message || '').split('\n')[0] : ''),
        h('td', {}, line.commit ? line.commit.committer : ''),
        h('td', {}, line.commit ? fmtTime(line.commit.creation_date) : ''))));
      if (!count) listing.replaceWith(notice('No objects under this path at this ref.', 'info'));
    },
    section);
}
