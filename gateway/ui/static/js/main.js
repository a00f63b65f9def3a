// The web UI's entry point: the session, the header, and the table of views.

import { api, get, setCsrf, whenSignedOut } from './api.js';
import { h, add, replace, link, errorBox, notice } from './dom.js';
import { route, match, onRender, start, navigate, isCurrent } from './router.js';
import { loginView } from './views/login.js';
import { reposView } from './views/repos.js';
import { objectsView } from './views/objects.js';
import { changesView } from './views/changes.js';
import { commitsView } from './views/commits.js';
import { commitView } from './views/commit.js';
import { branchesView, tagsView } from './views/refs.js';
import { compareView } from './views/compare.js';
import { historyView, blameView } from './views/history.js';
import { settingsView } from './views/settings.js';
import { usersView, userView, accountView } from './views/users.js';
import { lineageView } from './views/lineage.js';
import { runsView, repoRunsView, runView } from './views/runs.js';
import { auditView } from './views/audit.js';

const state = { session: null, checked: false };

route('/', reposView);
route('/login', loginView, { public: true });
route('/repositories/:repo', (section, ctx) => navigate(`/ui/repositories/${encodeURIComponent(ctx.params.repo)}/objects`, { replace: true }));
route('/repositories/:repo/objects', objectsView);
route('/repositories/:repo/changes', changesView);
route('/repositories/:repo/commits', commitsView);
route('/repositories/:repo/commits/:id', commitView);
route('/repositories/:repo/branches', branchesView);
route('/repositories/:repo/tags', tagsView);
route('/repositories/:repo/compare', compareView);
route('/repositories/:repo/history', historyView);
route('/repositories/:repo/blame', blameView);
route('/repositories/:repo/settings', settingsView);
route('/repositories/:repo/lineage', lineageView);
route('/repositories/:repo/runs', repoRunsView);
route('/runs', runsView);
route('/runs/:run', runView);
route('/audit', auditView);
route('/admin/users', usersView);
route('/admin/users/:user', userView);
route('/account', accountView);

async function loadSession() {
  try {
    const session = await get('/auth/session');
    setCsrf(session.csrf_token);
    state.session = session;
  } catch (err) {
    if (err.status !== 401 && err.status !== 400) throw err;
    state.session = null;
  }
  state.checked = true;
}

function signInUrl() {
  const here = window.location.pathname + window.location.search;
  return here.startsWith('/ui/login') ? '/ui/login' : `/ui/login?next=${encodeURIComponent(here)}`;
}

whenSignedOut(() => {
  if (!state.session) return;
  state.session = null;
  setCsrf(null);
  navigate(signInUrl(), { replace: true });
});

async function signOut() {
  try {
    await api('DELETE', '/auth/session');
  } catch (err) {
    // Signed out already (or the server is gone): the page forgets the session either way.
  }
  state.session = null;
  setCsrf(null);
  navigate('/ui/login', { replace: true });
}

function header() {
  const top = document.getElementById('top');
  const s = state.session;
  replace(top, h('div', { class: 'bar' },
    link('/ui/', h('span', { class: 'brand' }, 'Weir'), { 'aria-label': 'Weir: repositories' }),
    s ? h('nav', { class: 'main-nav', 'aria-label': 'Main' },
      link('/ui/', 'Repositories'),
      link('/ui/runs', 'Runs'),
      s.user.admin ? link('/ui/admin/users', 'Users') : null,
      s.user.admin ? link('/ui/audit', 'Audit') : null) : null,
    s ? h('div', { class: 'who' },
      link('/ui/account', s.user.id, { class: 'user', title: `Signed in with ${s.access_key_id}` }),
      h('button', { type: 'button', class: 'link signout', onclick: signOut }, 'Sign out')) : null));
}

onRender(async (generation) => {
  const main = document.getElementById('main');
  if (!state.checked) {
    try {
      await loadSession();
    } catch (err) {
      replace(main, errorBox(err));
      return;
    }
  }
  const found = match(window.location.pathname);
  if (found && !found.options.public && !state.session) {
    navigate(signInUrl(), { replace: true });
    return;
  }
  header();
  const section = h('section', { class: 'view' });
  replace(main, section);
  if (!found) {
    document.title = 'Not found · Weir';
    add(section, h('h1', {}, 'No such page'), notice('This address is not a page of the Weir UI.', 'error'), link('/ui/', 'Go to the repositories'));
    return;
  }
  const ctx = {
    params: found.params,
    query: new URLSearchParams(window.location.search),
    session: state.session,
    signedIn: (session) => { state.session = session; },
  };
  try {
    await found.view(section, ctx);
  } catch (err) {
    if (isCurrent(generation)) add(section, errorBox(err));
  }
  if (isCurrent(generation)) {
    section.dataset.ready = 'true';
    const title = section.querySelector('h1');
    if (title && document.activeElement === document.body) {
      title.tabIndex = -1;
      title.focus({ preventScroll: true });
    }
  }
});

start();
