// Paginated lists over `nextCursor`, and how posts and people look in them.
//
// A list loads its next page when its sentinel (an empty element after the last item) comes
// near the viewport, and from its "Load more" button, which keyboards and screen readers can
// reach. The list's state is on its element for tests and styles: data-pages (pages loaded),
// data-state (idle, loading, done, error), aria-busy while a page is on its way.

import { api, page, segment } from './api.js';
import { announce, h, showError, timeElement } from './dom.js';
import { isMe } from './session.js';

let firstPageMarked = false;

export class PagedList {
  // load(cursor) → { items, nextCursor }; render(item) → element with data-id; `as` is the
  // list element ('div' with role feed for posts, 'ul' for people).
  constructor({ label, load, render, as = 'div', empty = 'Nothing here yet.' }) {
    this.load = load;
    this.render = render;
    this.emptyText = empty;
    this.cursor = null;
    this.pages = 0;
    this.busy = false;
    this.done = false;
    this.seen = new Set();
    const listProps = as === 'ul'
      ? { class: 'items people', 'aria-label': label }
      : { class: 'items posts', role: 'feed', 'aria-label': label, 'aria-busy': 'false' };
    this.items = h(as, listProps);
    this.sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
    this.more = h('button', { type: 'button', class: 'load-more', onclick: () => this.loadMore() }, 'Load more');
    this.end = h('p', { class: 'list-end muted', hidden: true });
    this.el = h('section', { class: 'paged', 'data-pages': '0', 'data-state': 'idle' },
      this.items, this.sentinel, this.more, this.end);
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadMore();
    }, { rootMargin: '200px 0px' });
    this.observer.observe(this.sentinel);
  }

  setState(state) {
    this.el.dataset.state = state;
    this.items.setAttribute('aria-busy', String(state === 'loading'));
  }

  async loadMore() {
    if (this.busy || this.done) return;
    this.busy = true;
    this.setState('loading');
    this.more.disabled = true;
    this.more.textContent = 'Loading…';
    let loaded = false;
    try {
      const { items, nextCursor } = await this.load(this.cursor);
      this.append(items);
      this.cursor = nextCursor;
      this.done = !nextCursor;
      this.pages += 1;
      this.el.dataset.pages = String(this.pages);
      loaded = true;
      if (!firstPageMarked) {
        firstPageMarked = true;
        performance.mark('socialscale:first-page');
      }
    } catch (err) {
      showError(err);
    } finally {
      this.busy = false;
      this.more.disabled = false;
      this.more.textContent = 'Load more';
      this.refreshEnd();
      this.setState(this.done ? 'done' : loaded ? 'idle' : 'error');
    }
    // An observer only reports changes: if the sentinel is still in view after this page (a
    // short page, a tall window), observing it afresh reports it again and the next page comes.
    if (loaded && !this.done) {
      this.observer.unobserve(this.sentinel);
      this.observer.observe(this.sentinel);
    }
  }

  append(items) {
    for (const item of items) {
      if (this.seen.has(item.id)) continue;
      this.seen.add(item.id);
      this.items.append(this.render(item));
    }
    this.renumber();
  }

  // Newer items on top (the user's own new post; a live source's posts).
  prepend(items) {
    for (const item of [...items].reverse()) {
      if (this.seen.has(item.id)) continue;
      this.seen.add(item.id);
      this.items.prepend(this.render(item));
    }
    this.renumber();
    this.refreshEnd();
    // For a live source holding posts back: one the page put on top itself is no longer new.
    this.el.dispatchEvent(new Event('prepended'));
  }

  has(id) {
    return this.seen.has(id);
  }

  remove(id) {
    this.seen.delete(id);
    for (const el of this.items.children) {
      if (el.dataset.id === id) el.remove();
    }
    this.renumber();
    this.refreshEnd();
  }

  renumber() {
    if (this.items.getAttribute('role') !== 'feed') return;
    const articles = [...this.items.children];
    articles.forEach((el, i) => {
      el.setAttribute('aria-posinset', String(i + 1));
      el.setAttribute('aria-setsize', this.done ? String(articles.length) : '-1');
    });
  }

  refreshEnd() {
    this.more.hidden = this.done;
    this.end.hidden = !this.done;
    this.end.textContent = this.items.children.length ? 'That is everything.' : this.emptyText;
  }

  destroy() {
    this.observer.disconnect();
  }
}

export const profileHref = (username) => `#/u/${segment(username)}`;

// One post. Its author's own posts get a delete button that asks once more before deleting.
export function postCard(post, { onDeleted } = {}) {
  const labelId = `post-${post.id}-by`;
  const author = post.author;
  const card = h('article', { class: 'post', 'data-id': post.id, 'aria-labelledby': labelId, tabindex: '-1' },
    h('header', { class: 'post-head' },
      h('a', { class: 'post-author', id: labelId, href: profileHref(author.username) },
        h('span', { class: 'name' }, author.name || author.username),
        ' ',
        h('span', { class: 'handle' }, `@${author.username}`)),
      timeElement(post.createdAt)),
    h('p', { class: 'post-content' }, post.content));
  if (isMe(post.authorId)) card.append(deleteControls(post, card, onDeleted));
  return card;
}

function deleteControls(post, card, onDeleted) {
  const actions = h('div', { class: 'post-actions' });
  const ask = h('button', { type: 'button', class: 'post-delete link-button' }, 'Delete');
  const confirm = h('button', { type: 'button', class: 'post-delete-confirm danger' }, 'Delete this post');
  const cancel = h('button', { type: 'button', class: 'post-delete-cancel link-button' }, 'Keep it');
  const confirming = h('span', { class: 'confirm', hidden: true }, confirm, ' ', cancel);
  actions.append(ask, confirming);
  ask.addEventListener('click', () => {
    ask.hidden = true;
    confirming.hidden = false;
    confirm.focus();
  });
  cancel.addEventListener('click', () => {
    confirming.hidden = true;
    ask.hidden = false;
    ask.focus();
  });
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      await api('DELETE', `/posts/${segment(post.id)}`);
    } catch (err) {
      // Already gone (deleted in another tab): the page only needs to catch up.
      if (err.status !== 404) {
        confirm.disabled = false;
        showError(err);
        return;
      }
    }
    const next = card.nextElementSibling || card.previousElementSibling;
    if (onDeleted) onDeleted(post.id);
    else card.remove();
    announce('Post deleted.');
    if (next instanceof HTMLElement) next.focus();
  });
  return actions;
}

// One person in a followers or following list.
export function personRow(user) {
  return h('li', { class: 'person', 'data-id': user.id },
    h('a', { href: profileHref(user.username) },
      h('span', { class: 'name' }, user.name || user.username),
      ' ',
      h('span', { class: 'handle' }, `@${user.username}`)));
}

// A posts list over one of the API's post pages (`/posts`, `/feed`, `/users/:id/posts`).
export function postsList(label, path, empty) {
  let list;
  list = new PagedList({
    label,
    empty,
    load: async (cursor) => {
      const data = await api('GET', page(path, cursor));
      return { items: data.posts, nextCursor: data.nextCursor };
    },
    render: (post) => postCard(post, { onDeleted: (id) => list.remove(id) }),
  });
  return list;
}
