// The one door to the JSON API (docs/API.md): same origin, the session's bearer token, never a
// cookie, and every failure as an ApiError carrying the server's own `error` and `details`.

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const message = body && typeof body.error === 'string'
      ? body.error
      : `The server answered ${status}.`;
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = body && typeof body.type === 'string' ? body.type : null;
    this.details = body && Array.isArray(body.details) ? body.details : [];
    // Seconds, from `Retry-After` (429, and the 503s that say when to come back), else null.
    this.retryAfter = retryAfter;
  }
}

let currentToken = () => null;
let onRejectedToken = () => {};

// The session module owns the token; a 401 on a request that carried one means the token was
// revoked (a logout elsewhere) or expired, and the session must end.
export function configure({ token, rejected }) {
  currentToken = token;
  onRejectedToken = rejected;
}

function retryAfterSeconds(value) {
  if (!value) return null;
  const seconds = Number.parseInt(value, 10);
  if (Number.isFinite(seconds) && String(seconds) === value.trim()) return Math.max(seconds, 0);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(Math.ceil((at - Date.now()) / 1000), 0);
}

// `body` is sent as JSON when given; `auth: false` never sends the token (signup, login).
export async function api(method, path, { body, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  const token = auth ? currentToken() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new ApiError(0, { error: 'The server could not be reached. Check the connection and try again.' }, null);
  }
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, retryAfterSeconds(res.headers.get('Retry-After')));
    if (res.status === 401 && token) onRejectedToken(err);
    throw err;
  }
  return data;
}

// `?limit=…&cursor=…` for the paginated lists; `cursor` is exactly a `nextCursor` we were given.
export function page(path, cursor, limit = 20) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (cursor) params.set('cursor', cursor);
  return `${path}?${params}`;
}

export const segment = (value) => encodeURIComponent(value);
