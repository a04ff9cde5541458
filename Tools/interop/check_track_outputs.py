#!/usr/bin/env python3
"""Checks that the outputs of `samtrack track` runs agree with each other, read by real clients.

Usage: check_track_outputs.py ROOT --frames N --width W --height H

ROOT holds the outputs of runs of the same command that differ only in `--format`:

    ROOT/rle/masks.jsonl              --format rle     (required)
    ROOT/png/<id>/<frame %05d>.png    --format png     (required: the masks the others are checked against)
    ROOT/palette/<frame %05d>.png     --format palette (checked when present)
    ROOT/logits/<frame %05d>_<id>.npy --save-logits    (checked when present)

The per-object PNGs, decoded by Pillow, are taken as the masks. Against them:

- masks.jsonl has exactly N lines, frames 0..N-1, each W x H; every RLE decodes with
  pycocotools.mask.decode to the PNG mask, its counts equal pycocotools.mask.encode of it, and
  area / bbox equal pycocotools.mask.area / toBbox (check_outputs.check_rle);
- the PNGs are mode "L", 0 or 255, W x H, one per object listed in masks.jsonl and no others
  (check_outputs.check_png);
- each palette PNG is the DAVIS palette and every pixel is the id of the highest-score object
  covering it (check_outputs.check_palette);
- each .npy loads with numpy.load as float32 [h, w] (check_outputs.check_logits for the header),
  one per object per frame, and its logits upsampled bilinearly to W x H (align_corners=False, as
  torch.nn.functional.interpolate) are > 0 exactly on the PNG mask. Tolerance: pixels whose
  upsampled logit is within 1e-4 of 0 are not compared (float32 rounding in the two interpolations
  differs by ~1e-7 of the logits' magnitude); they must be under 1% of the pixels compared.

The per-format checks are those of check_outputs.py (the Export module's interop checker), imported
from beside this file. Exit status: 0 when every check passes, 1 when one fails (each failure is
printed), 2 when the checker cannot run.

Dependencies: pycocotools, numpy, pillow, in `.venv-interop/` at the repository root, which
this script creates on first use and then runs itself again with that interpreter (interop_venv.py).
"""

import argparse
import base64
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Pixels whose upsampled logit is this close to 0 are not compared with the masks.
LOGIT_TOLERANCE = 1e-4

sys.path.insert(0, HERE)
import interop_venv  # noqa: E402

interop_venv.ensure(__file__)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import check_outputs as co  # noqa: E402


def packed_bits(mask):
    """The mask [H, W] as check_outputs expects it: numpy.packbits of the row-major pixels, base64."""
    return base64.b64encode(np.packbits(mask.astype(np.uint8).reshape(-1)).tobytes()).decode("ascii")


