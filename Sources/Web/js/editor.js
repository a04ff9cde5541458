// editor.js: the editor screen — one session: the frame canvas, frame navigation, prompts (click =
// positive point, shift-click / right-click = negative point, drag = box) sent to
// POST /v1/sessions/{id}/prompts with the object's every prompt on that frame (clear: true, as the
// official demo), the returned masks drawn at once; objects (add, select, colour, remove); tracking
// (forward / backward / both over SSE, progress, Cancel); playback of the tracked range; exports;
// the session replayed as a durable job (POST /v1/sessions/{id}/job).
// The state is the `state` object below; `render()` draws it.

import * as api from './api.js';
import { decodeRLE } from './rle.js';
import { canvasPoint, colorFor, drawFrame } from './draw.js';
import { clearError, download, dispositionName, el, guarded, showError } from './ui.js';

const $ = (id) => document.getElementById(id);
const DRAG_PIXELS = 6;  // a press that moves less than this (screen pixels) is a click

const state = {
  session: null,         // GET /v1/sessions/{id}
  media: null,           // GET /v1/media/{id}
  frame: 0,
  objects: new Map(),    // id -> {id, color}
  selected: null,
  prompts: new Map(),    // frame -> Map(object -> {points: [[x, y, label]], box})
  masks: new Map(),      // frame -> [{id, score, area, rle, mask}] (mask decoded lazily)
  encoded: new Set(),    // frames whose features the daemon has computed in this session
  images: new Map(),     // frame -> ImageBitmap (bounded cache)
  busy: false,
  tracking: null,        // {controller} while a propagation runs
  playing: null,         // timer id while playing
  drag: null,            // {x0, y0, x1, y1, sx, sy, label, moved}
};

export function init() {
  const canvas = $('frame-canvas');
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener('pointerdown', (e) => {
    if (!state.session || e.button === 1) return;
    const [x, y] = canvasPoint(canvas, e);
    canvas.setPointerCapture(e.pointerId);
    state.drag = { x0: x, y0: y, x1: x, y1: y, sx: e.clientX, sy: e.clientY, moved: false,
      label: e.button === 2 || e.shiftKey ? 0 : 1 };
  });
  canvas.addEventListener('pointermove', (e) => {
    const d = state.drag;
    if (!d) return;
    [d.x1, d.y1] = canvasPoint(canvas, e);
    if (Math.hypot(e.clientX - d.sx, e.clientY - d.sy) >= DRAG_PIXELS) d.moved = true;
    if (d.moved) render();
  });
  canvas.addEventListener('pointerup', (e) => {
    const d = state.drag;
    state.drag = null;
    if (!d) return;
    if (d.moved && Math.abs(d.x1 - d.x0) >= 2 && Math.abs(d.y1 - d.y0) >= 2) {
      addPrompt({ box: [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1), Math.max(d.y0, d.y1)] });
    } else {
      addPrompt({ point: [d.x0, d.y0, d.label] });
    }
  });
  canvas.addEventListener('pointercancel', () => { state.drag = null; render(); });

  window.addEventListener('resize', fitCanvas);
  $('frame-slider').addEventListener('input', (e) => show(Number(e.target.value)));
  $('frame-number').addEventListener('change', (e) => show(Number(e.target.value)));
  document.addEventListener('keydown', (e) => {
    if ($('screen-editor').hidden || !state.session) return;
    if (e.target.tagName === 'INPUT' && e.target.type !== 'range' || e.target.tagName === 'TEXTAREA') return;
    const step = e.shiftKey ? 10 : 1;
    if (e.key === 'ArrowRight') { e.preventDefault(); show(state.frame + step); }
    if (e.key === 'ArrowLeft') { e.preventDefault(); show(state.frame - step); }
  });
  $('object-add').addEventListener('click', () => { addObject(); renderObjects(); });
  $('show-prompts').addEventListener('change', render);
  for (const b of document.querySelectorAll('[data-direction]')) {
    b.addEventListener('click', () => track(b.dataset.direction));
  }
  $('track-cancel').addEventListener('click', () => guarded(cancel));
  $('play').addEventListener('click', togglePlay);
  for (const b of document.querySelectorAll('[data-format]')) {
    b.addEventListener('click', () => guarded(() => exportMasks(b.dataset.format)));
  }
  $('session-job').addEventListener('click', () => guarded(async () => {
    const job = await api.sessionJob(state.session.id);
    clearError();
    location.hash = `#/jobs/${job.id}`;
  }));
}

