// Signing up, logging in and out.

import { api } from './api.js';
import { describe, field, h, onSubmit } from './dom.js';
import { session, signIn, signOut } from './session.js';

function afterSignIn(ctx, data, message) {
  signIn(data.token, data.user);
  const next = session.next || '#/feed';
  session.next = null;
  ctx.navigate(next, message);
}

export function loginView(ctx) {
  const form = h('form', { id: 'login-form', class: 'stack', method: 'post' },
    field({ form: 'login', name: 'email', label: 'Email', type: 'email', autocomplete: 'email', required: true }),
    field({ form: 'login', name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true }),
    h('button', { type: 'submit', id: 'login-submit' }, 'Log in'));
  onSubmit(form, async (data) => {
    const body = { email: data.get('email'), password: data.get('password') };
    const res = await api('POST', '/auth/login', { body, auth: false });
    afterSignIn(ctx, res, `Logged in as @${res.user.username}.`);
  });
  ctx.show(
    ctx.heading('Log in'),
    session.next ? h('p', { class: 'muted' }, 'Log in to see that page.') : null,
    form,
    h('p', {}, 'New here? ', h('a', { href: '#/signup' }, 'Create an account')),
  );
}

export function signupView(ctx) {
  const form = h('form', { id: 'signup-form', class: 'stack', method: 'post' },
    field({ form: 'signup', name: 'email', label: 'Email', type: 'email', autocomplete: 'email', required: true }),
    field({
      form: 'signup',
      name: 'username',
      label: 'Username',
      hint: '3 to 20 letters, digits or underscores.',
      autocomplete: 'username',
      required: true,
      minlength: '3',
      maxlength: '20',
      pattern: '[A-Za-z0-9_]{3,20}',
    }),
    field({ form: 'signup', name: 'name', label: 'Name (optional)', autocomplete: 'name', maxlength: '50' }),
    field({
      form: 'signup',
      name: 'password',
      label: 'Password',
      type: 'password',
      hint: '8 to 128 characters.',
      autocomplete: 'new-password',
      required: true,
      minlength: '8',
      maxlength: '128',
    }),
    h('button', { type: 'submit', id: 'signup-submit' }, 'Sign up'));
  onSubmit(form, async (data) => {
    const body = {
      email: data.get('email'),
      password: data.get('password'),
      username: data.get('username'),
    };
    const name = String(data.get('name') || '').trim();
    if (name) body.name = name;
    const res = await api('POST', '/auth/signup', { body, auth: false });
    afterSignIn(ctx, res, `Welcome, @${res.user.username}.`);
  });
  ctx.show(
    ctx.heading('Sign up'),
    form,
    h('p', {}, 'Have an account? ', h('a', { href: '#/login' }, 'Log in')),
  );
}

// `POST /auth/logout` ends every session of the account, on every device: the page says so.
export async function logOut(ctx) {
  let message = 'Logged out on every device.';
  try {
    await api('POST', '/auth/logout');
  } catch (err) {
    // The token is forgotten here whatever the server said, and the page says what it said.
    if (err.status !== 401) message = `Logged out of this page, but the server said: ${describe(err).message}`;
  }
  signOut();
  ctx.navigate('#/login', message);
}
