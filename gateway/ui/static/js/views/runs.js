// Isolated runs (weir run): the list (all runs you may see, or one repository's), and one run:
// its status, command, branches, pinned inputs, what it read (inputs) and what it wrote (the
// result commit's changes), and, for a rerun, how its outputs compare with the original's.
// Runs are started from the command line (they execute a local job); the UI reads them.

import { get, p } from '../api.js';
import { h, add, link, uiUrl, fmtTime, fmtBytes, shortId, notice, table } from '../dom.js';
import { repoHeader, loadRepo, loadMore, kv, changeBadge, PAGE } from './common.js';
import { lineageUrl } from './lineage.js';

function statusBadge(status) {
  const kind = { succeeded: 'added', failed: 'removed', expired: 'removed', running: 'changed', finishing: 'changed' }[status] || 'merge';
  return h('span', { class: `badge ${kind} status` }, status);
}

function commitLink(repo, id) {
  if (!id) return h('span', { class: 'muted' }, '—');
  return link(uiUrl(`/repositories/${encodeURIComponent(repo)}/commits/${encodeURIComponent(id)}`), shortId(id), { class: 'mono' });
}

function duration(run) {
  if (!run.ended) return '';
  const s = Math.max(0, run.ended - run.started);
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function runRows(runs) {
  return runs.map((r) => h('tr', {},
    h('td', {}, link(uiUrl(`/runs/${encodeURIComponent(r.id)}`), r.name || r.id, { class: 'mono' })),
    h('td', {}, statusBadge(r.status)),
    h('td', {}, link(uiUrl(`/repositories/${encodeURIComponent(r.repository)}/objects`), r.repository)),
    h('td', {}, r.user),
    h('td', { class: 'mono cmd' }, r.command.join(' ').slice(0, 80)),
    h('td', {}, fmtTime(r.started)),
    h('td', {}, commitLink(r.repository, r.result_commit))));
}

async function runList(section, repo) {
  const body = h('tbody');
  const listing = h('table', { class: 'listing', 'aria-label': 'Runs' },
    h('thead', {}, h('tr', {}, ['Run', 'Status', 'Repository', 'User', 'Command', 'Started', 'Result'].map((t) => h('th', { scope: 'col' }, t)))), body);
  add(section, listing);
  let count = 0;
  await loadMore(
    (after) => (repo ? get(p`/repositories/${repo}/runs`, { after, amount: PAGE }) : get('/runs', { after, amount: PAGE })),
    (rows) => {
      count += rows.length;
      runRows(rows).forEach((tr) => body.append(tr));
      if (!count) listing.replaceWith(notice('No runs yet. Start one with: weir run REPO -- COMMAND', 'info'));
    },
    section);
}

export async function runsView(section) {
  document.title = 'Runs · Weir';
  add(section, h('h1', {}, 'Runs'),
    h('p', { class: 'muted' }, 'Jobs started with weir run: each gets a private branch, pinned inputs and recorded lineage.'));
  await runList(section, null);
}

export async function repoRunsView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  repoHeader(section, repo, query.get('ref') || info.default_branch, 'runs', { withRef: false });
  document.title = `${repo} · runs · Weir`;
  add(section, h('h2', {}, 'Runs'));
  await runList(section, repo);
}

