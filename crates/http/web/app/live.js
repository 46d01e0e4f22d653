// Live events: the one place where the server's stream of new and deleted posts (`GET /stream`,
// docs/API.md "The live stream") attaches to an open timeline.
//
// Called once for each timeline a page shows, with:
//   kind      'feed' (the home feed), 'timeline' (everyone's posts) or 'profile' (one author's);
//   timeline  { prepend(posts), remove(postId), has(postId), reload(), el, authorId }: the calls
//             the page itself makes when its user posts or deletes, whether a post is shown,
//             how to load the first page afresh, the list's element (the banner goes at its
//             top; it says 'prepended' when posts are put on top) and, on a profile, whose.
// Returns a function that detaches (called when the page changes), or null.
//
// New posts wait behind a "N new posts" button rather than pushing the list down under the
// reader's eyes; deletions apply at once, since what is gone should not stay readable.

import { api } from './api.js';
import { h } from './dom.js';
import { following, isMe, signedIn } from './session.js';

// A reconnect after a failure waits this long, doubling up to the cap, so a server that
// refuses (a 429 over the per-user cap, a restart) is not hammered.
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;

export function attachLiveEvents(kind, timeline) {
  // The stream is the caller's follows and own posts, not a firehose of everyone's.
  if (kind === 'timeline' || !signedIn()) return null;
  if (kind === 'profile') return attachToProfile(timeline);
  return connect(timeline, () => true);
}

// Only an author whose posts the stream carries: the user, or someone they follow.
function attachToProfile(timeline) {
  const author = timeline.authorId;
  let detach = null;
  let stopped = false;
  const wanted = isMe(author)
    ? Promise.resolve(true)
    : following().then((f) => f.ids.has(author), () => false);
  wanted.then((yes) => {
    if (yes && !stopped) detach = connect(timeline, (authorId) => authorId === author);
  });
  return () => {
    stopped = true;
    if (detach) detach();
  };
}

const plural = (n) => (n === 1 ? '1 new post' : `${n} new posts`);

function connect(timeline, wants) {
  const pending = new Map();
  let mustReload = false;
  let source = null;
  let timer = null;
  let stopped = false;
  let lastEventId = null;
  let backoff = BACKOFF_FIRST_MS;
  // How long the stream may stay silent (set from `ready`'s heartbeatSeconds): past it the
  // connection is dead even if the browser has not noticed (a laptop waking from sleep, a
  // proxy that dropped it quietly), and a new one is opened.
  let quietLimitMs = 0;
  let watchdog = null;

  const button = h('button', { type: 'button', class: 'live-new', hidden: true });
  // A polite live region: the button appearing or its count changing is read out once the
  // screen reader is idle, without moving anyone's focus.
  const bar = h('div', { class: 'live-bar', 'aria-live': 'polite', 'data-state': 'connecting' }, button);
  timeline.el.prepend(bar);

  const render = () => {
    for (const id of pending.keys()) if (timeline.has(id)) pending.delete(id);
    if (mustReload) button.textContent = 'New posts — reload';
    else if (pending.size) button.textContent = plural(pending.size);
    button.hidden = !mustReload && pending.size === 0;
  };
  // The user's own post from this page is prepended by the composer, perhaps after its echo
  // came: the echo must not stay counted.
  timeline.el.addEventListener('prepended', render);

  button.addEventListener('click', () => {
    if (mustReload) {
      timeline.reload();
      return;
    }
    // Arrived oldest first; the list takes the newest first.
    const posts = [...pending.values()].reverse();
    pending.clear();
    timeline.prepend(posts);
    render();
    // The button is gone from under the focus: the newest post takes it.
    const first = timeline.el.querySelector('article.post');
    if (first instanceof HTMLElement) first.focus();
  });

  const heard = () => {
    if (watchdog) clearTimeout(watchdog);
    watchdog = null;
    if (!quietLimitMs || stopped) return;
    watchdog = setTimeout(() => {
      watchdog = null;
      retry();
    }, quietLimitMs);
  };
  const track = (event) => {
    if (event.lastEventId) lastEventId = event.lastEventId;
    heard();
  };
  const parse = (event) => {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  };

  const onPost = (event) => {
    track(event);
    const post = parse(event);
    if (!post || typeof post.id !== 'string' || !wants(post.authorId)) return;
    // Seen already (the page's own post, a replay after a reconnect), or the page reloads
    // anyway.
    if (mustReload || timeline.has(post.id) || pending.has(post.id)) return;
    pending.set(post.id, post);
    render();
  };
  const onDelete = (event) => {
    track(event);
    const gone = parse(event);
    if (!gone || typeof gone.id !== 'string' || !wants(gone.authorId)) return;
    pending.delete(gone.id);
    if (timeline.has(gone.id)) timeline.remove(gone.id);
    render();
  };
  const onReady = (event) => {
    const ready = parse(event);
    // Two heartbeats missed, and a little more for a slow network.
    if (ready && Number.isFinite(ready.heartbeatSeconds)) {
      quietLimitMs = (2 * ready.heartbeatSeconds + 5) * 1000;
    }
    track(event);
    backoff = BACKOFF_FIRST_MS;
    bar.dataset.state = 'live';
  };
  const onReset = () => {
    heard();
    // What was missed cannot be told apart from what is shown: only a fresh first page is
    // right, and the posts waiting are part of it.
    mustReload = true;
    pending.clear();
    render();
  };

  const close = () => {
    if (source) source.close();
    source = null;
    if (watchdog) clearTimeout(watchdog);
    watchdog = null;
  };

  const retry = () => {
    close();
    bar.dataset.state = 'retrying';
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = null;
      open();
    }, backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  };

  async function open() {
    if (stopped) return;
    let ticket;
    try {
      // A 401 here ends the session (api.js), and leaving the page detaches this.
      ({ ticket } = await api('POST', '/stream/ticket'));
    } catch {
      retry();
      return;
    }
    if (stopped) return;
    const params = new URLSearchParams({ ticket });
    // A new EventSource starts with no Last-Event-ID of its own: the query carries it.
    if (lastEventId) params.set('lastEventId', lastEventId);
    const es = new EventSource(`/stream?${params}`);
    source = es;
    es.addEventListener('post', onPost);
    es.addEventListener('delete', onDelete);
    es.addEventListener('ready', onReady);
    es.addEventListener('reset', onReset);
    es.addEventListener('heartbeat', heard);
    es.addEventListener('error', () => {
      if (source !== es) return;
      // CONNECTING: the browser reconnects by itself, sending Last-Event-ID. CLOSED: it gave
      // up (a 401 once the ticket expired, a 429, a 503): a new ticket is needed.
      if (es.readyState === EventSource.CLOSED) retry();
      else bar.dataset.state = 'connecting';
    });
  }

  open();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
    close();
    timeline.el.removeEventListener('prepended', render);
  };
}
