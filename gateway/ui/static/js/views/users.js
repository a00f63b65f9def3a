// Users, their access keys and grants. Admins manage everyone; every user manages their own
// keys and reads their own grants (the API's self-service routes) on the account page.

import { api, get, p } from '../api.js';
import { h, add, link, uiUrl, fmtTime, table, act, notice, clear } from '../dom.js';
import { navigate } from '../router.js';
import { pager, PAGE } from './common.js';

function reload() {
  return navigate(window.location.pathname + window.location.search, { replace: true });
}

export async function usersView(section, { query }) {
  document.title = 'Users · Weir';
  const result = await get('/auth/users', { after: query.get('after') || '', amount: PAGE });
  const status = h('div', { class: 'status-slot' });
  const rows = result.results.map((u) => h('tr', {},
    h('td', {}, link(uiUrl(`/admin/users/${encodeURIComponent(u.id)}`), u.id)),
    h('td', {}, u.admin ? h('span', { class: 'badge protected' }, 'admin') : ''),
    h('td', {}, fmtTime(u.creation_date)),
    h('td', { class: 'actions' }, h('button', {
      type: 'button', class: 'link danger', 'aria-label': `Delete user ${u.id}`,
      onclick: async () => {
        if (!window.confirm(`Delete user ${u.id} with all their keys and grants?`)) return;
        if (await act(status, () => api('DELETE', p`/auth/users/${u.id}`)) !== undefined) reload();
      },
    }, 'Delete'))));
  const name = h('input', { name: 'id', required: true, size: 24, 'aria-label': 'New user name' });
  const admin = h('input', { type: 'checkbox', name: 'admin' });
  const form = h('form', { class: 'card', 'aria-label': 'Create user' },
    h('h2', {}, 'Create a user'),
    h('label', {}, 'Name ', name), h('label', { class: 'check' }, admin, ' Administrator'),
    h('button', { type: 'submit', class: 'primary' }, 'Create user'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const user = await act(status, () => api('POST', '/auth/users', { json: { id: name.value.trim(), admin: admin.checked } }));
    if (user) navigate(uiUrl(`/admin/users/${encodeURIComponent(user.id)}`));
  });
  add(section, h('h1', {}, 'Users'), status,
    table(['User', '', 'Created', ''], rows, { class: 'listing', 'aria-label': 'Users' }), pager(result), form);
}

export async function userView(section, { params, session }) {
  const user = params.user;
  document.title = `${user} · Weir`;
  add(section, h('h1', {}, `User ${user}`));
  await keysAndGrants(section, user, session.user.admin);
}

export async function accountView(section, { session }) {
  document.title = 'Your account · Weir';
  add(section, h('h1', {}, `Your account: ${session.user.id}`),
    h('p', { class: 'muted' }, `Signed in with access key ${session.access_key_id}; the session ends ${fmtTime(session.expires)}.`));
  await keysAndGrants(section, session.user.id, session.user.admin);
}

async function keysAndGrants(section, user, isAdmin) {
  const [keys, grants] = await Promise.all([
    get(p`/auth/users/${user}/credentials`, { amount: 1000 }),
    get(p`/auth/users/${user}/grants`),
  ]);
  const status = h('div', { class: 'status-slot' });
  const secretSlot = h('div', { 'aria-live': 'polite' });
  const keyRows = keys.results.map((k) => h('tr', {},
    h('td', { class: 'mono' }, k.access_key_id),
    h('td', {}, fmtTime(k.creation_date)),
    h('td', { class: 'actions' }, h('button', {
      type: 'button', class: 'link danger', 'aria-label': `Revoke key ${k.access_key_id}`,
      onclick: async () => {
        if (!window.confirm(`Revoke ${k.access_key_id}? Clients and sessions using it stop working at once.`)) return;
        if (await act(status, () => api('DELETE', p`/auth/users/${user}/credentials/${k.access_key_id}`)) !== undefined) reload();
      },
    }, 'Revoke'))));
  const create = h('button', {
    type: 'button',
    onclick: async () => {
      const created = await act(status, () => api('POST', p`/auth/users/${user}/credentials`, { json: {} }));
      if (!created) return;
      clear(secretSlot).append(h('div', { class: 'card secret' },
        h('h3', {}, 'New access key: copy the secret now'),
        h('p', {}, 'The secret is shown this once and is not stored in a readable form anywhere you can reach again.'),
        h('dl', { class: 'kv' }, h('dt', {}, 'Access key id'), h('dd', { class: 'mono' }, created.access_key_id),
          h('dt', {}, 'Secret access key'), h('dd', { class: 'mono secret-value' }, created.secret_access_key)),
        h('button', { type: 'button', onclick: reload }, 'Done')));
    },
  }, 'Create access key');
  const grantRows = grants.results.map((g) => h('tr', {},
    h('td', { class: 'mono' }, g.repository), h('td', { class: 'mono' }, g.branch), h('td', {}, g.action),
    h('td', { class: 'actions' }, isAdmin ? h('button', {
      type: 'button', class: 'link danger', 'aria-label': `Remove grant ${g.action} on ${g.repository} ${g.branch}`,
      onclick: async () => {
        if (await act(status, () => api('DELETE', p`/auth/users/${user}/grants/${g.id}`)) !== undefined) reload();
      },
    }, 'Remove') : null)));
  add(section, status,
    h('h2', {}, 'Access keys'), secretSlot,
    keyRows.length ? table(['Access key id', 'Created', ''], keyRows, { class: 'listing', 'aria-label': 'Access keys' }) : notice('No access keys.', 'info'),
    h('div', { class: 'toolbar' }, create),
    h('h2', {}, 'Grants'),
    h('p', { class: 'muted' }, 'Actions are ordered read < write < commit < admin; a grant implies the weaker ones. Patterns are globs.'),
    grantRows.length ? table(['Repositories', 'Branches', 'Action', ''], grantRows, { class: 'listing', 'aria-label': 'Grants' }) : notice('No grants.', 'info'),
    isAdmin ? grantForm(user, status) : null);
}

function grantForm(user, status) {
  const repo = h('input', { name: 'repository', value: '*', size: 16, 'aria-label': 'Repository glob' });
  const branch = h('input', { name: 'branch', value: '*', size: 16, 'aria-label': 'Branch glob' });
  const action = h('select', { name: 'action', 'aria-label': 'Action' }, ['read', 'write', 'commit', 'admin'].map((a) => h('option', { value: a }, a)));
  const form = h('form', { class: 'card inline-form', 'aria-label': 'Add grant' },
    h('h3', {}, 'Add a grant'),
    h('label', {}, 'Repositories ', repo), h('label', {}, 'Branches ', branch), h('label', {}, 'Action ', action),
    h('button', { type: 'submit' }, 'Add grant'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const done = await act(status, () => api('POST', p`/auth/users/${user}/grants`, {
      json: { repository: repo.value.trim(), branch: branch.value.trim(), action: action.value },
    }));
    if (done !== undefined) reload();
  });
  return form;
}
