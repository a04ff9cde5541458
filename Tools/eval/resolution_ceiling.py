#!/usr/bin/env python3
"""The J&F a tracker whose masks are predicted on a coarse grid could reach at best: every
ground-truth mask is reduced to a GRID x GRID grid (area mean), brought back to the clip's size
bilinearly and thresholded at 0.5 -- what SAM 2's low-resolution masks (a quarter of the model's
input size: 64 x 64 for a 256 px model) go through -- then scored against the ground truth with
the same J and F as eval.py (frames 1..T-2 per object, then the mean over all objects).

A J&F far below this ceiling means the model's tracking, not its mask resolution, loses accuracy.

usage: python3 Tools/eval/resolution_ceiling.py CLIPS_DIR [--grid 64]
       (CLIPS_DIR holds clip_*/gt/00000.png..., as eval.py --clips writes them)
"""
import argparse
import glob
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import davis_metrics  # noqa: E402
from score_palette import load as load_palette_pngs  # noqa: E402


def ceiling_of_clip(gt: np.ndarray, grid: int):
    """(J, F) per object of one clip's [T, H, W] label array through a grid x grid mask."""
    scores = []
    for obj in (int(v) for v in np.unique(gt) if v != 0):
        mask = torch.from_numpy((gt == obj).astype(np.float32))[:, None]
        coarse = F.interpolate(mask, size=(grid, grid), mode="area")
        restored = F.interpolate(coarse, size=gt.shape[1:], mode="bilinear", align_corners=False)
        j, f, _, _ = davis_metrics.evaluate_object(restored[:, 0].numpy() > 0.5, gt == obj)
        scores.append((j, f))
    return scores


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", help="folder of clip_*/gt palette PNGs")
    ap.add_argument("--grid", type=int, default=64, help="mask grid side (model input size / 4)")
    args = ap.parse_args()
    if args.grid < 1:
        ap.error(f"--grid must be at least 1, got {args.grid}")
    clip_dirs = sorted(d for d in glob.glob(os.path.join(args.clips, "clip_*")) if os.path.isdir(os.path.join(d, "gt")))
    if not clip_dirs:
        sys.exit(f"error: no clip_*/gt folders in {args.clips} (generate them with Tools/eval/eval.py --clips {args.clips})")
    scores = []
    for clip in clip_dirs:
        scores += ceiling_of_clip(load_palette_pngs(os.path.join(clip, "gt")), args.grid)
    j = float(np.mean([s[0] for s in scores]))
    f = float(np.mean([s[1] for s in scores]))
    print(f"{args.grid} x {args.grid} masks, {len(clip_dirs)} clips, {len(scores)} objects: "
          f"J {j:.4f}  F {f:.4f}  J&F {(j + f) / 2:.4f}")


if __name__ == "__main__":
    main()
