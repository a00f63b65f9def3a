// The lineage graph of a commit or an object: what it was built from (upstream) or what was
// built from it (downstream), across repositories, drawn as columns of commits joined by the
// edges the API reports. Every readable node is a link: following it redraws the graph around
// that commit, so a person can walk from a model back to the data it came from.

import { get, p } from '../api.js';
import { h, add, link, uiUrl, shortId, fmtTime, notice } from '../dom.js';
import { navigate } from '../router.js';
import { repoHeader, loadRepo, kv } from './common.js';

const SVG = 'http://www.w3.org/2000/svg';
const COL = 440;
const ROW = 92;
const W = 264;
const H = 64;
const PAD = 24;

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  children.flat().forEach((c) => { if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c))); });
  return el;
}

export function lineageUrl(repo, ref, { path = '', direction = 'upstream', depth = '' } = {}) {
  return uiUrl(`/repositories/${encodeURIComponent(repo)}/lineage`, { ref, path, direction: direction === 'upstream' ? '' : direction, depth });
}

// Columns by distance from the root along the edges (longest path), rows by first appearance
// and then by the mean row of the neighbours already placed (fewer crossings).
export function layout(graph) {
  const up = graph.direction !== 'downstream';
  const rank = new Map([[graph.root, 0]]);
  for (let round = 0; round < graph.nodes.length + 1; round += 1) {
    let changed = false;
    for (const e of graph.edges) {
      const [near, far] = up ? [e.to, e.from] : [e.from, e.to];
      if (!rank.has(near)) continue;
      const r = rank.get(near) + 1;
      if (!rank.has(far) || rank.get(far) < r) {
        if (r > graph.nodes.length) continue;
        rank.set(far, r);
        changed = true;
      }
    }
    if (!changed) break;
  }
  graph.nodes.forEach((n) => { if (!rank.has(n.id)) rank.set(n.id, 0); });
  const columns = [];
  for (const n of graph.nodes) {
    const r = rank.get(n.id);
    (columns[r] = columns[r] || []).push(n.id);
  }
  const row = new Map();
  columns.forEach((ids, r) => {
    if (r > 0) {
      const score = (id) => {
        const near = graph.edges.filter((e) => e.from === id || e.to === id)
          .map((e) => (e.from === id ? e.to : e.from)).filter((x) => row.has(x) && rank.get(x) === r - 1);
        return near.length ? near.reduce((s, x) => s + row.get(x), 0) / near.length : Infinity;
      };
      ids.sort((a, b) => score(a) - score(b));
    }
    ids.forEach((id, i) => row.set(id, i));
  });
  const depth = columns.length;
  const place = new Map();
  for (const n of graph.nodes) {
    const r = rank.get(n.id);
    const col = up ? depth - 1 - r : r;
    place.set(n.id, { x: PAD + col * COL, y: PAD + row.get(n.id) * ROW });
  }
  const height = PAD * 2 + Math.max(...columns.map((c) => c.length)) * ROW - (ROW - H);
  return { place, width: PAD * 2 + (depth - 1) * COL + W, height };
}

function edgeText(e) {
  if (e.kind === 'contains') return `contains ${e.path || 'everything'}`;
  return ['input', e.ref ? `@${e.ref}` : '', e.path ? `: ${e.path}` : ''].join('');
}

