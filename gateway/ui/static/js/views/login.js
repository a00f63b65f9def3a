// Sign in with an access key pair (the same pair S3 clients use). The server answers with an
// HttpOnly session cookie and the CSRF token; the secret is not kept by the page.

import { api, setCsrf } from '../api.js';
import { h, add, errorBox, clear } from '../dom.js';
import { navigate } from '../router.js';

export function loginView(section, { query, signedIn }) {
  document.title = 'Sign in · Weir';
  const status = h('div', { class: 'status-slot' });
  const key = h('input', { id: 'access-key-id', name: 'access_key_id', autocomplete: 'username', required: true, spellcheck: 'false', size: 30 });
  const secret = h('input', { id: 'secret-access-key', name: 'secret_access_key', type: 'password', autocomplete: 'current-password', required: true, size: 30 });
  const form = h('form', { class: 'card login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in to Weir'),
    h('p', { class: 'muted' }, 'Use an access key pair: the same key id and secret your S3 clients use.'),
    h('label', { for: 'access-key-id' }, 'Access key id'), key,
    h('label', { for: 'secret-access-key' }, 'Secret access key'), secret,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(status);
    try {
      const session = await api('POST', '/auth/session', {
        json: { access_key_id: key.value.trim(), secret_access_key: secret.value },
        signIn: true,
      });
      secret.value = '';
      setCsrf(session.csrf_token);
      signedIn(session);
      const next = query.get('next');
      navigate(next && next.startsWith('/ui/') && !next.startsWith('/ui/login') ? next : '/ui/', { replace: true });
    } catch (err) {
      status.append(errorBox(err.status === 401
        ? new Error('The access key id or the secret is wrong (or the key was revoked).')
        : err));
    }
  });
  add(section, form);
  key.focus();
}
