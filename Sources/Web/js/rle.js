// rle.js: COCO run-length masks ({"size": [H, W], "counts": ...}) decoded to a row-major
// Uint8Array of H*W 0/1 values. Counts alternate runs of 0s and 1s (starting with 0s) over the
// pixels in column-major order (down each column, then the next column), as pycocotools.
// The compressed string form packs each count in 5-bit groups (char = group + 48, bit 0x20 = more
// groups follow, bit 0x10 of the last group = negative), and from the third count on stores the
// difference to the count two before (the LEB128-like scheme of pycocotools' rleToString).

/** The counts of a compressed COCO RLE string. Throws on a malformed string. */
export function countsFromString(text) {
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let x = 0, k = 0, more = true;
    while (more) {
      if (p >= text.length) throw new Error('truncated RLE string');
      const c = text.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`bad RLE character '${text[p]}'`);
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** {size: [H, W], counts: string | number[]} -> {width, height, data: Uint8Array (row-major)}. */
export function decodeRLE(rle) {
  const [height, width] = rle.size;
  const counts = typeof rle.counts === 'string' ? countsFromString(rle.counts) : rle.counts;
  const data = new Uint8Array(width * height);
  const total = width * height;
  let index = 0;  // column-major pixel index
  let value = 0;
  for (const run of counts) {
    if (run < 0 || index + run > total) throw new Error('RLE counts do not fit the mask size');
    if (value === 1) {
      for (let i = index; i < index + run; i += 1) {
        const x = Math.floor(i / height), y = i - x * height;
        data[y * width + x] = 1;
      }
    }
    index += run;
    value ^= 1;
  }
  if (index !== total) throw new Error(`RLE counts cover ${index} of ${total} pixels`);
  return { width, height, data };
}
