#!/usr/bin/env python3
"""Scores one tracked clip against its ground truth: J (IoU), F (boundary F-measure) and J&F per
object over frames 1..T-2, from two folders of DAVIS palette PNGs (00000.png, ...).

usage: python3 Tools/eval/score_palette.py GT_DIR PREDICTED_DIR
"""
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import davis_metrics  # noqa: E402


def load(directory):
    names = sorted(n for n in os.listdir(directory) if n.endswith(".png"))
    return np.stack([np.array(Image.open(os.path.join(directory, n))) for n in names])


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    gt, pred = load(sys.argv[1]), load(sys.argv[2])
    if gt.shape != pred.shape:
        raise SystemExit(f"ground truth {gt.shape} and prediction {pred.shape} differ in frames or size")
    with_f = davis_metrics.ndimage is not None  # F needs scipy; J alone otherwise
    scores = []
    for obj in sorted(int(v) for v in np.unique(gt) if v != 0):
        frames = range(1, len(gt) - 1)
        j = np.mean([davis_metrics.region_similarity(pred[t] == obj, gt[t] == obj) for t in frames])
        if with_f:
            f = np.mean([davis_metrics.contour_accuracy(pred[t] == obj, gt[t] == obj) for t in frames])
            print(f"object {obj}: J {j:.3f}  F {f:.3f}  J&F {(j + f) / 2:.3f}")
        else:
            f = j
            print(f"object {obj}: J {j:.3f}")
        scores.append((j, f))
    j, f = np.mean([s[0] for s in scores]), np.mean([s[1] for s in scores])
    print(f"mean over {len(scores)} objects: J {j:.3f}" + (f"  F {f:.3f}  J&F {(j + f) / 2:.3f}" if with_f else ""))


if __name__ == "__main__":
    main()
