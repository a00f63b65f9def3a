// Branches (create from any ref, delete, protect) and tags (create from any ref, delete).

import { api, get, p } from '../api.js';
import { h, add, link, uiUrl, shortId, table, act, notice, globRegExp } from '../dom.js';
import { navigate } from '../router.js';
import { repoHeader, loadRepo, pager, PAGE } from './common.js';

function reload() {
  return navigate(window.location.pathname + window.location.search, { replace: true });
}

export async function branchesView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  repoHeader(section, repo, ref, 'branches', { withRef: false });
  document.title = `${repo} · branches · Weir`;
  const [result, rules] = await Promise.all([
    get(p`/repositories/${repo}/branches`, { after: query.get('after') || '', prefix: query.get('prefix') || '', amount: PAGE }),
    get(p`/repositories/${repo}/settings/branch_protection`),
  ]);
  const patterns = rules.map((r) => r.pattern);
  const protectedBy = (name) => patterns.find((pat) => globRegExp(pat).test(name));
  const status = h('div', { class: 'status-slot' });
  const enc = encodeURIComponent(repo);
  const rows = result.results.map((b) => {
    const rule = protectedBy(b.id);
    return h('tr', {},
      h('td', {}, link(uiUrl(`/repositories/${enc}/objects`, { ref: b.id }), b.id, { class: 'mono' }),
        b.id === info.default_branch ? h('span', { class: 'badge branch' }, 'default') : null,
        rule ? h('span', { class: 'badge protected', title: `protected by the rule ${rule}` }, 'protected') : null),
      h('td', {}, link(uiUrl(`/repositories/${enc}/commits/${encodeURIComponent(b.commit_id)}`), shortId(b.commit_id), { class: 'mono' })),
      h('td', { class: 'actions' },
        link(uiUrl(`/repositories/${enc}/commits`, { ref: b.id }), 'Commits'),
        link(uiUrl(`/repositories/${enc}/changes`, { ref: b.id }), 'Changes'),
        b.id !== info.default_branch ? link(uiUrl(`/repositories/${enc}/compare`, { base: info.default_branch, compare: b.id }), 'Compare') : null,
        rule ? null : h('button', { type: 'button', class: 'link', 'aria-label': `Protect ${b.id}`, onclick: () => setRules(status, repo, [...patterns, b.id]) }, 'Protect'),
        b.id !== info.default_branch ? h('button', {
          type: 'button', class: 'link danger', 'aria-label': `Delete branch ${b.id}`,
          onclick: async () => {
            if (!window.confirm(`Delete branch ${b.id}? Its uncommitted changes are lost; its commits stay reachable from other refs only.`)) return;
            if (await act(status, () => api('DELETE', p`/repositories/${repo}/branches/${b.id}`)) !== undefined) reload();
          },
        }, 'Delete') : null));
  });
  add(section, 
    h('h2', {}, 'Branches'),
    status,
    table(['Branch', 'Head', ''], rows, { class: 'listing', 'aria-label': 'Branches' }),
    pager(result),
    createBranchForm(repo, ref),
    protectionCard(repo, patterns));
}

function createBranchForm(repo, source) {
  const status = h('div', { class: 'status-slot' });
  const name = h('input', { name: 'name', required: true, size: 24, spellcheck: 'false', 'aria-label': 'New branch name' });
  const from = h('input', { name: 'source', required: true, size: 24, value: source, spellcheck: 'false', 'aria-label': 'Create from ref' });
  const form = h('form', { class: 'card', 'aria-label': 'Create branch' },
    h('h2', {}, 'Create a branch'),
    h('label', {}, 'Name ', name),
    h('label', {}, 'From (branch, tag, commit or expression like main~2) ', from),
    h('button', { type: 'submit', class: 'primary' }, 'Create branch'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const branch = name.value.trim();
    const done = await act(status, () => api('POST', p`/repositories/${repo}/branches`, { json: { name: branch, source: from.value.trim() } }));
    if (done !== undefined) navigate(uiUrl(`/repositories/${encodeURIComponent(repo)}/objects`, { ref: branch }));
  });
  return form;
}

async function setRules(status, repo, patterns) {
  const done = await act(status, () => api('PUT', p`/repositories/${repo}/settings/branch_protection`, {
    json: [...new Set(patterns)].map((pattern) => ({ pattern })),
  }));
  if (done !== undefined) reload();
}

function protectionCard(repo, patterns) {
  const status = h('div', { class: 'status-slot' });
  const pattern = h('input', { name: 'pattern', required: true, size: 20, 'aria-label': 'Protection pattern', placeholder: 'main or release-*' });
  const form = h('form', { class: 'card', 'aria-label': 'Branch protection' },
    h('h2', {}, 'Branch protection'),
    h('p', { class: 'muted' }, 'A protected branch accepts only merges: direct uploads, deletes, commits and resets are refused.'),
    patterns.length ? h('ul', { class: 'plain rules' }, patterns.map((pat) => h('li', {},
      h('span', { class: 'mono' }, pat), ' ',
      h('button', { type: 'button', class: 'link danger', 'aria-label': `Remove protection rule ${pat}`, onclick: () => setRules(status, repo, patterns.filter((x) => x !== pat)) }, 'Remove'))))
      : h('p', {}, 'No branch is protected.'),
    h('label', {}, 'Protect branches matching ', pattern),
    h('button', { type: 'submit' }, 'Add rule'), status);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setRules(status, repo, [...patterns, pattern.value.trim()]);
  });
  return form;
}

export async function tagsView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  repoHeader(section, repo, ref, 'tags', { withRef: false });
  document.title = `${repo} · tags · Weir`;
  const result = await get(p`/repositories/${repo}/tags`, { after: query.get('after') || '', amount: PAGE });
  const status = h('div', { class: 'status-slot' });
  const enc = encodeURIComponent(repo);
  const rows = result.results.map((t) => h('tr', {},
    h('td', {}, link(uiUrl(`/repositories/${enc}/objects`, { ref: t.id }), t.id, { class: 'mono' })),
    h('td', {}, link(uiUrl(`/repositories/${enc}/commits/${encodeURIComponent(t.commit_id)}`), shortId(t.commit_id), { class: 'mono' })),
    h('td', { class: 'actions' }, h('button', {
      type: 'button', class: 'link danger', 'aria-label': `Delete tag ${t.id}`,
      onclick: async () => {
        if (!window.confirm(`Delete tag ${t.id}?`)) return;
        if (await act(status, () => api('DELETE', p`/repositories/${repo}/tags/${t.id}`)) !== undefined) reload();
      },
    }, 'Delete'))));
  const name = h('input', { name: 'id', required: true, size: 20, 'aria-label': 'New tag name' });
  const target = h('input', { name: 'ref', required: true, size: 24, value: ref, 'aria-label': 'Tag the ref' });
  const form = h('form', { class: 'card', 'aria-label': 'Create tag' },
    h('h2', {}, 'Create a tag'),
    h('label', {}, 'Name ', name), h('label', {}, 'At ref ', target),
    h('button', { type: 'submit', class: 'primary' }, 'Create tag'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (await act(status, () => api('POST', p`/repositories/${repo}/tags`, { json: { id: name.value.trim(), ref: target.value.trim() } })) !== undefined) reload();
  });
  add(section, h('h2', {}, 'Tags'), status,
    rows.length ? table(['Tag', 'Commit', ''], rows, { class: 'listing', 'aria-label': 'Tags' }) : notice('No tags yet.', 'info'),
    pager(result), form);
}