export async function enter(sessionID) {
  if (!sessionID) {
    if (state.session) { location.hash = `#/editor/${state.session.id}`; return; }
    $('editor-empty').hidden = false;
    $('editor').hidden = true;
    return;
  }
  if (state.session && state.session.id === sessionID) return;
  const session = await api.getSession(sessionID);
  const media = await api.json('GET', `/v1/media/${session.media}`);
  Object.assign(state, { session, media, frame: 0, objects: new Map(), selected: null, prompts: new Map(),
    masks: new Map(), encoded: new Set(), images: new Map() });
  for (const id of session.objects) addObject(id);
  const canvas = $('frame-canvas');
  canvas.width = media.width;
  canvas.height = media.height;
  $('frame-slider').max = String(media.frames - 1);
  $('frame-number').max = String(media.frames - 1);
  $('frame-total').textContent = `/ ${media.frames - 1}`;
  $('session-info').textContent = `${media.name} · ${media.width}×${media.height} · ${media.frames} frames · model ${session.model}`;
  $('editor-empty').hidden = true;
  $('editor').hidden = false;
  fitCanvas();
  setProgress(0, 1, '');
  renderObjects();
  await show(0);
}

/** Scales the canvas (CSS size) to the stage's width and 70% of the window's height, at the frame's aspect ratio. */
function fitCanvas() {
  if (!state.media) return;
  const canvas = $('frame-canvas');
  const room = canvas.closest('.stage').clientWidth;
  const scale = Math.min(room / state.media.width, (window.innerHeight * 0.7) / state.media.height);
  canvas.style.width = `${Math.floor(state.media.width * scale)}px`;
  canvas.style.height = `${Math.floor(state.media.height * scale)}px`;
}

export function leave() {
  stopPlaying();
}

// MARK: frames

async function frameImage(n) {
  if (state.images.has(n)) return state.images.get(n);
  const { blob } = await api.imageBlob(api.frameURL(state.media.id, n));
  const image = await createImageBitmap(blob);
  if (state.images.size >= 400) {
    const oldest = state.images.keys().next().value;
    state.images.get(oldest).close();
    state.images.delete(oldest);
  }
  state.images.set(n, image);
  return image;
}

/** Moves to frame n (clamped) and draws it. */
async function show(n) {
  if (!state.media) return;
  const frame = Math.max(0, Math.min(state.media.frames - 1, Math.round(Number.isFinite(n) ? n : 0)));
  state.frame = frame;
  $('frame-slider').value = String(frame);
  $('frame-number').value = String(frame);
  try {
    await frameImage(frame);
  } catch (e) {
    showError(e);
  }
  if (state.frame === frame) render();
}

function masksOn(frame) {
  const list = state.masks.get(frame) || [];
  for (const m of list) if (!m.mask) m.mask = decodeRLE(m.rle);
  return list.filter((m) => state.objects.has(m.id) && m.area > 0);
}

function render() {
  if (!state.media) return;
  const canvas = $('frame-canvas');
  const colors = new Map([...state.objects.values()].map((o) => [o.id, o.color]));
  const prompts = $('show-prompts').checked ? [...(state.prompts.get(state.frame) || new Map()).values()] : [];
  const d = state.drag;
  drawFrame(canvas, state.images.get(state.frame) || null, masksOn(state.frame), colors, prompts,
    d && d.moved ? d : null);
  canvas.dataset.frame = String(state.frame);
}

// MARK: objects

