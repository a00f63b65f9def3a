// Showing a preview the API read server-side: a table (schema + first rows), Markdown, text,
// an image, or a plain statement that there is nothing to preview.

import { h, add, fmtBytes, table, notice } from '../dom.js';
import { render as markdown } from '../markdown.js';

function summary(pv) {
  const bits = [];
  if (pv.kind === 'parquet') {
    bits.push('Parquet');
    if (pv.num_rows !== undefined) bits.push(`${pv.num_rows.toLocaleString()} rows`);
    if (pv.num_row_groups !== undefined) bits.push(`${pv.num_row_groups} row group${pv.num_row_groups === 1 ? '' : 's'}`);
    if (pv.num_columns !== undefined) bits.push(`${pv.num_columns} columns`);
  } else if (pv.kind === 'csv') {
    bits.push(`Delimited text (${pv.delimiter === '\t' ? 'tab' : `"${pv.delimiter}"`})`);
  } else {
    bits.push(pv.kind);
  }
  bits.push(`read ${fmtBytes(pv.bytes_read)} of ${fmtBytes(pv.size_bytes)}`);
  return h('p', { class: 'muted preview-summary' }, bits.join(' · '));
}

function cellText(v) {
  if (v === null || v === undefined) return h('span', { class: 'null' }, 'null');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function renderPreview(slot, pv, downloadHref) {
  add(slot, summary(pv));
  if (pv.message) add(slot, notice(pv.message, 'info'));
  if (pv.kind === 'parquet' || pv.kind === 'csv') {
    if (pv.kind === 'parquet') {
      add(slot, h('details', { class: 'schema', open: true }, h('summary', {}, 'Schema'),
        table(['Column', 'Type'], pv.columns.map((c) => h('tr', {}, h('td', { class: 'mono' }, c.name), h('td', { class: 'mono' }, c.type))), { class: 'compact', 'aria-label': 'Schema' })));
    }
    if (pv.rows.length) {
      const rows = pv.rows.map((r) => h('tr', {}, r.map((v) => h('td', {}, cellText(v)))));
      add(slot, h('div', { class: 'scroll-x' }, table(pv.columns.map((c) => c.name), rows, { class: 'compact data', 'aria-label': 'First rows' })));
      if (pv.truncated) add(slot, h('p', { class: 'muted' }, `First ${pv.rows.length} rows shown.`));
    } else if (!pv.message) {
      add(slot, h('p', { class: 'muted' }, 'No rows.'));
    }
  } else if (pv.kind === 'markdown') {
    add(slot, markdown(pv.text));
    if (pv.truncated) add(slot, h('p', { class: 'muted' }, 'Only the beginning is shown.'));
  } else if (pv.kind === 'text') {
    add(slot, h('pre', { class: 'text-preview' }, pv.text));
    if (pv.truncated) add(slot, h('p', { class: 'muted' }, 'Only the first 64 KiB are shown.'));
  } else if (pv.kind === 'image') {
    add(slot, h('img', { class: 'image-preview', src: downloadHref, alt: `Preview of ${pv.path}` }));
  } else {
    add(slot, h('p', { class: 'muted' }, `No preview for binary content (${pv.content_type}). Download it to open it.`));
  }
}
