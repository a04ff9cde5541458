// jobs.js: the jobs screen — the job list (GET /v1/jobs, refreshed every second while shown) with
// status, progress, cancel and downloads; a running job's newest frame (GET .../frames/latest)
// with its masks (from its event stream), where a click adds a point as a live prompt
// (POST /v1/jobs/{id}/prompts, applied to the next frame tracked); a JSON form for a new job.

import * as api from './api.js';
import { decodeRLE } from './rle.js';
import { canvasPoint, colorFor, drawFrame } from './draw.js';
import { clearError, download, dispositionName, el, guarded, showError } from './ui.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 1000;
const LIVE_MS = 700;

let timer = null;
let live = null;  // {id, events: AbortController of the event stream, masks: Map(frame -> objects), timer}

export function init() {
  $('job-submit').addEventListener('click', () => guarded(async () => {
    let spec;
    try {
      spec = JSON.parse($('job-spec').value);
    } catch (e) {
      throw new Error(`the job is not valid JSON: ${e.message}`);
    }
    await api.json('POST', '/v1/jobs', spec);
    clearError();
    await refresh();
  }));
  $('token').value = localStorage.getItem('samtrack.token') || '';
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token').value.trim();
    if (token) localStorage.setItem('samtrack.token', token); else localStorage.removeItem('samtrack.token');
  });
  $('live-canvas').addEventListener('click', (e) => guarded(async () => {
    if (!live) return;
    const [x, y] = canvasPoint($('live-canvas'), e);
    const object = Math.max(1, Number($('live-object').value) || 1);
    const reply = await api.jobPrompt(live.id, [{ object, points: [[x, y, 1]] }]);
    clearError();
    $('live-title').textContent = `${live.id.slice(0, 8)} · object ${object} added at frame ${reply.frame ?? '(job ended)'}`;
  }));
}

export async function enter() {
  if (!$('job-spec').value) {
    const { models } = await api.json('GET', '/healthz');
    $('job-spec').value = JSON.stringify({ source: '/srv/videos/clip.mp4', model: models[0] || 'default',
      prompts: [{ object: 1, frame: 0, box: [10, 10, 100, 100] }], output: { path: 'clip' } }, null, 1);
  }
  await refresh();
  timer = setInterval(() => refresh().catch(showError), REFRESH_MS);
}

export function leave() {
  clearInterval(timer);
  timer = null;
  stopLive();
}

function progressCell(job) {
  const total = job.total_frames;
  const bar = el('progress', { max: String(total || 1), value: String(total ? job.frames_done : 0), 'data-testid': 'job-progress' });
  return el('td', {}, bar, ` ${job.frames_done}${total ? `/${total}` : ''}`);
}

async function refresh() {
  const { jobs } = await api.listJobs();
  jobs.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));  // newest first
  $('jobs-list').replaceChildren(...jobs.map((job) => {
    const running = job.status === 'running' || job.status === 'queued';
    const actions = el('td', {});
    if (running) {
      actions.append(el('button', { type: 'button', 'data-testid': 'job-cancel',
        onclick: () => guarded(async () => {
          if (live && live.id === job.id) stopLive();  // no newest-frame request races the end of the job
          await api.cancelJob(job.id);
          await refresh();
        }) }, 'Cancel'));
    }
    if (job.status === 'running') {
      actions.append(el('button', { type: 'button', 'data-testid': 'job-live', onclick: () => startLive(job.id) }, 'Live'));
    }
    if (job.frames_done > 0) {
      for (const format of ['jsonl', 'coco', 'png', 'palette']) {
        actions.append(el('button', { type: 'button', 'data-testid': `job-export-${format}`,
          onclick: () => guarded(() => exportJob(job.id, format)) }, format));
      }
    }
    const status = job.error ? `${job.status}: ${job.error.message}` : job.status;
    return el('tr', { dataset: { jobId: job.id } },
      el('td', { title: job.id }, job.id.slice(0, 8)), el('td', { 'data-testid': 'job-status' }, status),
      el('td', { title: job.source }, job.source.split('/').pop()), progressCell(job),
      el('td', {}, job.fps ? job.fps.toFixed(1) : ''), actions);
  }));
  if (jobs.length === 0) {
    $('jobs-list').append(el('tr', {}, el('td', { colspan: '6', class: 'hint' }, 'No jobs yet.')));
  }
  if (live && !jobs.some((j) => j.id === live.id && j.status === 'running')) stopLive();
}

async function exportJob(id, format) {
  const response = await api.request('GET', api.jobMasksURL(id, format));
  download(await response.blob(), `${id.slice(0, 8)}_${dispositionName(response.headers, `masks.${format}`)}`);
}

function stopLive() {
  if (!live) return;
  live.events.abort();
  clearInterval(live.timer);
  live = null;
  $('live').hidden = true;
}

function startLive(id) {
  stopLive();
  const events = new AbortController();
  const view = { id, events, masks: new Map(), timer: null };
  live = view;
  $('live').dataset.framesReceived = '0';
  api.jobEvents(id, (name, data) => {
    if (live !== view) return;
    if (name === 'frame') {
      view.masks.set(data.frame, data.objects);
      for (const key of view.masks.keys()) if (key < data.frame - 30) view.masks.delete(key);
      $('live').dataset.framesReceived = String(Number($('live').dataset.framesReceived) + 1);
    } else if (name === 'end') {
      stopLive();
    }
  }, { signal: events.signal }).catch((e) => {
    if (e.name === 'AbortError' || live !== view) return;
    stopLive();
    showError(e);
  });
  $('live').hidden = false;
  $('live-title').textContent = id.slice(0, 8);
  view.timer = setInterval(() => drawLive().catch((e) => { stopLive(); showError(e); }), LIVE_MS);
  drawLive().catch(showError);
}

async function drawLive() {
  if (!live) return;
  const { blob, headers } = await api.imageBlob(api.jobLatestFrameURL(live.id));
  const image = await createImageBitmap(blob);
  const frame = Number(headers.get('X-Frame-Index'));
  const canvas = $('live-canvas');
  canvas.width = image.width;
  canvas.height = image.height;
  const objects = (live && live.masks.get(frame)) || [];
  const masks = objects.filter((o) => o.area > 0).map((o) => ({ id: o.id, mask: decodeRLE(o.rle) }));
  drawFrame(canvas, image, masks, new Map(masks.map((m) => [m.id, colorFor(m.id)])));
  image.close();
}
