// Who is signed in. The token lives in memory and in this tab's sessionStorage (so a reload
// keeps it), never in a cookie: no other origin's request can carry it.

import { api, page } from './api.js';

const KEY = 'socialscale.token';

export const session = {
  token: null,
  user: null,
  // { ids: Set, complete: boolean } of the accounts the user follows, read once when needed.
  following: null,
  // Where to go after logging in, when a page asked for it.
  next: null,
};

export function signedIn() {
  return Boolean(session.token && session.user);
}

export function storedToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function signIn(token, user) {
  session.token = token;
  session.user = user;
  session.following = null;
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // Storage refused (a private window's quota): the session lasts as long as the page.
  }
}

export function signOut() {
  session.token = null;
  session.user = null;
  session.following = null;
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Nothing was stored.
  }
}

export function isMe(userId) {
  return signedIn() && session.user.id === userId;
}

// Pages of the user's own following list, at most this many: enough for anyone but the very
// busiest accounts, for whom a profile's button starts as "Follow" and corrects itself (409).
const FOLLOWING_PAGES = 10;

export async function following() {
  if (session.following) return session.following;
  const ids = new Set();
  let cursor = null;
  let complete = false;
  for (let i = 0; i < FOLLOWING_PAGES; i += 1) {
    const data = await api('GET', page(`/users/${session.user.id}/following`, cursor, 100));
    for (const u of data.users) ids.add(u.id);
    cursor = data.nextCursor;
    if (!cursor) {
      complete = true;
      break;
    }
  }
  session.following = { ids, complete };
  return session.following;
}
