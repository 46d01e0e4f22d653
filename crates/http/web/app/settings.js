// Editing one's name and bio (`PUT /users/profile`) and managing API keys
// (`/users/me/api-keys`: list, create with the secret shown once, revoke).

import { api, segment } from './api.js';
import { announce, field, h, onSubmit, showError, timeElement } from './dom.js';
import { session } from './session.js';

function profileForm() {
  const user = session.user;
  const form = h('form', { id: 'profile-form', class: 'stack', method: 'post' },
    field({ form: 'profile', name: 'name', label: 'Name', hint: 'Up to 50 characters; empty removes it.', maxlength: '50', value: user.name || '' }),
    field({ form: 'profile', name: 'bio', label: 'Bio', type: 'textarea', hint: 'Up to 160 characters; empty removes it.', maxlength: '160', rows: '3' }),
    h('button', { type: 'submit', id: 'profile-submit' }, 'Save profile'));
  form.elements.namedItem('bio').value = user.bio || '';
  onSubmit(form, async (data) => {
    const name = String(data.get('name') || '').trim();
    // A bio is kept as typed; "" clears it, and so does null for the name (docs/API.md).
    const body = { name: name || null, bio: String(data.get('bio') || '') };
    session.user = await api('PUT', '/users/profile', { body });
    announce('Profile saved.');
  });
  return form;
}

function keyRow(key, onRevoked) {
  const revoke = h('button', {
    type: 'button',
    class: 'secondary key-revoke',
    'aria-label': `Revoke the key ${key.name}`,
  }, 'Revoke');
  revoke.addEventListener('click', async () => {
    revoke.disabled = true;
    try {
      await api('DELETE', `/users/me/api-keys/${segment(key.id)}`);
    } catch (err) {
      if (err.status !== 404) {
        revoke.disabled = false;
        showError(err);
        return;
      }
    }
    onRevoked();
    announce(`The key ${key.name} is revoked.`);
  });
  return h('li', { class: 'key', 'data-id': key.id },
    h('div', {},
      h('strong', { class: 'key-name' }, key.name),
      h('p', { class: 'muted' }, 'Created ', timeElement(key.createdAt), ' · ',
        key.lastUsedAt ? h('span', {}, 'last used ', timeElement(key.lastUsedAt)) : 'never used')),
    revoke);
}

function apiKeys() {
  const listEl = h('ul', { class: 'keys', id: 'key-list', 'aria-label': 'Your API keys' });
  const secretSlot = h('div', { class: 'secret-slot' });
  const reload = async () => {
    try {
      const { keys } = await api('GET', '/users/me/api-keys');
      listEl.replaceChildren(...keys.map((k) => keyRow(k, reload)));
      if (!keys.length) listEl.append(h('li', { class: 'muted' }, 'No API keys.'));
    } catch (err) {
      showError(err);
    }
  };
  const form = h('form', { id: 'key-form', class: 'stack', method: 'post' },
    field({ form: 'key', name: 'name', label: 'Name of a new key', hint: 'What it is for, 1 to 50 characters.', maxlength: '50', required: true }),
    h('button', { type: 'submit', id: 'key-submit' }, 'Create key'));
  onSubmit(form, async (data) => {
    const created = await api('POST', '/users/me/api-keys', { body: { name: data.get('name') } });
    form.reset();
    secretSlot.replaceChildren(secretBox(created));
    secretSlot.querySelector('input').focus();
    await reload();
    announce(`The key ${created.name} is created. Copy it now: it is shown only this once.`);
  });
  reload();
  return h('section', { 'aria-labelledby': 'keys-title' },
    h('h2', { id: 'keys-title' }, 'API keys'),
    h('p', { class: 'muted' }, 'A key is sent as the X-API-Key header by scripts, instead of logging in. At most 10.'),
    secretSlot, listEl, form);
}

function secretBox(created) {
  const input = h('input', { id: 'new-key', type: 'text', readonly: true, value: created.key, class: 'secret', spellcheck: 'false' });
  const copy = h('button', { type: 'button', class: 'secondary' }, 'Copy');
  copy.addEventListener('click', async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(created.key);
      announce('Copied.');
    } catch {
      announce('Select the key and copy it yourself: this page may not write the clipboard.');
    }
  });
  return h('div', { class: 'secret-box' },
    h('label', { for: 'new-key' }, `The key ${created.name}: copy it now, it will not be shown again`),
    h('div', { class: 'row' }, input, copy));
}

export function settingsView(ctx) {
  if (!ctx.requireSignIn()) return;
  ctx.show(
    ctx.heading('Settings'),
    h('p', { class: 'muted' }, `Signed in as @${session.user.username} (${session.user.email}).`),
    h('section', { 'aria-labelledby': 'profile-title' },
      h('h2', { id: 'profile-title' }, 'Profile'),
      profileForm()),
    apiKeys(),
  );
}
