// ui.js: what every screen shares — the error banner (data-testid="error": the API's message and
// code, never a silent failure), the status line, and a guard that routes a failed promise there.

const banner = () => document.getElementById('error');

/** Shows an error: an ApiError's message with its code, or any Error's message. */
export function showError(error) {
  if (error && error.name === 'AbortError') return;
  const text = error && error.code ? `${error.message} (${error.code})` : String((error && error.message) || error);
  document.getElementById('error-text').textContent = text;
  banner().hidden = false;
}

export function clearError() {
  banner().hidden = true;
  document.getElementById('error-text').textContent = '';
}

export function setStatus(text) {
  document.getElementById('status').textContent = text;
}

/** Runs `action` (async), showing any failure; returns its result or undefined. */
export async function guarded(action) {
  try {
    return await action();
  } catch (e) {
    showError(e);
    return undefined;
  }
}

/** Saves a Blob as a download named `name`. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** The file name of a Content-Disposition header, or `fallback`. */
export function dispositionName(headers, fallback) {
  const m = /filename="?([^";]+)"?/.exec(headers.get('Content-Disposition') || '');
  return m ? m[1] : fallback;
}

/** An element with attributes and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
