// History-API routing under /ui: every view has a URL (ref and path in the query), back and
// forward work, and links are plain <a href> so they can be opened in a new tab or shared.

const routes = [];
let renderer = null;
let generation = 0;

export function route(pattern, view, options = {}) {
  const keys = [];
  const source = pattern.replace(/:(\w+)/g, (_, key) => {
    keys.push(key);
    return '([^/]+)';
  });
  routes.push({ re: new RegExp(`^${source}/?$`), keys, view, options });
}

export function match(pathname) {
  const path = pathname.replace(/^\/ui/, '') || '/';
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      const params = {};
      r.keys.forEach((key, i) => { params[key] = decodeURIComponent(m[i + 1]); });
      return { ...r, params };
    }
  }
  return null;
}

export function onRender(fn) {
  renderer = fn;
}

// The number of the current render: a view that finishes loading after the user moved on
// checks `isCurrent(n)` and stays quiet.
export function current() {
  return generation;
}

export function isCurrent(n) {
  return n === generation;
}

export async function render() {
  generation += 1;
  if (renderer) await renderer(generation);
}

export function navigate(url, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.scrollTo(0, 0);
  return render();
}

// Update the URL to reflect the view's state without rendering again (e.g. "load more").
export function reflect(url) {
  window.history.replaceState(null, '', url);
}

export function start() {
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith('/ui')) return;
    if (url.pathname.startsWith('/ui/static/')) return;
    event.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  return render();
}
