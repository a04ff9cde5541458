// app.js: the entry module — wires the screens (media.js, editor.js, jobs.js) to the location hash
// (#/media, #/editor/<session id>, #/jobs) and the error banner; nothing else.

import { clearError, guarded, setStatus, showError } from './ui.js';
import * as media from './media.js';
import * as editor from './editor.js';
import * as jobs from './jobs.js';
import { json } from './api.js';

const screens = { media, editor, jobs };
let current = null;

async function route() {
  const [, name = 'media', arg] = location.hash.split('/');
  const screen = screens[name] ? name : 'media';
  for (const key of Object.keys(screens)) {
    document.getElementById(`screen-${key}`).hidden = key !== screen;
    document.querySelector(`nav a[data-screen=${key}]`).classList.toggle('active', key === screen);
  }
  if (current && current !== screens[screen] && current.leave) current.leave();
  current = screens[screen];
  await guarded(() => current.enter(arg));
}

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (e) => { e.preventDefault(); showError(e.reason); });
document.getElementById('error-close').addEventListener('click', clearError);
for (const s of Object.values(screens)) s.init();
guarded(async () => {
  const health = await json('GET', '/healthz');
  setStatus(`samtrackd: ${health.status} · models: ${health.models.join(', ')}`);
});
route();
