// Profiles by username, their counts and posts, follow and unfollow, and the people lists.

import { api, page, segment } from './api.js';
import { announce, h, showError, timeElement } from './dom.js';
import { PagedList, personRow, postsList, profileHref } from './lists.js';
import { attachLiveEvents } from './live.js';
import { following, isMe, session, signedIn } from './session.js';

async function byUsername(ctx, username) {
  try {
    return await api('GET', `/users/by-username/${segment(username)}`);
  } catch (err) {
    if (!ctx.active()) return null;
    if (err.status === 404) {
      ctx.show(ctx.heading('No such person'),
        h('p', {}, `Nobody here has the username @${username}.`));
    } else {
      ctx.show(ctx.heading('Profile'));
      showError(err);
    }
    return null;
  }
}

function count(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function counts(user) {
  const base = profileHref(user.username);
  return h('ul', { class: 'counts', 'aria-label': 'Counts' },
    h('li', { id: 'count-posts' }, count(user.postsCount, 'post', 'posts')),
    h('li', {}, h('a', { id: 'count-followers', href: `${base}/followers` },
      count(user.followersCount, 'follower', 'followers'))),
    h('li', {}, h('a', { id: 'count-following', href: `${base}/following` },
      `${user.followingCount} following`)));
}

// The follow button: its text says what pressing it does, and it is told the truth by the
// server (201 / 409 "Already following" / 204 / 404 "Not following") whatever the page thought.
function followButton(user, onChange) {
  const button = h('button', { type: 'button', id: 'follow-button', disabled: true }, 'Follow');
  let followingNow = false;
  const show = (value) => {
    followingNow = value;
    button.textContent = value ? 'Unfollow' : 'Follow';
    button.classList.toggle('secondary', value);
    button.setAttribute('aria-label', `${value ? 'Unfollow' : 'Follow'} @${user.username}`);
  };
  following().then((f) => {
    show(f.ids.has(user.id));
    button.disabled = false;
  }, (err) => {
    button.disabled = false;
    showError(err);
  });
  button.addEventListener('click', async () => {
    button.disabled = true;
    const want = !followingNow;
    try {
      if (want) await api('POST', `/users/follow/${segment(user.id)}`);
      else await api('DELETE', `/users/follow/${segment(user.id)}`);
    } catch (err) {
      const already = want ? err.status === 409 : err.status === 404;
      if (!already) {
        button.disabled = false;
        showError(err);
        return;
      }
    }
    const f = await following().catch(() => null);
    if (f) {
      if (want) f.ids.add(user.id);
      else f.ids.delete(user.id);
    }
    show(want);
    button.disabled = false;
    announce(want ? `You follow @${user.username} now.` : `You no longer follow @${user.username}.`);
    onChange();
  });
  return button;
}

export async function profileView(ctx, username) {
  let user = await byUsername(ctx, username);
  if (!user || !ctx.active()) return;
  const countsSlot = h('div', { class: 'counts-slot' }, counts(user));
  // Counts are exact once a follow has been answered: read them again rather than guess.
  const refresh = async () => {
    try {
      user = await api('GET', `/users/${segment(user.id)}`);
      countsSlot.replaceChildren(counts(user));
    } catch (err) {
      showError(err);
    }
  };
  const mine = isMe(user.id);
  const list = postsList(`Posts by @${user.username}`, `/users/${segment(user.id)}/posts`, 'No posts yet.');
  ctx.onLeave(() => list.destroy());
  const stop = attachLiveEvents('profile', {
    prepend: (posts) => list.prepend(posts),
    remove: (id) => list.remove(id),
    has: (id) => list.has(id),
    reload: () => ctx.navigate(location.hash, 'Reloaded with the newest posts.'),
    el: list.el,
    authorId: user.id,
  });
  if (stop) ctx.onLeave(stop);
  ctx.show(
    h('div', { class: 'profile' },
      ctx.heading(user.name || user.username),
      h('p', { class: 'handle' }, `@${user.username}`),
      user.bio ? h('p', { class: 'bio' }, user.bio) : null,
      h('p', { class: 'muted' }, 'Joined ', timeElement(user.createdAt)),
      countsSlot,
      mine ? h('p', {}, h('a', { href: '#/settings' }, 'Edit your profile and API keys')) : null,
      signedIn() && !mine ? followButton(user, refresh) : null,
      !signedIn() ? h('p', { class: 'muted' }, h('a', { href: '#/login' }, 'Log in'), ' to follow.') : null),
    h('h2', {}, 'Posts'),
    list.el,
  );
  list.loadMore();
}

export async function peopleView(ctx, username, which) {
  const user = await byUsername(ctx, username);
  if (!user || !ctx.active()) return;
  const title = which === 'followers' ? `Followers of @${user.username}` : `People @${user.username} follows`;
  const list = new PagedList({
    label: title,
    as: 'ul',
    empty: which === 'followers' ? 'No followers yet.' : 'Not following anyone yet.',
    load: async (cursor) => {
      const data = await api('GET', page(`/users/${segment(user.id)}/${which}`, cursor));
      return { items: data.users, nextCursor: data.nextCursor };
    },
    render: personRow,
  });
  ctx.onLeave(() => list.destroy());
  ctx.show(
    ctx.heading(title),
    h('p', {}, h('a', { href: profileHref(user.username) }, `Back to @${user.username}`)),
    list.el,
  );
  list.loadMore();
}

// `#/u/me` is a shortcut to one's own profile.
export function myProfileHref() {
  return signedIn() ? profileHref(session.user.username) : '#/login';
}