export async function runView(section, { params }) {
  const run = await get(p`/runs/${params.run}`);
  const repo = run.repository;
  const enc = encodeURIComponent(repo);
  document.title = `Run ${run.name || run.id} · Weir`;
  add(section,
    h('h1', {}, `Run ${run.name || run.id} `, statusBadge(run.status)),
    run.error ? notice(run.error, run.status === 'succeeded' ? 'info' : 'error') : null,
    kv([
      ['Run id', h('span', { class: 'mono' }, run.id)],
      ['Repository', link(uiUrl(`/repositories/${enc}/objects`), repo)],
      ['Command', h('code', { class: 'mono' }, run.command.join(' '))],
      ['User', run.user],
      ['Started', fmtTime(run.started)],
      ['Ended', run.ended ? `${fmtTime(run.ended)} (${duration(run)})` : 'still running'],
      ['Exit status', run.exit_status === null || run.exit_status === undefined ? '—' : String(run.exit_status)],
      ['Source branch', link(uiUrl(`/repositories/${enc}/objects`, { ref: run.source_branch }), run.source_branch)],
      ['Started at commit', commitLink(repo, run.start_commit)],
      ['Run branch', run.run_branch ? link(uiUrl(`/repositories/${enc}/objects`, { ref: run.run_branch }), run.run_branch, { class: 'mono' }) : '—'],
      ['Result commit', commitLink(repo, run.result_commit)],
      run.merge ? ['Merge commit', run.merge_commit ? commitLink(repo, run.merge_commit) : (run.merge_conflicts ? `not merged: ${run.merge_conflicts} conflicts` : '—')] : null,
      run.rerun_of ? ['Rerun of', link(uiUrl(`/runs/${encodeURIComponent(run.rerun_of)}`), run.rerun_of, { class: 'mono' })] : null,
      run.git ? ['Code', h('span', { class: 'mono' }, `${run.git.commit}${run.git.dirty ? ' (with uncommitted changes)' : ''}`)] : null,
      Object.keys(run.metadata || {}).length ? ['Metadata', h('ul', { class: 'plain' }, Object.entries(run.metadata).map(([k, v]) => h('li', {}, h('span', { class: 'mono' }, k), ' = ', v)))] : null,
    ]),
    run.result_commit ? h('div', { class: 'toolbar' },
      link(lineageUrl(repo, run.result_commit), 'Lineage of the result', { class: 'button' }),
      link(uiUrl(`/repositories/${enc}/commits/${encodeURIComponent(run.result_commit)}`), 'Result commit', { class: 'button' })) : null);

  add(section, h('h2', {}, 'Inputs (what the run read)'));
  const inputs = run.inputs || [];
  const pins = run.pins || [];
  if (pins.length) {
    add(section, h('p', { class: 'muted' }, 'Pinned: ', pins.map((pin, i) => [i ? ', ' : '', h('span', { class: 'mono' }, `${pin.repository}${pin.branch ? `/${pin.branch}` : ''}@${pin.ref}`)])));
  }
  add(section, inputs.length ? table(['Repository', 'Commit', 'Read as', 'Paths read'], inputs.map((i) => h('tr', {},
    h('td', {}, link(uiUrl(`/repositories/${encodeURIComponent(i.repository)}/objects`), i.repository)),
    h('td', {}, commitLink(i.repository, i.commit)),
    h('td', { class: 'mono' }, (i.refs || []).join(', ')),
    h('td', { class: 'num' }, String(i.paths)))), { class: 'listing', 'aria-label': 'Run inputs' })
    : notice(run.status === 'running' ? 'Inputs are recorded when the run finishes.' : 'The run read nothing from the lake.', 'info'));

  add(section, h('h2', {}, 'Outputs (what the run wrote)'));
  if (run.result_commit && run.start_commit) {
    const body = h('tbody');
    const listing = h('table', { class: 'listing', 'aria-label': 'Run outputs' },
      h('thead', {}, h('tr', {}, ['Change', 'Path', 'Size'].map((t) => h('th', { scope: 'col' }, t)))), body);
    add(section, listing);
    let count = 0;
    await loadMore(
      (after) => get(p`/repositories/${repo}/refs/${run.start_commit}/diff/${run.result_commit}`, { after, amount: PAGE, type: 'two_dot' }),
      (rows) => {
        count += rows.length;
        rows.forEach((d) => body.append(h('tr', {},
          h('td', {}, changeBadge(d.type)),
          h('td', { class: 'mono' }, d.type === 'removed' ? d.path : link(uiUrl(`/repositories/${enc}/objects`, { ref: run.result_commit, path: d.path }), d.path)),
          h('td', { class: 'num' }, fmtBytes(d.size_bytes)))));
        if (!count) listing.replaceWith(notice('The run wrote nothing.', 'info'));
      },
      section);
  } else {
    add(section, notice(run.status === 'running' ? 'Outputs are committed when the run finishes.' : 'No result commit.', 'info'));
  }

  if (run.rerun_of) {
    add(section, h('h2', {}, 'Rerun result: outputs against the original run'));
    const counts = run.comparison || {};
    add(section, h('p', {}, ['same', 'differs', 'missing', 'new'].map((k) => h('span', { class: 'verdict' }, `${counts[k] || 0} ${k}`)).flatMap((x, i) => (i ? [' · ', x] : [x]))));
    if (run.status === 'succeeded') {
      const body = h('tbody');
      add(section, h('table', { class: 'listing', 'aria-label': 'Rerun comparison' },
        h('thead', {}, h('tr', {}, ['Path', 'Verdict', 'Original', 'Rerun'].map((t) => h('th', { scope: 'col' }, t)))), body));
      const side = (s) => (s ? h('span', { class: 'mono' }, `${s.checksum.slice(0, 10)} ${fmtBytes(s.size_bytes)}`) : h('span', { class: 'muted' }, 'absent'));
      await loadMore(
        (after) => get(p`/runs/${run.id}/comparison`, { after, amount: PAGE }),
        (rows) => rows.forEach((v) => body.append(h('tr', {},
          h('td', { class: 'mono' }, v.path), h('td', {}, h('span', { class: `badge ${v.verdict === 'same' ? 'added' : 'changed'}` }, v.verdict)),
          h('td', {}, side(v.original)), h('td', {}, side(v.rerun))))),
        section);
    }
  }
}
