// Live events: the one place where a push source of new and deleted posts attaches to an open
// timeline.
//
// Called once for each timeline a page shows, with:
//   kind      'feed' (the home feed), 'timeline' (everyone's posts) or 'profile' (one author's);
//   timeline  { prepend(posts), remove(postId), announce(text) }: the same calls the page itself
//             makes when its user posts or deletes, so a source needs nothing more.
// Returns a function that detaches (called when the page changes), or null.
//
// This server has no push source for posts, so nothing is attached and this returns null: a
// timeline shows what it loaded, and navigating to it again or reloading fetches newer posts.
export function attachLiveEvents(_kind, _timeline) {
  return null;
}