def bilinear_axis(out_size, in_size):
    """Source indices and weights of torch's bilinear resize along one axis (align_corners=False)."""
    scale = in_size / out_size
    source = np.maximum((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    weight = source - low
    return low, high, weight


def upsample(logits, height, width):
    """logits [h, w] -> [height, width], float64."""
    y0, y1, wy = bilinear_axis(height, logits.shape[0])
    x0, x1, wx = bilinear_axis(width, logits.shape[1])
    values = logits.astype(np.float64)
    rows = values[y0] * (1 - wy)[:, None] + values[y1] * wy[:, None]
    return rows[:, x0] * (1 - wx)[None, :] + rows[:, x1] * wx[None, :]


def list_files(directory, pattern):
    if not os.path.isdir(directory):
        return set()
    return {name for name in os.listdir(directory) if re.fullmatch(pattern, name)}


def main(argv):
    parser = argparse.ArgumentParser(description="Cross-checks the outputs of samtrack track runs.")
    parser.add_argument("root")
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    args = parser.parse_args(argv[1:])
    root, count, width, height = args.root, args.frames, args.width, args.height
    checker = co.Checker(root)

    # The tracked frames, from masks.jsonl.
    jsonl = os.path.join(root, "rle", "masks.jsonl")
    try:
        with open(jsonl) as handle:
            records = [json.loads(line) for line in handle.read().split("\n") if line]
    except (OSError, ValueError) as error:
        print(f"FAIL: cannot read {jsonl}: {error}")
        return 1
    checker.expect([r["frame"] for r in records] == list(range(count)),
                   f"masks.jsonl frames {[r['frame'] for r in records]}, expected 0..{count - 1}")
    checker.expect(all(o["rle"]["size"] == [height, width] for r in records for o in r["objects"]),
                   f"masks.jsonl: a mask is not {width}x{height}")
    checker.expect(any(r["objects"] for r in records), "masks.jsonl lists no objects at all")

    # The masks, from the per-object PNGs.
    png_root = os.path.join(root, "png")
    masks = {}
    frames = []
    for record in records:
        objects = []
        for obj in record["objects"]:
            path = os.path.join(png_root, str(obj["id"]), co.frame_name(record["frame"]) + ".png")
            if not checker.expect(os.path.exists(path), f"{os.path.relpath(path, root)} is missing"):
                continue
            with Image.open(path) as image:
                mask = np.array(image) != 0
            if not checker.expect(mask.shape == (height, width), f"{path}: size {mask.shape[::-1]}"):
                continue
            masks[(record["frame"], obj["id"])] = mask
            objects.append({"id": obj["id"], "score": repr(obj["score"]), "bits": packed_bits(mask)})
        frames.append({"frame": record["frame"], "pts": record["pts"], "width": width, "height": height,
                       "objects": objects})
    expected_png = {(str(i), co.frame_name(f) + ".png") for (f, i) in masks}
    found_png = {(d, name) for d in list_files(png_root, r"[0-9]+")
                 for name in list_files(os.path.join(png_root, d), r"[0-9]{5}\.png")}
    checker.expect(found_png == expected_png,
                   f"png: files not listed in masks.jsonl: {sorted(found_png - expected_png)[:5]}")

    co.check_rle(checker, os.path.join(root, "rle"), frames)
    co.check_png(checker, png_root, frames)

    palette_root = os.path.join(root, "palette")
    if os.path.isdir(palette_root):
        co.check_palette(checker, palette_root, frames)
        found = list_files(palette_root, r".*") - {"run.json"}  # the run's manifest may sit beside the frames
        wanted = {co.frame_name(f) + ".png" for f in range(count)}
        checker.expect(found == wanted, f"palette: files {sorted(found ^ wanted)[:5]} unexpected or missing")

    compared = ambiguous = 0
    logits_root = os.path.join(root, "logits")
    if os.path.isdir(logits_root):
        found = list_files(logits_root, r".*")
        wanted = {f"{co.frame_name(f)}_{i}.npy" for (f, i) in masks}
        checker.expect(found == wanted, f"logits: files {sorted(found ^ wanted)[:5]} unexpected or missing")
        entries = []
        for (frame, object_id), mask in sorted(masks.items()):
            name = f"{co.frame_name(frame)}_{object_id}.npy"
            path = os.path.join(logits_root, name)
            if not os.path.exists(path):
                continue
            array = np.load(path, allow_pickle=False)
            entries.append({"file": name, "shape": list(array.shape),
                            "data": base64.b64encode(array.astype("<f4").tobytes()).decode("ascii")})
            plane = array.reshape(array.shape[-2:]) if array.ndim >= 2 else array
            if not checker.expect(array.ndim >= 2 and array.size == plane.size, f"{name}: shape {array.shape}"):
                continue
            up = upsample(plane, height, width)
            clear = np.abs(up) > LOGIT_TOLERANCE
            differ = int(((up > 0) != mask)[clear].sum())
            compared += int(clear.sum())
            ambiguous += int((~clear).sum())
            checker.expect(differ == 0, f"{name}: (upsampled logits > 0) differs from the PNG mask in {differ} pixels")
        # Shape, dtype and .npy header version / alignment, by the Export checker.
        co.check_logits(checker, logits_root, entries)
        checker.expect(ambiguous <= 0.01 * max(compared, 1),
                       f"logits: {ambiguous} pixels within {LOGIT_TOLERANCE} of 0 (of {compared + ambiguous})")

    for failure in checker.failures:
        print("FAIL:", failure)
    print(f"check_track_outputs: {checker.checks - len(checker.failures)}/{checker.checks} checks passed, "
          f"{count} frames, {len(masks)} object masks, {compared} pixels compared with logits "
          f"(pycocotools, Pillow {Image.__version__}, NumPy {np.__version__})")
    return 1 if checker.failures or checker.checks == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
