// The commit log of a ref drawn as a graph (branches and merges), one page at a time.

import { get, p } from '../api.js';
import { h, add, link, uiUrl, fmtAgo, fmtTime, shortId, notice } from '../dom.js';
import { repoHeader, loadRepo, loadMore } from './common.js';
import { layout, draw } from '../graph.js';

export async function labelsFor(repo) {
  const labels = new Map();
  const label = (id, text, kind) => {
    if (!labels.has(id)) labels.set(id, []);
    labels.get(id).push({ text, kind });
  };
  const [branches, tags] = await Promise.all([
    get(p`/repositories/${repo}/branches`, { amount: 1000 }),
    get(p`/repositories/${repo}/tags`, { amount: 1000 }).catch(() => ({ results: [] })),
  ]);
  branches.results.forEach((b) => label(b.commit_id, b.id, 'branch'));
  tags.results.forEach((t) => label(t.commit_id, t.id, 'tag'));
  return labels;
}

export function labelBadges(labels, id) {
  return (labels.get(id) || []).map((l) => h('span', { class: `badge ${l.kind}` }, l.text));
}

export async function commitsView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  repoHeader(section, repo, ref, 'commits');
  document.title = `${repo} · commits of ${ref} · Weir`;
  const labels = await labelsFor(repo);
  const commits = [];
  const graphBox = h('div', { class: 'graph-col' });
  const list = h('ol', { class: 'commit-rows', 'aria-label': `Commits of ${ref}` });
  const wrap = h('div', { class: 'graph-log' }, graphBox, list);
  add(section, h('h2', {}, `Commits of ${ref}`), wrap);
  const enc = encodeURIComponent(repo);
  let hasMore = false;
  await loadMore(
    (after) => get(p`/repositories/${repo}/refs/${ref}/commits`, { after, amount: 50 }),
    (page, result) => {
      hasMore = result.pagination.has_more;
      commits.push(...page);
      const rows = layout(commits);
      graphBox.replaceChildren(draw(rows, hasMore));
      for (const c of page) {
        const title = (c.message || '(no message)').split('\n')[0];
        list.append(h('li', {},
          h('div', { class: 'commit-line' },
            link(uiUrl(`/repositories/${enc}/commits/${encodeURIComponent(c.id)}`), title, { class: 'commit-title' }),
            labelBadges(labels, c.id),
            c.parents.length > 1 ? h('span', { class: 'badge merge' }, 'merge') : null),
          h('div', { class: 'commit-sub muted' },
            h('span', { class: 'mono' }, shortId(c.id)), ' · ', c.committer || 'unknown', ' · ',
            h('time', { datetime: new Date(c.creation_date * 1000).toISOString(), title: fmtTime(c.creation_date) }, fmtAgo(c.creation_date)))));
      }
      if (!commits.length) wrap.replaceWith(notice('No commits.', 'info'));
    },
    section);
}
