// The one way the UI talks to the server: /api/v1, with the session cookie and, on every
// mutating call, the session's CSRF token. Errors come back as ApiError with plain words.

const BASE = '/api/v1';
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
let csrfToken = null;
let onSignedOut = () => {};

export function setCsrf(token) {
  csrfToken = token;
}

export function whenSignedOut(fn) {
  onSignedOut = fn;
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body || {};
  }
}

function plainWords(status, message) {
  const said = message ? message.replace(/\.$/, '') : '';
  switch (status) {
    case 400: return `That request was not accepted: ${said || 'bad request'}.`;
    case 401: return 'You are not signed in, or your session has ended. Sign in again.';
    case 403: return `Not allowed: ${said || 'your grants do not permit this'}.`;
    case 404: return `Not found: ${said || 'it does not exist'}.`;
    case 409: return `Conflict: ${said}.`;
    case 410: return `Gone: ${said}.`;
    case 412: return `Precondition failed: ${said}.`;
    case 413: return 'Too large for the server to accept.';
    case 416: return `Out of range: ${said}.`;
    case 501: return `Not supported by this server: ${said}.`;
    case 503: return `The storage behind Weir is unavailable right now: ${said}. Try again.`;
    default:
      if (status >= 500) return `The server failed (${status}): ${said || 'internal error'}.`;
      return `${said || 'Request failed'} (HTTP ${status}).`;
  }
}

export function apiUrl(path, query) {
  const url = new URL(BASE + path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(key, v));
    else url.searchParams.set(key, String(value));
  }
  return url.pathname + url.search;
}

export async function api(method, path, options = {}) {
  const headers = { 'X-Requested-With': 'weir-ui', ...(options.headers || {}) };
  let body = options.body;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  if (!SAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(apiUrl(path, options.query), {
      method, headers, body, credentials: 'same-origin', cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(0, 'Cannot reach the Weir server. Check that it is running, then try again.');
  }
  const type = response.headers.get('Content-Type') || '';
  if (!response.ok) {
    let data = {};
    if (type.includes('json')) {
      try { data = await response.json(); } catch (err) { data = {}; }
    }
    if (response.status === 401 && !options.signIn) onSignedOut();
    throw new ApiError(response.status, plainWords(response.status, data.message), data);
  }
  if (options.raw) return response;
  if (response.status === 204) return null;
  return type.includes('json') ? response.json() : response.text();
}

export const get = (path, query) => api('GET', path, { query });

// Paths with each segment percent-encoded: p`/repositories/${repo}/branches/${branch}`.
export function p(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ''), '');
}

let documentCache = null;

// The OpenAPI document tells which optional endpoints this server has (views for APIs that
// have not landed stay absent rather than faked).
export async function capabilities() {
  if (!documentCache) {
    documentCache = get('/openapi.json').catch(() => ({ paths: {}, components: { schemas: {} } }));
  }
  const doc = await documentCache;
  return {
    has: (path, method = 'get') => Boolean(doc.paths[path] && doc.paths[path][method]),
    schema: (name) => (doc.components.schemas || {})[name],
  };
}
