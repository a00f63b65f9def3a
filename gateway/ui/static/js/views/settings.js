// A repository's properties and its deletion.

import { api, p } from '../api.js';
import { h, add, fmtTime, act, link, uiUrl } from '../dom.js';
import { navigate } from '../router.js';
import { repoHeader, loadRepo, kv } from './common.js';

export async function settingsView(section, { params }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  repoHeader(section, repo, info.default_branch, 'settings', { withRef: false });
  document.title = `${repo} · settings · Weir`;
  const status = h('div', { class: 'status-slot' });
  const confirmName = h('input', { name: 'confirm', size: 24, 'aria-label': 'Type the repository name to confirm' });
  const form = h('form', { class: 'card danger-zone', 'aria-label': 'Delete repository' },
    h('h2', {}, 'Delete this repository'),
    h('p', {}, 'Deletes every branch, tag, commit and uncommitted change of the repository. Type its name to confirm.'),
    h('label', {}, 'Repository name ', confirmName),
    h('button', { type: 'submit', class: 'danger' }, 'Delete repository'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (confirmName.value.trim() !== repo) {
      confirmName.focus();
      return;
    }
    if (await act(status, () => api('DELETE', p`/repositories/${repo}`)) !== undefined) navigate('/ui/');
  });
  add(section, 
    h('h2', {}, 'Settings'),
    kv([
      ['Name', info.id],
      ['Default branch', info.default_branch],
      ['Created', fmtTime(info.creation_date)],
      ['Storage namespace', info.storage_namespace],
    ]),
    h('p', { class: 'muted' }, 'Branch protection rules are on the Branches tab. ',
      link(uiUrl('/audit', { repository: repo }), 'Audit trail of this repository'), ' (its admins).'),
    form);
}
