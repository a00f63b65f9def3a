// Building the page safely: every text goes in as text (never as HTML), so nothing an object,
// a commit message or a user name contains can run as code.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value' || key === 'checked' || key === 'selected') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Element.append() would insert the text "null" for a missing piece; this skips it.
export function add(el, ...children) {
  return append(el, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${UNITS[i]}`;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

export function fmtTime(seconds) {
  if (!seconds) return '';
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtAgo(seconds) {
  if (!seconds) return '';
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.floor(s / 86400)} days ago`;
  return fmtTime(seconds).slice(0, 10);
}

export function shortId(id) {
  return id ? id.slice(0, 12) : '';
}

// A link inside the UI: the router turns a click into a page change without a reload.
export function link(href, text, attrs) {
  return h('a', { href, ...(attrs || {}) }, text);
}

// A URL under /ui with a query; empty values are left out.
export function uiUrl(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, value);
  }
  const qs = params.toString();
  return `/ui${path}${qs ? `?${qs}` : ''}`;
}

export function enc(segment) {
  return encodeURIComponent(segment);
}

// A status line: role=status is read out by screen readers and waited on by tests.
export function notice(text, kind = 'ok') {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

export function errorBox(err) {
  return notice(err && err.message ? err.message : String(err), 'error');
}

// Show the outcome of an action in `slot`: a notice on success, the API's words on failure.
export async function act(slot, fn, success) {
  const button = document.activeElement;
  if (button && button.tagName === 'BUTTON') button.disabled = true;
  clear(slot);
  try {
    const result = await fn();
    if (success) slot.append(notice(typeof success === 'function' ? success(result) : success));
    return result;
  } catch (err) {
    slot.append(errorBox(err));
    return undefined;
  } finally {
    if (button && button.tagName === 'BUTTON') button.disabled = false;
  }
}

export function table(headers, rows, attrs) {
  return h('table', attrs || {},
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows));
}

// fnmatch-style glob to RegExp (as the server's grants and protection rules read them).
export function globRegExp(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

// A glob that matches exactly one path (escapes the glob characters).
export function exactGlob(path) {
  return path.replace(/[*?[]/g, (c) => `[${c}]`);
}
