// draw.js: what the frame canvas shows — the frame at source resolution (the canvas's own size
// is the media's width x height, CSS scales it to the page, so a canvas pixel is a source pixel),
// each object's mask blended in its colour with a solid outline inside the mask, and optionally
// the prompts (points: green positive, red negative; box: dashed) and a rubber band while dragging.

/** Object colours, in the order objects are added (the DAVIS palette's first hues). */
export const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#46f0f0', '#f032e6', '#bcf60c',
  '#fabebe', '#008080', '#e6beff', '#9a6324'];

export const MASK_ALPHA = 0.5;

export function colorFor(id) {
  return PALETTE[(id - 1) % PALETTE.length];
}

function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/**
 * Draws `image` (ImageBitmap or null) and `masks` ([{id, mask: {width, height, data}}]) with
 * `colors` (Map id -> '#rrggbb') on `canvas`; `prompts` ([{points: [[x, y, label]], box}]) when
 * given; `band` ({x0, y0, x1, y1}) while dragging.
 */
export function drawFrame(canvas, image, masks, colors, prompts = [], band = null) {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const { width, height } = canvas;
  if (image) ctx.drawImage(image, 0, 0, width, height);
  else {
    ctx.fillStyle = '#222';
    ctx.fillRect(0, 0, width, height);
  }
  if (masks.length > 0) {
    const pixels = ctx.getImageData(0, 0, width, height);
    const px = pixels.data;
    for (const { id, mask } of masks) {
      if (mask.width !== width || mask.height !== height) continue;
      const [r, g, b] = rgb(colors.get(id) || colorFor(id));
      const m = mask.data;
      for (let y = 0; y < height; y += 1) {
        for (let x = 0; x < width; x += 1) {
          const i = y * width + x;
          if (!m[i]) continue;
          const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1
            || !m[i - 1] || !m[i + 1] || !m[i - width] || !m[i + width];
          const a = edge ? 1 : MASK_ALPHA;
          const o = i * 4;
          px[o] = Math.round(px[o] * (1 - a) + r * a);
          px[o + 1] = Math.round(px[o + 1] * (1 - a) + g * a);
          px[o + 2] = Math.round(px[o + 2] * (1 - a) + b * a);
        }
      }
    }
    ctx.putImageData(pixels, 0, 0);
  }
  // Markers keep their size on screen however the canvas is scaled (6 screen pixels of radius).
  const unit = (width / (canvas.clientWidth || width)) * 6;
  for (const p of prompts) {
    if (p.box) {
      const [x0, y0, x1, y1] = p.box;
      ctx.save();
      ctx.setLineDash([unit, unit]);
      ctx.lineWidth = Math.max(1, unit / 3);
      ctx.strokeStyle = '#fff';
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.restore();
    }
    for (const [x, y, label] of p.points || []) {
      ctx.beginPath();
      ctx.arc(x, y, unit, 0, 2 * Math.PI);
      ctx.fillStyle = label === 1 ? '#20c020' : '#e02020';
      ctx.fill();
      ctx.lineWidth = Math.max(1, unit / 3);
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    }
  }
  if (band) {
    ctx.save();
    ctx.lineWidth = Math.max(1, unit / 3);
    ctx.strokeStyle = '#ffeb3b';
    ctx.strokeRect(Math.min(band.x0, band.x1), Math.min(band.y0, band.y1), Math.abs(band.x1 - band.x0), Math.abs(band.y1 - band.y0));
    ctx.restore();
  }
}

/** The source pixel under a pointer event on `canvas` (clamped to the frame). */
export function canvasPoint(canvas, event) {
  const r = canvas.getBoundingClientRect();
  const x = ((event.clientX - r.left) / r.width) * canvas.width;
  const y = ((event.clientY - r.top) / r.height) * canvas.height;
  return [Math.min(canvas.width - 1, Math.max(0, Math.round(x))), Math.min(canvas.height - 1, Math.max(0, Math.round(y)))];
}
