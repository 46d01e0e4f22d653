// The global timeline (`GET /posts`), the home feed (`GET /feed`) and the composer above them.

import { api } from './api.js';
import { announce, h, onSubmit } from './dom.js';
import { postsList } from './lists.js';
import { attachLiveEvents } from './live.js';
import { signedIn } from './session.js';

export const MAX_POST = 280;

// What the server counts: Unicode scalar values of the trimmed text.
export const postLength = (text) => [...text.trim()].length;

function composer(onPosted) {
  const textarea = h('textarea', {
    id: 'compose-content',
    name: 'content',
    rows: '3',
    required: true,
    'aria-describedby': 'compose-count compose-content-error',
  });
  const count = h('p', { id: 'compose-count', class: 'counter' });
  const submit = h('button', { type: 'submit', id: 'compose-submit' }, 'Post');
  const form = h('form', { id: 'compose-form', class: 'composer', method: 'post' },
    h('label', { for: 'compose-content' }, 'What is happening?'),
    textarea,
    h('div', { class: 'composer-foot' },
      count,
      submit),
    h('p', { class: 'field-error', id: 'compose-content-error', 'data-error-for': 'content' }));

  let wasOver = false;
  const update = () => {
    const n = postLength(textarea.value);
    const left = MAX_POST - n;
    const over = left < 0;
    count.textContent = over
      ? `${-left} ${-left === 1 ? 'character' : 'characters'} too many`
      : `${left} ${left === 1 ? 'character' : 'characters'} left`;
    count.dataset.length = String(n);
    count.classList.toggle('over', over);
    if (over) textarea.setAttribute('aria-invalid', 'true');
    else textarea.removeAttribute('aria-invalid');
    submit.disabled = n === 0 || over;
    // Said once when the limit is crossed, not at every keystroke.
    if (over !== wasOver) announce(over ? `Over the ${MAX_POST}-character limit.` : 'Back within the limit.');
    wasOver = over;
  };
  textarea.addEventListener('input', update);
  form.addEventListener('settled', update);
  // Ctrl+Enter (Cmd+Enter) posts, as in most composers.
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !submit.disabled) form.requestSubmit();
  });
  onSubmit(form, async () => {
    const post = await api('POST', '/posts', { body: { content: textarea.value } });
    textarea.value = '';
    onPosted(post);
    announce('Posted.');
    textarea.focus();
  });
  update();
  return form;
}

function timelinePage(ctx, { kind, title, intro, path, empty }) {
  const list = postsList(title, path, empty);
  ctx.onLeave(() => list.destroy());
  const stop = attachLiveEvents(kind, {
    prepend: (posts) => list.prepend(posts),
    remove: (id) => list.remove(id),
    has: (id) => list.has(id),
    // The route again: a new list from the first page, and a new live attachment.
    reload: () => ctx.navigate(location.hash, 'Reloaded with the newest posts.'),
    el: list.el,
  });
  if (stop) ctx.onLeave(stop);
  ctx.show(
    ctx.heading(title),
    h('p', { class: 'muted' }, intro),
    signedIn() ? composer((post) => list.prepend([post])) : null,
    list.el,
  );
  list.loadMore();
}

export function timelineView(ctx) {
  timelinePage(ctx, {
    kind: 'timeline',
    title: 'Timeline',
    intro: 'Everyone’s posts, newest first.',
    path: '/posts',
    empty: 'No posts yet.',
  });
}

export function feedView(ctx) {
  if (!ctx.requireSignIn()) return;
  timelinePage(ctx, {
    kind: 'feed',
    title: 'Home',
    intro: 'Your posts and the posts of the people you follow, newest first.',
    path: '/feed',
    empty: 'Nothing yet: post something, or follow people from the timeline.',
  });
}
