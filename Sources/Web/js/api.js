// api.js: the samtrackd HTTP API as promises (docs/openapi.yaml). Every failure becomes an
// ApiError carrying the API's {"error": {"code", "message"}} (or the HTTP status when the body is
// not JSON), so that the page can show the message the daemon wrote. A bearer token, when the
// daemon wants one, is read from localStorage "samtrack.token" (set it once from the jobs screen).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function authHeaders(extra = {}) {
  const token = localStorage.getItem('samtrack.token');
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/** The ApiError for a failed response (reads its JSON error body). */
export async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (_) { /* not JSON: keep the status line */ }
  if (response.status === 401) message += TOKEN_HINT;
  return new ApiError(response.status, code, message);
}

/** Where a 401 tells the user to go: the token form of the jobs screen. */
const TOKEN_HINT = ' (this samtrackd wants a bearer token: enter it under Jobs, "Bearer token")';

/** fetch() with the token; throws ApiError for 4xx/5xx and for network failures. */
export async function request(method, path, body, { signal } = {}) {
  const init = { method, headers: authHeaders(), signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `cannot reach samtrackd (${e.message})`);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function json(method, path, body) {
  return (await request(method, path, body)).json();
}

/** Uploads a File with XMLHttpRequest (fetch has no upload progress); onProgress(fraction). */
export function uploadMedia(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/media?name=${encodeURIComponent(file.name)}`);
    for (const [k, v] of Object.entries(authHeaders({ 'Content-Type': 'application/octet-stream' }))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* handled below */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
      else if (body && body.error) {
        reject(new ApiError(xhr.status, body.error.code, body.error.message + (xhr.status === 401 ? TOKEN_HINT : '')));
      }
      else reject(new ApiError(xhr.status, `http_${xhr.status}`, `upload failed: ${xhr.status} ${xhr.statusText}`));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload failed: cannot reach samtrackd'));
    xhr.send(file);
  });
}

export const listMedia = () => json('GET', '/v1/media');
export const registerSource = (source) => json('POST', '/v1/media', { source });
export const deleteMedia = (id) => json('DELETE', `/v1/media/${id}`);
export const frameURL = (mediaID, n) => `/v1/media/${mediaID}/frames/${n}?format=jpeg`;

export const createSession = (media) => json('POST', '/v1/sessions', { media });
export const getSession = (id) => json('GET', `/v1/sessions/${id}`);
export const prompt = (session, body) => json('POST', `/v1/sessions/${session}/prompts`, body);
export const removeObject = (session, object) => json('DELETE', `/v1/sessions/${session}/objects/${object}`);
export const cancelPropagation = (session) => json('DELETE', `/v1/sessions/${session}/propagate`);
export const sessionJob = (session, body = {}) => json('POST', `/v1/sessions/${session}/job`, body);
export const exportURL = (session, format) => `/v1/sessions/${session}/masks?format=${format}`;

export const listJobs = () => json('GET', '/v1/jobs?limit=50');
export const cancelJob = (id) => json('DELETE', `/v1/jobs/${id}`);
export const jobPrompt = (id, prompts) => json('POST', `/v1/jobs/${id}/prompts`, { prompts });
export const jobMasksURL = (id, format) => `/v1/jobs/${id}/masks?format=${format}`;
export const jobLatestFrameURL = (id) => `/v1/jobs/${id}/frames/latest`;

/** An image from the API as a blob URL (so that errors are ApiErrors, not broken images). */
export async function imageBlob(path, { signal } = {}) {
  const response = await request('GET', path, undefined, { signal });
  return { blob: await response.blob(), headers: response.headers };
}

/**
 * POST /v1/sessions/{id}/propagate and read its Server-Sent Events as they arrive (EventSource
 * cannot POST): onEvent(name, data) per event; resolves with the `done` event's data.
 */
export async function propagate(session, body, onEvent, { signal } = {}) {
  const response = await request('POST', `/v1/sessions/${session}/propagate`, body, { signal });
  let done = null;
  await readEvents(response, (name, data) => {
    if (name === 'done') done = data;
    if (name === 'error') {
      const e = data && data.error;
      throw new ApiError(500, e ? e.code : 'propagation_failed', e ? e.message : 'the propagation failed');
    }
    onEvent(name, data);
  });
  if (!done) throw new ApiError(0, 'stream_ended', 'the propagation stream ended before its done event');
  return done;
}

/**
 * GET /v1/jobs/{id}/events (frame, progress and end events) until the job ends or `signal` aborts:
 * read with fetch rather than EventSource, which cannot send the bearer token.
 */
export async function jobEvents(id, onEvent, { signal } = {}) {
  const response = await request('GET', `/v1/jobs/${id}/events`, undefined, { signal });
  await readEvents(response, onEvent);
}

/** Reads a text/event-stream response to its end, calling onEvent(name, data) per event. */
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done: finished } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = parseEvent(block);
      if (event) onEvent(event.name, event.data);
    }
    if (finished) return;
  }
}

/** One SSE block ("event: x\ndata: {...}") as {name, data}; null for comments. */
export function parseEvent(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return null;
  return { name, data: JSON.parse(data.join('\n')) };
}
