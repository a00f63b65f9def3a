// The audit trail: every mutation on either API (who, with which key, what, where, the result,
// when, from where), newest first, filtered and paged; and a check of its hash chain.

import { get } from '../api.js';
import { h, add, link, uiUrl, table, notice, act } from '../dom.js';
import { navigate } from '../router.js';
import { pager, PAGE } from './common.js';

function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function rfc3339(local) {
  return local ? new Date(local).toISOString() : '';
}

export async function auditView(section, { query }) {
  document.title = 'Audit trail · Weir';
  const filters = {
    repository: query.get('repository') || '',
    user: query.get('user') || '',
    since: query.get('since') || '',
    until: query.get('until') || '',
  };
  const result = await get('/audit', { ...filters, after: query.get('after') || '', amount: PAGE });
  const form = h('form', { class: 'inline', 'aria-label': 'Filter the audit trail' },
    h('label', {}, 'Repository ', h('input', { name: 'repository', value: filters.repository, size: 16 })),
    h('label', {}, 'User ', h('input', { name: 'user', value: filters.user, size: 12 })),
    h('label', {}, 'Since ', h('input', { name: 'since', type: 'datetime-local', value: localInput(filters.since) })),
    h('label', {}, 'Until ', h('input', { name: 'until', type: 'datetime-local', value: localInput(filters.until) })),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(uiUrl('/audit', {
      repository: form.repository.value.trim(),
      user: form.user.value.trim(),
      since: rfc3339(form.since.value),
      until: rfc3339(form.until.value),
    }));
  });
  const status = h('div', { class: 'status-slot', 'aria-live': 'polite' });
  const verify = h('button', {
    type: 'button',
    onclick: () => act(status, () => get('/audit/verify'), (v) => (v.ok
      ? `The chain holds: ${v.records.toLocaleString()} records, head ${v.head.slice(0, 16)}.`
      : `BROKEN at record ${v.broken_at}: ${v.reason}`)),
  }, 'Verify the hash chain');
  const rows = result.results.map((r) => h('tr', {},
    h('td', { class: 'mono' }, h('time', { datetime: r.time_iso }, r.time_iso.replace('T', ' ').replace('Z', ''))),
    h('td', {}, r.user || ''),
    h('td', {}, r.api),
    h('td', { class: 'mono' }, r.operation),
    h('td', {}, r.repository ? link(uiUrl(`/repositories/${encodeURIComponent(r.repository)}/objects`, r.ref ? { ref: r.ref } : {}), r.repository) : ''),
    h('td', { class: 'mono' }, [r.ref, r.path].filter(Boolean).join(' : ')),
    h('td', {}, h('span', { class: `badge ${r.result === 'ok' ? 'added' : 'removed'}` }, r.result)),
    h('td', {}, r.detail || ''),
    h('td', { class: 'mono muted' }, r.address || '')));
  add(section, h('h1', {}, 'Audit trail'),
    h('p', { class: 'muted' }, 'Every change made through either API, hash-chained: a record altered, removed or reordered breaks the chain.'),
    form, h('div', { class: 'toolbar' }, verify), status,
    rows.length ? h('div', { class: 'scroll-x' }, table(['When (UTC)', 'User', 'API', 'Operation', 'Repository', 'Ref : path', 'Result', 'Detail', 'From'], rows, { class: 'listing compact', 'aria-label': 'Audit records' }))
      : notice('No records match.', 'info'),
    pager(result));
}