function addObject(id) {
  const next = id || Math.max(0, ...state.objects.keys()) + 1;
  if (!state.objects.has(next)) state.objects.set(next, { id: next, color: colorFor(next) });
  state.selected = next;
  return next;
}

function renderObjects() {
  const list = $('object-list');
  list.replaceChildren(...[...state.objects.values()].map((o) => {
    const color = el('input', { type: 'color', value: o.color, title: 'colour', 'data-testid': 'object-color' });
    color.addEventListener('input', () => { o.color = color.value; render(); });
    color.addEventListener('click', (e) => e.stopPropagation());
    const remove = el('button', { type: 'button', title: 'remove this object from every frame', 'data-testid': 'object-remove' }, '✕');
    remove.addEventListener('click', (e) => { e.stopPropagation(); guarded(() => removeObject(o.id)); });
    const item = el('li', { 'data-testid': 'object-item', dataset: { objectId: String(o.id) },
      class: o.id === state.selected ? 'selected' : '' }, color, el('span', { class: 'name' }, `object ${o.id}`), remove);
    item.addEventListener('click', () => { state.selected = o.id; renderObjects(); });
    return item;
  }));
}

async function removeObject(id) {
  if (state.busy || state.tracking) return;
  setBusy(`removing object ${id}…`);
  try {
    await removeObjectNow(id);
  } finally {
    setBusy(null);
  }
}

async function removeObjectNow(id) {
  if (state.session.objects.includes(id) || [...state.masks.values()].some((l) => l.some((m) => m.id === id))) {
    try {
      state.session = await api.removeObject(state.session.id, id);
    } catch (e) {
      if (e.code !== 'object_not_found') throw e;
    }
  }
  state.objects.delete(id);
  for (const p of state.prompts.values()) p.delete(id);
  for (const [f, list] of state.masks) state.masks.set(f, list.filter((m) => m.id !== id));
  if (state.selected === id) state.selected = state.objects.size ? [...state.objects.keys()][0] : null;
  renderObjects();
  render();
  // Removing an object can change the others' outputs on the frames it was prompted on (as the
  // official remove_object): take every frame's masks from the session again.
  await resyncMasks();
}

/** Replaces the page's masks with the session's (GET .../masks?format=jsonl). */
async function resyncMasks() {
  const response = await api.request('GET', api.exportURL(state.session.id, 'jsonl'));
  const masks = new Map();
  for (const line of (await response.text()).split('\n')) {
    if (!line.trim()) continue;
    const record = JSON.parse(line);
    masks.set(record.frame, record.objects.map((o) => ({ ...o, mask: null })));
  }
  state.masks = masks;
  render();
}

// MARK: prompts

function setBusy(text) {
  const busy = $('busy');
  busy.hidden = !text;
  busy.textContent = text || '';
  state.busy = Boolean(text);
}

/** Adds a point or a box to the selected object on the current frame and sends them all. */
async function addPrompt({ point, box }) {
  if (state.busy || state.tracking) { render(); return; }
  if (state.selected === null) addObject();
  const frame = state.frame, object = state.selected;
  if (!state.prompts.has(frame)) state.prompts.set(frame, new Map());
  const onFrame = state.prompts.get(frame);
  const previous = onFrame.get(object);
  const current = { points: previous ? [...previous.points] : [], box: previous ? previous.box : null };
  if (point) current.points.push(point);
  if (box) current.box = box;
  onFrame.set(object, current);
  renderObjects();
  render();
  setBusy(state.encoded.has(frame) ? 'decoding…' : `encoding frame ${frame}…`);
  const body = { frame, object, clear: true };
  if (current.points.length) body.points = current.points;
  if (current.box) body.box = current.box;
  try {
    const reply = await api.prompt(state.session.id, body);
    state.encoded.add(frame);
    state.masks.set(reply.frame, reply.objects.map((o) => ({ ...o, mask: null })));
    for (const o of reply.objects) if (!state.objects.has(o.id)) addObject(o.id);
    state.selected = object;
    if (!state.session.objects.includes(object)) state.session.objects.push(object);
    clearError();
  } catch (e) {
    // The daemon refused it: forget the prompt so that the next one does not resend it.
    if (previous) onFrame.set(object, previous); else onFrame.delete(object);
    showError(e);
  } finally {
    setBusy(null);
    renderObjects();
    if (state.frame === frame) render();
  }
}

