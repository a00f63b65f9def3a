// Repositories: the list (paged), create (admins; the API refuses others), delete.

import { api, get } from '../api.js';
import { h, add, link, uiUrl, fmtTime, table, act, notice } from '../dom.js';
import { navigate } from '../router.js';
import { pager, PAGE } from './common.js';

export async function reposView(section, { query }) {
  document.title = 'Repositories · Weir';
  const after = query.get('after') || '';
  const prefix = query.get('prefix') || '';
  const result = await get('/repositories', { after, prefix, amount: PAGE });
  const status = h('div', { class: 'status-slot' });
  const search = h('form', { class: 'inline', role: 'search' },
    h('label', {}, 'Name starts with ', h('input', { name: 'prefix', value: prefix, size: 20 })),
    h('button', { type: 'submit' }, 'Filter'));
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(uiUrl('/', { prefix: search.prefix.value.trim() }));
  });
  const rows = result.results.map((r) => h('tr', {},
    h('td', {}, link(uiUrl(`/repositories/${encodeURIComponent(r.id)}/objects`), r.id, { class: 'repo-link' })),
    h('td', {}, r.default_branch),
    h('td', {}, fmtTime(r.creation_date)),
    h('td', { class: 'actions' },
      link(uiUrl(`/repositories/${encodeURIComponent(r.id)}/commits`), 'Commits'),
      link(uiUrl(`/repositories/${encodeURIComponent(r.id)}/branches`), 'Branches'))));
  add(section, 
    h('h1', {}, 'Repositories'),
    search,
    rows.length ? table(['Repository', 'Default branch', 'Created', ''], rows, { class: 'listing', 'aria-label': 'Repositories' })
      : notice(prefix ? 'No repository name starts with that.' : 'No repositories you may read yet.', 'info'),
    pager(result),
    createForm(status));
}

function createForm(status) {
  const name = h('input', { name: 'name', required: true, pattern: '[a-z0-9][a-z0-9-]{2,62}', size: 24, spellcheck: 'false', title: '3-63 of a-z, 0-9 and -' });
  const branch = h('input', { name: 'default_branch', value: 'main', size: 16 });
  const form = h('form', { class: 'card', 'aria-label': 'Create repository' },
    h('h2', {}, 'Create a repository'),
    h('label', {}, 'Name ', name),
    h('label', {}, 'Default branch ', branch),
    h('button', { type: 'submit', class: 'primary' }, 'Create repository'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const repo = await act(status, () => api('POST', '/repositories', {
      json: { name: name.value.trim(), default_branch: branch.value.trim() || 'main', storage_namespace: '' },
    }));
    if (repo) navigate(uiUrl(`/repositories/${encodeURIComponent(repo.id)}/objects`));
  });
  return form;
}
