// SocialScale's web client: hash routes over one page, so `/` is the only HTML the server has.
//   #/                      everyone's posts          #/feed       the home feed
//   #/login  #/signup                                  #/settings   profile and API keys
//   #/u/NAME                a profile                  #/u/NAME/followers, #/u/NAME/following

import { api, configure } from './app/api.js';
import { logOut, loginView, signupView } from './app/account.js';
import { announce, clearError, clearStatus, h, showError } from './app/dom.js';
import { myProfileHref, peopleView, profileView } from './app/profiles.js';
import { session, signedIn, signIn, signOut, storedToken } from './app/session.js';
import { settingsView } from './app/settings.js';
import { feedView, timelineView } from './app/timelines.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');

let leaving = [];
let generation = 0;
let firstRender = true;
let pendingMessage = null;

function parse(hash) {
  const path = hash.replace(/^#/, '');
  // A fragment that is not a route (the skip link's #main before this script ran) is home.
  if (!path.startsWith('/')) return [];
  try {
    return path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
}

function pick(parts) {
  if (!parts) return null;
  const [first, name, sub, ...rest] = parts;
  if (rest.length) return null;
  if (!first) return timelineView;
  if (!name && first === 'feed') return feedView;
  if (!name && first === 'login') return loginView;
  if (!name && first === 'signup') return signupView;
  if (!name && first === 'settings') return settingsView;
  if (first === 'u' && name && !sub) return (ctx) => profileView(ctx, name);
  if (first === 'u' && name && (sub === 'followers' || sub === 'following')) {
    return (ctx) => peopleView(ctx, name, sub);
  }
  return null;
}

function notFoundView(ctx) {
  ctx.show(ctx.heading('Page not found'),
    h('p', {}, 'Nothing lives at this address. ', h('a', { href: '#/' }, 'Go to the timeline')));
}

export function navigate(hash, message) {
  pendingMessage = message || null;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function renderNav() {
  const here = location.hash || '#/';
  const link = (href, text, id) => h('a', { href, id, 'aria-current': here === href ? 'page' : null }, text);
  const items = signedIn()
    ? [
      link('#/', 'Timeline', 'nav-timeline'),
      link('#/feed', 'Home', 'nav-feed'),
      link(myProfileHref(), `@${session.user.username}`, 'nav-profile'),
      link('#/settings', 'Settings', 'nav-settings'),
      h('button', { type: 'button', id: 'nav-logout', class: 'link-button', onclick: () => logOut(context()) }, 'Log out'),
    ]
    : [
      link('#/', 'Timeline', 'nav-timeline'),
      link('#/login', 'Log in', 'nav-login'),
      link('#/signup', 'Sign up', 'nav-signup'),
    ];
  nav.replaceChildren(h('ul', {}, items.map((item) => h('li', {}, item))));
}

// What a view gets: its container, a heading maker, and ways to know it is still on screen.
function context(container = main) {
  const mine = generation;
  let heading = null;
  return {
    main: container,
    // Appends what is given, skipping the null of a part a view leaves out.
    show: (...nodes) => container.append(...nodes.filter((n) => n !== null && n !== undefined)),
    active: () => mine === generation,
    onLeave: (fn) => leaving.push(fn),
    navigate,
    heading(text) {
      document.title = `${text} · SocialScale`;
      heading = h('h1', { tabindex: '-1', id: 'page-title' }, text);
      return heading;
    },
    requireSignIn() {
      if (signedIn()) return true;
      session.next = location.hash;
      navigate('#/login');
      return false;
    },
    get headingElement() {
      return heading;
    },
  };
}

async function route() {
  for (const fn of leaving) fn();
  leaving = [];
  generation += 1;
  const mine = generation;
  clearError();
  clearStatus();
  renderNav();
  const view = pick(parse(location.hash || '#/')) || notFoundView;
  const container = h('div', { class: 'view' });
  const loading = h('p', { class: 'muted loading' }, 'Loading…');
  main.replaceChildren(container, loading);
  const ctx = context(container);
  try {
    await view(ctx);
  } catch (err) {
    if (mine === generation) showError(err);
  }
  if (mine !== generation) return;
  loading.remove();
  // Focus follows navigation, so a screen reader starts at the new page's heading; the first
  // page of a visit keeps the browser's own starting point.
  if (!firstRender) (ctx.headingElement || main).focus();
  firstRender = false;
  if (pendingMessage) announce(pendingMessage);
  pendingMessage = null;
}

document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

configure({
  token: () => session.token,
  rejected: () => {
    if (!signedIn()) return;
    signOut();
    session.next = location.hash;
    navigate('#/login', 'Your session has ended (logged out or expired). Log in again.');
  },
});

async function boot() {
  const token = storedToken();
  if (token) {
    session.token = token;
    try {
      signIn(token, await api('GET', '/users/me'));
    } catch {
      // A stale token (a logout, an expiry): start signed out.
      signOut();
    }
  }
  window.addEventListener('hashchange', route);
  await route();
}

boot();