function drawing(graph, current) {
  const { place, width, height } = layout(graph);
  const root = svg('svg', { width, height, class: 'lineage', role: 'group', 'aria-label': 'Lineage graph' },
    svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M0 0 L10 5 L0 10 z', fill: '#6b7785' }))));
  for (const e of graph.edges) {
    const a = place.get(e.from);
    const b = place.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + W; const y1 = a.y + H / 2; const x2 = b.x; const y2 = b.y + H / 2;
    const mid = (x1 + x2) / 2;
    root.append(svg('path', {
      d: `M${x1} ${y1} C${mid} ${y1} ${mid} ${y2} ${x2 - 2} ${y2}`, class: `edge ${e.kind}`, 'marker-end': 'url(#arrow)',
    }, svg('title', {}, edgeText(e))));
    root.append(svg('text', { x: mid, y: (y1 + y2) / 2 - 6, class: 'edge-label', 'text-anchor': 'middle' }, edgeText(e).length > 46 ? `${edgeText(e).slice(0, 45)}…` : edgeText(e)));
  }
  for (const n of graph.nodes) {
    const { x, y } = place.get(n.id);
    const title = n.commit ? (n.commit.message || '(no message)').split('\n')[0] : 'not readable';
    const box = svg('g', { class: `node${n.id === graph.root ? ' root' : ''}${n.readable ? '' : ' hidden'}` },
      svg('rect', { x, y, width: W, height: H, rx: 8 }),
      svg('text', { x: x + 12, y: y + 22, class: 'node-repo' }, `${n.repository.length > 22 ? `${n.repository.slice(0, 21)}…` : n.repository} @ ${shortId(n.commit_id)}`),
      svg('text', { x: x + 12, y: y + 42, class: 'node-msg' }, title.length > 32 ? `${title.slice(0, 31)}…` : title),
      n.commit ? svg('text', { x: x + 12, y: y + 57, class: 'node-sub' }, `${n.commit.committer} · ${fmtTime(n.commit.creation_date)}`) : null);
    if (n.readable && n.id !== graph.root) {
      const a = svg('a', { href: current(n), 'aria-label': `Lineage of ${n.repository} at ${shortId(n.commit_id)}: ${title}` }, box);
      root.append(a);
    } else root.append(box);
  }
  return root;
}

export async function lineageView(section, { params, query }) {
  const repo = params.repo;
  const info = await loadRepo(repo);
  const ref = query.get('ref') || info.default_branch;
  const path = query.get('path') || '';
  const direction = query.get('direction') === 'downstream' ? 'downstream' : 'upstream';
  const depth = query.get('depth') || '';
  repoHeader(section, repo, ref, 'commits', {
    onPick: (r) => navigate(lineageUrl(repo, r, { path, direction, depth })),
  });
  document.title = `${repo} · lineage of ${ref} · Weir`;
  const graph = await get(p`/repositories/${repo}/refs/${ref}/lineage`, { path, direction, depth });
  const rootNode = graph.nodes.find((n) => n.id === graph.root);
  const form = h('form', { class: 'inline', 'aria-label': 'Lineage options' },
    h('label', {}, 'Path ', h('input', { name: 'path', value: path, size: 28, placeholder: 'an object or prefix/ (optional)' })),
    h('label', {}, 'Direction ', h('select', { name: 'direction' },
      h('option', { value: 'upstream', selected: direction === 'upstream' }, 'upstream: what it was built from'),
      h('option', { value: 'downstream', selected: direction === 'downstream' }, 'downstream: what was built from it'))),
    h('label', {}, 'Depth ', h('input', { name: 'depth', value: depth, size: 3, inputmode: 'numeric', placeholder: '8' })),
    h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(lineageUrl(repo, ref, { path: form.path.value.trim(), direction: form.direction.value, depth: form.depth.value.trim() }));
  });
  add(section, h('h2', {}, `Lineage of ${repo} @ ${rootNode ? shortId(rootNode.commit_id) : ref}`, path ? h('span', { class: 'mono' }, ` : ${path}`) : null),
    form,
    h('p', { class: 'muted' }, direction === 'upstream'
      ? 'Arrows point the way the data flowed: from what was read to the commit that read it. Click a commit to trace it further.'
      : 'Arrows point the way the data flowed: to every commit built from this one. Click a commit to trace it further.'));
  if (graph.truncated) add(section, notice('The graph was cut at the depth or size limit: raise the depth, or follow a node.', 'info'));
  if (graph.hidden) add(section, notice(`${graph.hidden} downstream commit${graph.hidden === 1 ? ' is' : 's are'} in repositories you may not read.`, 'info'));
  const follow = (n) => lineageUrl(n.repository, n.commit_id, { direction, depth });
  if (graph.edges.length === 0) {
    add(section, notice(direction === 'upstream'
      ? 'No recorded inputs: this commit was not built from other commits (record inputs when committing, or run the job under weir run).'
      : 'Nothing recorded as built from this commit yet.', 'info'));
  }
  add(section, h('div', { class: 'lineage-wrap' }, drawing(graph, follow)));
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const rows = graph.edges.map((e) => {
    const from = byId.get(e.from);
    const to = byId.get(e.to);
    const cell = (n) => (n && n.readable
      ? link(uiUrl(`/repositories/${encodeURIComponent(n.repository)}/commits/${encodeURIComponent(n.commit_id)}`), `${n.repository}@${shortId(n.commit_id)}`, { class: 'mono' })
      : h('span', { class: 'muted mono' }, n ? `${n.repository}@${shortId(n.commit_id)} (not readable)` : ''));
    return h('tr', {}, h('td', {}, cell(from)), h('td', {}, edgeText(e)), h('td', {}, cell(to)));
  });
  if (rows.length) {
    add(section, h('h3', {}, 'Edges'), h('table', { class: 'listing', 'aria-label': 'Lineage edges' },
      h('thead', {}, h('tr', {}, ['Producer', 'Edge', 'Consumer'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
  }
  if (rootNode && rootNode.commit) {
    add(section, kv([['Commit', link(uiUrl(`/repositories/${encodeURIComponent(repo)}/commits/${encodeURIComponent(rootNode.commit_id)}`), rootNode.commit_id, { class: 'mono' })]]));
  }
}
