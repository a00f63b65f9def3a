// A small Markdown renderer that builds DOM nodes (never innerHTML): headings, paragraphs,
// emphasis, inline code, fenced code, block quotes, lists, rules and http(s) links. Enough to
// read a dataset's README; nothing in the text can run as code or fetch from elsewhere.

import { h } from './dom.js';

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*|__[^_]+__)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(\[[^\]]+\]\([^)\s]+\))/;

export function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) {
      out.push(rest);
      break;
    }
    if (m.index > 0) out.push(rest.slice(0, m.index));
    const token = m[0];
    if (m[1]) out.push(h('code', {}, token.slice(1, -1)));
    else if (m[2]) out.push(h('strong', {}, inline(token.slice(2, -2))));
    else if (m[3]) out.push(h('em', {}, inline(token.slice(1, -1))));
    else {
      const label = token.slice(1, token.indexOf(']'));
      const href = token.slice(token.indexOf('](') + 2, -1);
      if (/^https?:\/\//i.test(href)) {
        out.push(h('a', { href, rel: 'noopener noreferrer nofollow', target: '_blank' }, inline(label)));
      } else {
        out.push(label);
      }
    }
    rest = rest.slice(m.index + token.length);
  }
  return out;
}

export function render(source) {
  const root = h('div', { class: 'markdown' });
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^\s*$/.test(line)) {
      i += 1;
    } else if (/^```/.test(line)) {
      const code = [];
      i += 1;
      while (i < lines.length && !/^```/.test(lines[i])) code.push(lines[i++]);
      i += 1;
      root.append(h('pre', {}, h('code', {}, code.join('\n'))));
    } else if (/^#{1,6}\s/.test(line)) {
      const level = line.match(/^#+/)[0].length;
      root.append(h(`h${Math.min(level + 1, 6)}`, {}, inline(line.slice(level).trim())));
      i += 1;
    } else if (/^(\*\s*\*\s*\*|-\s*-\s*-|_\s*_\s*_)[\s*_-]*$/.test(line)) {
      root.append(h('hr'));
      i += 1;
    } else if (/^>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^>/.test(lines[i])) quoted.push(lines[i++].replace(/^>\s?/, ''));
      const q = render(quoted.join('\n'));
      root.append(h('blockquote', {}, [...q.childNodes]));
    } else if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? 'ol' : 'ul');
      while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) {
        list.append(h('li', {}, inline(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, ''))));
        i += 1;
      }
      root.append(list);
    } else {
      const para = [];
      while (i < lines.length && !/^\s*$/.test(lines[i]) && !/^(#{1,6}\s|```|>)/.test(lines[i])) {
        para.push(lines[i++]);
      }
      root.append(h('p', {}, inline(para.join(' '))));
    }
  }
  return root;
}
