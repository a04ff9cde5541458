#!/usr/bin/env python3
"""Agreement of two runs' DAVIS palette PNG masks (e.g. samtrack --precision fp32 and bf16).

usage: Tools/bench/mask_agreement.py DIR_A DIR_B

Prints the mean and the minimum IoU over (object, frame) pairs where either run has the object,
and the share of pixels labelled differently.
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    a_dir, b_dir = Path(sys.argv[1]), Path(sys.argv[2])
    names = sorted(p.name for p in a_dir.glob("*.png"))
    if not names:
        print(f"{a_dir}: no PNG masks", file=sys.stderr)
        return 1
    missing = [n for n in names if not (b_dir / n).exists()]
    if missing:
        print(f"{b_dir}: {len(missing)} of {len(names)} frames missing (first {missing[0]})", file=sys.stderr)
        return 1
    ious, differing, total = [], 0, 0
    for name in names:
        a = np.array(Image.open(a_dir / name))
        b = np.array(Image.open(b_dir / name))
        if a.shape != b.shape:
            print(f"{name}: sizes differ {a.shape} vs {b.shape}", file=sys.stderr)
            return 1
        differing += int((a != b).sum())
        total += a.size
        for obj in sorted((set(np.unique(a)) | set(np.unique(b))) - {0}):
            x, y = a == obj, b == obj
            ious.append((x & y).sum() / (x | y).sum())
    print(f"frames {len(names)}, object-frames {len(ious)}")
    print(f"mean IoU {np.mean(ious):.4f}, min IoU {np.min(ious):.4f}, pixels labelled differently {differing / total:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
