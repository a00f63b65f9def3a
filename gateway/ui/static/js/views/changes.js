// A branch's uncommitted changes (paged), undo per path or all, and the commit form.

import { api, get, p } from '../api.js';
import { h, add, link, uiUrl, fmtBytes, act, notice } from '../dom.js';
import { navigate } from '../router.js';
import { repoHeader, loadRepo, isBranch, loadMore, metadataEditor, inputsField, changeBadge, PAGE } from './common.js';

export async function changesView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  repoHeader(section, repo, ref, 'changes');
  document.title = `${repo} · changes on ${ref} · Weir`;
  if (!await isBranch(repo, ref)) {
    add(section, notice(`${ref} is not a branch: only branches have uncommitted changes.`, 'info'));
    return;
  }
  const status = h('div', { class: 'status-slot' });
  const body = h('tbody');
  const listing = h('table', { class: 'listing', 'aria-label': 'Uncommitted changes' },
    h('thead', {}, h('tr', {}, ['Change', 'Path', 'Size', ''].map((t) => h('th', { scope: 'col' }, t)))), body);
  const empty = notice(`No uncommitted changes on ${ref}.`, 'info');
  const enc = encodeURIComponent(repo);
  let count = 0;
  add(section, h('h2', {}, `Uncommitted changes on ${ref}`), status, listing);
  await loadMore(
    (after) => get(p`/repositories/${repo}/branches/${ref}/diff`, { after, amount: PAGE }),
    (rows) => {
      count += rows.length;
      for (const d of rows) {
        const isPrefix = d.path_type === 'common_prefix';
        body.append(h('tr', {},
          h('td', {}, changeBadge(d.type)),
          h('td', { class: 'mono' }, d.type === 'removed' ? d.path
            : link(uiUrl(`/repositories/${enc}/objects`, { ref, path: d.path }), d.path)),
          h('td', { class: 'num' }, fmtBytes(d.size_bytes)),
          h('td', { class: 'actions' }, h('button', {
            type: 'button', class: 'link',
            'aria-label': `Undo the change to ${d.path}`,
            onclick: () => reset(status, repo, ref, { type: isPrefix ? 'common_prefix' : 'object', path: d.path }),
          }, 'Undo'))));
      }
    },
    section);
  if (count === 0) {
    listing.replaceWith(empty);
  } else {
    add(section, h('div', { class: 'toolbar' }, h('button', {
      type: 'button', class: 'danger',
      onclick: () => {
        if (window.confirm(`Discard every uncommitted change on ${ref}?`)) reset(status, repo, ref, { type: 'reset' });
      },
    }, 'Discard all changes')));
  }
  add(section, commitForm(repo, ref));
}

async function reset(status, repo, branch, body) {
  const done = await act(status, () => api('PUT', p`/repositories/${repo}/branches/${branch}`, { json: body }));
  if (done !== undefined) navigate(window.location.pathname + window.location.search, { replace: true });
}

function commitForm(repo, branch) {
  const status = h('div', { class: 'status-slot' });
  const message = h('textarea', { name: 'message', rows: 3, cols: 60, required: true, 'aria-label': 'Commit message', placeholder: 'What changed and why' });
  const meta = metadataEditor();
  const inputs = inputsField();
  const form = h('form', { class: 'card commit-form', 'aria-label': 'Commit' },
    h('h2', {}, `Commit to ${branch}`),
    h('label', {}, 'Message', message),
    meta, inputs,
    h('button', { type: 'submit', class: 'primary' }, 'Commit changes'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const json = { message: message.value, metadata: meta.values() };
    if (inputs.values().length) json.inputs = inputs.values();
    const created = await act(status, () => api('POST', p`/repositories/${repo}/branches/${branch}/commits`, { json }));
    if (created) navigate(uiUrl(`/repositories/${encodeURIComponent(repo)}/commits/${encodeURIComponent(created.id)}`));
  });
  return form;
}