// MARK: tracking

function setProgress(value, max, text) {
  const bar = $('progress');
  bar.max = max;
  bar.value = value;
  $('progress-text').textContent = text;
}

function setTracking(on) {
  for (const b of document.querySelectorAll('[data-direction], [data-format], #session-job')) b.disabled = on;
  $('track-cancel').disabled = !on;
}

/** Expected number of frame events for a propagation from `from`. */
function expectedFrames(direction, from) {
  const n = state.media.frames;
  if (direction === 'forward') return n - from;
  if (direction === 'backward') return from + 1;
  return n + 1;
}

async function track(direction) {
  if (state.tracking || !state.session) return;
  stopPlaying();
  const from = state.frame;
  const expected = expectedFrames(direction, from);
  const controller = new AbortController();
  state.tracking = { controller };
  setTracking(true);
  let received = 0;
  setProgress(0, expected, `tracking ${direction} from frame ${from}…`);
  try {
    const done = await api.propagate(state.session.id, { from, direction }, (name, data) => {
      if (name !== 'frame') return;
      received += 1;
      state.masks.set(data.frame, data.objects.map((o) => ({ ...o, mask: null })));
      setProgress(received, expected, `tracking ${direction}: ${received}/${expected} frames`);
      show(data.frame);
    }, { signal: controller.signal });
    const note = done.cancelled ? `cancelled after ${done.frames} frame(s)` : `tracked ${done.frames} frame(s)`;
    setProgress(done.cancelled ? received : expected, expected, done.reason ? `${note}: ${done.reason}` : note);
    clearError();
  } catch (e) {
    setProgress(received, expected, e.name === 'AbortError' ? `cancelled after ${received} frame(s)` : `stopped after ${received} frame(s)`);
    showError(e);
  } finally {
    state.tracking = null;
    setTracking(false);
  }
}

async function cancel() {
  if (!state.tracking) return;
  const { controller } = state.tracking;
  $('progress-text').textContent = 'cancelling…';
  const { cancelled } = await api.cancelPropagation(state.session.id);
  // Not started on the daemon yet: closing the stream cancels it there.
  if (!cancelled) controller.abort();
}

// MARK: playback

function stopPlaying() {
  if (state.playing) clearTimeout(state.playing);
  state.playing = null;
  $('play').textContent = '▶';
}

/** Plays the frames that have masks (the tracked range), from the current one if inside it. */
function togglePlay() {
  if (state.playing) { stopPlaying(); return; }
  const tracked = [...state.masks.keys()].sort((a, b) => a - b);
  if (tracked.length === 0) { showError(new Error('nothing to play yet: click an object, then Track')); return; }
  const first = tracked[0], last = tracked[tracked.length - 1];
  let n = state.frame >= first && state.frame < last ? state.frame : first;
  const delay = 1000 / Math.min(state.media.fps || 10, 15);
  $('play').textContent = '❚❚';
  const step = async () => {
    await show(n);
    n += 1;
    state.playing = n <= last ? setTimeout(step, delay) : null;
    if (!state.playing) $('play').textContent = '▶';
  };
  state.playing = setTimeout(step, 0);
}

// MARK: export

const EXPORT_NAMES = { jsonl: 'masks.jsonl', coco: 'masks_coco.json', png: 'masks_png.zip', palette: 'masks_palette.zip' };

async function exportMasks(format) {
  const response = await api.request('GET', api.exportURL(state.session.id, format));
  const blob = await response.blob();
  const base = (state.media.name || 'media').replace(/\.[^.]*$/, '');
  download(blob, `${base}_${dispositionName(response.headers, EXPORT_NAMES[format])}`);
  clearError();
}
