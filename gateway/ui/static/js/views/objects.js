// The object browser: a directory listing at any ref (paged, never "load all"), an object's
// details with download, delete and a preview, and upload to a branch.

import { api, apiUrl, get, p } from '../api.js';
import { h, add, link, uiUrl, fmtBytes, fmtTime, shortId, table, act, notice, clear } from '../dom.js';
import { navigate } from '../router.js';
import { repoHeader, loadRepo, isBranch, pager, kv, PAGE } from './common.js';
import { renderPreview } from './preview.js';
import { lineageUrl } from './lineage.js';

function crumbs(repo, ref, path) {
  const parts = path.split('/').filter(Boolean);
  const out = [link(uiUrl(`/repositories/${encodeURIComponent(repo)}/objects`, { ref }), repo)];
  let acc = '';
  parts.forEach((part, i) => {
    acc += part + (i < parts.length - 1 || path.endsWith('/') ? '/' : '');
    out.push(' / ');
    out.push(i === parts.length - 1 ? h('span', { 'aria-current': 'location' }, part)
      : link(uiUrl(`/repositories/${encodeURIComponent(repo)}/objects`, { ref, path: acc }), part));
  });
  return h('nav', { class: 'crumbs', 'aria-label': 'Path' }, out);
}

export function downloadUrl(repo, ref, path) {
  return apiUrl(p`/repositories/${repo}/refs/${ref}/objects`, { path });
}

export async function objectsView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  const path = query.get('path') || '';
  repoHeader(section, repo, ref, 'objects');
  document.title = `${repo} · ${path || '/'} @ ${ref} · Weir`;
  const writable = await isBranch(repo, ref);
  add(section, crumbs(repo, ref, path));
  if (path && !path.endsWith('/')) await objectDetail(section, repo, ref, path, writable);
  else await directory(section, repo, ref, path, query.get('after') || '', writable);
}

async function directory(section, repo, ref, prefix, after, writable) {
  const result = await get(p`/repositories/${repo}/refs/${ref}/objects/ls`,
    { prefix, delimiter: '/', after, amount: PAGE });
  const status = h('div', { class: 'status-slot' });
  const enc = encodeURIComponent(repo);
  add(section, h('div', { class: 'toolbar' },
    link(uiUrl(`/repositories/${enc}/blame`, { ref, path: prefix }), 'Blame', { class: 'button', title: 'The commit behind every object here' })));
  const rows = result.results.map((o) => {
    const name = o.path.slice(prefix.length);
    if (o.path_type === 'common_prefix') {
      return h('tr', { class: 'dir' },
        h('td', {}, link(uiUrl(`/repositories/${encodeURIComponent(repo)}/objects`, { ref, path: o.path }), name, { class: 'dir-link' })),
        h('td', {}, ''), h('td', {}, ''), h('td', {}, ''), h('td', {}, ''));
    }
    const del = writable ? h('button', {
      type: 'button', class: 'link danger',
      'aria-label': `Delete ${name}`,
      onclick: () => deleteObject(status, repo, ref, o.path),
    }, 'Delete') : null;
    return h('tr', {},
      h('td', {}, link(uiUrl(`/repositories/${encodeURIComponent(repo)}/objects`, { ref, path: o.path }), name)),
      h('td', { class: 'num' }, fmtBytes(o.size_bytes)),
      h('td', {}, h('time', { datetime: new Date(o.mtime * 1000).toISOString() }, fmtTime(o.mtime))),
      h('td', { class: 'mono', title: o.checksum }, o.checksum.slice(0, 12)),
      h('td', { class: 'actions' },
        h('a', { href: downloadUrl(repo, ref, o.path), download: name, 'aria-label': `Download ${name}` }, 'Download'),
        del));
  });
  if (rows.length === 0) {
    add(section, notice(prefix ? 'Nothing under this path at this ref.' : 'This ref holds no objects yet.', 'info'));
  } else {
    add(section, table(['Name', 'Size', 'Modified', 'ETag', ''], rows, { class: 'listing', 'aria-label': 'Objects' }));
  }
  add(section, pager(result), status);
  if (writable) add(section, uploadForm(repo, ref, prefix));
  else add(section, h('p', { class: 'muted' }, `${ref} is not a branch: this view is read-only. Uploads go to a branch.`));
}

async function deleteObject(status, repo, branch, path) {
  if (!window.confirm(`Delete ${path} on ${branch}? (The deletion is staged until you commit.)`)) return;
  const done = await act(status, () => api('DELETE', p`/repositories/${repo}/branches/${branch}/objects`, { query: { path } }),
    `Deleted ${path} (uncommitted).`);
  if (done !== undefined) navigate(window.location.pathname + window.location.search, { replace: true });
}

