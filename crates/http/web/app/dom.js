// Building the page. Text always goes in as text nodes (`append` of a string, `textContent`):
// nothing here ever parses a string as HTML, so what people post can only ever show as text.

import { ApiError } from './api.js';

// h('a', { href: '#/', class: 'x', onclick: fn }, 'text', child, [more]) → an element.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'value') el.value = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const statusBox = () => document.getElementById('status');
const alertBox = () => document.getElementById('alert');

// A polite message for screen readers and eyes alike ("Posted.", "Profile saved.").
export function announce(message) {
  clearError();
  statusBox().textContent = message;
}

export function clearStatus() {
  statusBox().textContent = '';
}

export function clearError(form) {
  alertBox().replaceChildren();
  if (!form) return;
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
}

function seconds(n) {
  return n === 1 ? '1 second' : `${n} seconds`;
}

// The server's own words: `error`, each of `details`, and when to retry after a 429 or 503.
export function describe(err) {
  if (!(err instanceof ApiError)) return { message: 'Something went wrong in this page.', details: [] };
  let message = err.message;
  if (err.retryAfter !== null && (err.status === 429 || err.status === 503)) {
    message += ` Try again in ${seconds(err.retryAfter)}.`;
  }
  return { message, details: err.details };
}

// Shows an error in the alert region; with a form, each detail naming one of its fields is put
// beside that field too, and the field marked invalid.
export function showError(err, form) {
  if (!(err instanceof ApiError)) console.error(err);
  clearError(form);
  clearStatus();
  const { message, details } = describe(err);
  const box = alertBox();
  box.append(h('p', { class: 'alert-title' }, message));
  if (details.length) {
    box.append(h('ul', {}, details.map((d) => h('li', {}, d.field ? `${d.field}: ${d.message}` : d.message))));
  }
  if (!form) return;
  for (const d of details) {
    const field = d.field && form.elements.namedItem(d.field);
    if (!(field instanceof HTMLElement)) continue;
    field.setAttribute('aria-invalid', 'true');
    const slot = form.querySelector(`[data-error-for="${CSS.escape(d.field)}"]`);
    if (slot) slot.textContent = d.message;
  }
}

// A labelled input with a hint and a slot for its error, tied together for screen readers.
export function field({ form, name, label, type = 'text', hint, ...attrs }) {
  const id = `${form}-${name}`;
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  const control = type === 'textarea'
    ? h('textarea', { id, name, 'aria-describedby': described, ...attrs })
    : h('input', { id, name, type, 'aria-describedby': described, ...attrs });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
    h('p', { class: 'field-error', id: `${id}-error`, 'data-error-for': name }));
}

// Runs a form's submission once at a time: the button is disabled meanwhile, errors are shown.
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll('button[type="submit"]');
    if ([...buttons].some((b) => b.disabled && b.dataset.busy === 'true')) return;
    for (const b of buttons) {
      b.disabled = true;
      b.dataset.busy = 'true';
    }
    clearError(form);
    try {
      await handler(new FormData(form));
    } catch (err) {
      showError(err, form);
    } finally {
      for (const b of buttons) {
        delete b.dataset.busy;
        b.disabled = false;
      }
      form.dispatchEvent(new Event('settled'));
    }
  });
}

export function timeElement(iso) {
  const at = new Date(iso);
  return h('time', { datetime: iso, title: at.toLocaleString() }, formatWhen(at));
}

function formatWhen(at) {
  const seconds = Math.round((Date.now() - at.getTime()) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return at.toLocaleDateString();
}
