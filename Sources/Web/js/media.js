// media.js: the media screen — upload a file (XHR, with a progress bar), open a path or stream
// the daemon allows, list recent media; opening one starts a session and goes to the editor.

import * as api from './api.js';
import { clearError, el, guarded, showError } from './ui.js';

const $ = (id) => document.getElementById(id);

export function init() {
  $('media-upload').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const bar = $('upload-progress');
    bar.hidden = false;
    bar.value = 0;
    $('upload-text').textContent = `uploading ${file.name}…`;
    try {
      const media = await api.uploadMedia(file, (f) => { bar.value = f; });
      bar.value = 1;
      $('upload-text').textContent = `${media.name}: ${media.width}×${media.height}, ${media.frames} frame(s)`;
      clearError();
      await open(media.id);
    } catch (error) {
      $('upload-text').textContent = '';
      bar.hidden = true;
      showError(error);
    } finally {
      e.target.value = '';
    }
  });
  $('source-form').addEventListener('submit', (e) => {
    e.preventDefault();
    guarded(async () => {
      const media = await api.registerSource($('source-path').value.trim());
      clearError();
      await open(media.id);
    });
  });
}

export async function enter() {
  await refresh();
}

async function refresh() {
  const { media } = await api.listMedia();
  const body = $('media-list');
  body.replaceChildren(...media.map((m) => el('tr', { dataset: { mediaId: m.id } },
    el('td', {}, m.name),
    el('td', {}, m.kind),
    el('td', {}, `${m.width}×${m.height}`),
    el('td', {}, String(m.frames)),
    el('td', {}, m.fps ? String(m.fps) : ''),
    el('td', {}, new Date(m.created_at).toLocaleString()),
    el('td', {},
      el('button', { type: 'button', 'data-testid': 'media-open', onclick: () => guarded(() => open(m.id)) }, 'Open'),
      el('button', { type: 'button', 'data-testid': 'media-delete', onclick: () => guarded(async () => { await api.deleteMedia(m.id); await refresh(); }) }, 'Delete')))));
  if (media.length === 0) body.append(el('tr', {}, el('td', { colspan: '7', class: 'hint' }, 'No media yet: upload a video above.')));
}

/** Starts a session on a media and shows it in the editor. */
export async function open(mediaID) {
  const session = await api.createSession(mediaID);
  location.hash = `#/editor/${session.id}`;
}