function uploadForm(repo, branch, prefix) {
  const status = h('div', { class: 'status-slot' });
  const files = h('input', { type: 'file', name: 'files', multiple: true, required: true, 'aria-label': 'Files to upload' });
  const dest = h('input', { name: 'prefix', value: prefix, size: 40, 'aria-label': 'Upload to path', placeholder: 'path/prefix/' });
  const meta = h('textarea', { name: 'metadata', rows: 2, cols: 40, 'aria-label': 'Object metadata', placeholder: 'key=value, one per line (optional)' });
  const form = h('form', { class: 'card upload', 'aria-label': 'Upload' },
    h('h2', {}, `Upload to ${branch}`),
    h('label', {}, 'Files ', files),
    h('label', {}, 'To path ', dest),
    h('label', {}, 'Metadata ', meta),
    h('button', { type: 'submit' }, 'Upload'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const headers = {};
    for (const line of meta.value.split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) headers[`x-lakefs-meta-${line.slice(0, at).trim()}`] = line.slice(at + 1).trim();
    }
    let base = dest.value.trim();
    if (base && !base.endsWith('/')) base += '/';
    const chosen = [...files.files];
    const done = await act(status, async () => {
      for (const [i, file] of chosen.entries()) {
        clear(status).append(notice(`Uploading ${file.name} (${i + 1} of ${chosen.length})…`, 'info'));
        await api('POST', p`/repositories/${repo}/branches/${branch}/objects`, {
          query: { path: base + file.name },
          body: file,
          headers: { ...headers, 'Content-Type': file.type || 'application/octet-stream' },
        });
      }
      return chosen.length;
    }, (n) => `Uploaded ${n} file${n === 1 ? '' : 's'} (uncommitted).`);
    if (done !== undefined) {
      await navigate(uiUrl(`/repositories/${encodeURIComponent(repo)}/objects`, { ref: branch, path: base }), { replace: true });
      const main = document.getElementById('main');
      main.querySelector('.view').prepend(notice(`Uploaded ${done} file${done === 1 ? '' : 's'} (uncommitted).`));
    }
  });
  return form;
}

async function objectDetail(section, repo, ref, path, writable) {
  const [stat, blame] = await Promise.all([
    get(p`/repositories/${repo}/refs/${ref}/objects/stat`, { path }),
    get(p`/repositories/${repo}/refs/${ref}/blame`, { path, amount: 1 }).catch(() => null),
  ]);
  const last = blame && blame.results.length ? blame.results[0].commit : null;
  const name = path.split('/').pop();
  const status = h('div', { class: 'status-slot' });
  const metadata = Object.entries(stat.metadata || {});
  const enc = encodeURIComponent(repo);
  add(section, 
    h('h2', { class: 'object-name' }, name),
    h('div', { class: 'toolbar' },
      h('a', { class: 'button', href: downloadUrl(repo, ref, path), download: name }, 'Download'),
      link(uiUrl(`/repositories/${enc}/history`, { ref, path }), 'History', { class: 'button' }),
      link(lineageUrl(repo, ref, { path }), 'Lineage', { class: 'button', title: 'What the commit that wrote this was built from' }),
      writable ? h('button', { type: 'button', class: 'danger', onclick: () => deleteAndLeave(status, repo, ref, path) }, 'Delete') : null),
    status,
    kv([
      ['Path', h('span', { class: 'mono' }, path)],
      ['Size', `${fmtBytes(stat.size_bytes)} (${stat.size_bytes.toLocaleString()} bytes)`],
      ['Modified', fmtTime(stat.mtime)],
      ['Last changed', last ? h('span', {},
        link(uiUrl(`/repositories/${encodeURIComponent(repo)}/commits/${encodeURIComponent(last.id)}`), shortId(last.id), { class: 'mono' }),
        ` ${(last.message || '').split('\n')[0]} · ${last.committer} · ${fmtTime(last.creation_date)}`)
        : h('span', { class: 'muted' }, 'not committed yet (staged on this branch)')],
      ['ETag', h('span', { class: 'mono' }, stat.checksum)],
      ['Content type', stat.content_type || ''],
      ['Address', h('span', { class: 'mono' }, stat.physical_address)],
      metadata.length ? ['Metadata', h('ul', { class: 'plain' }, metadata.map(([k, v]) => h('li', {}, h('span', { class: 'mono' }, k), ' = ', v)))] : null,
    ]),
    h('h2', {}, 'Preview'));
  const slot = h('div', { class: 'preview', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading preview…'));
  add(section, slot);
  try {
    const preview = await get(p`/repositories/${repo}/refs/${ref}/objects/preview`, { path, rows: 50 });
    renderPreview(clear(slot), preview, downloadUrl(repo, ref, path));
  } catch (err) {
    clear(slot).append(notice(err.message, 'error'));
  }
}

async function deleteAndLeave(status, repo, branch, path) {
  if (!window.confirm(`Delete ${path} on ${branch}? (The deletion is staged until you commit.)`)) return;
  const done = await act(status, () => api('DELETE', p`/repositories/${repo}/branches/${branch}/objects`, { query: { path } }));
  if (done !== undefined) {
    const parent = path.slice(0, path.lastIndexOf('/') + 1);
    navigate(uiUrl(`/repositories/${encodeURIComponent(repo)}/objects`, { ref: branch, path: parent }));
  }
}

