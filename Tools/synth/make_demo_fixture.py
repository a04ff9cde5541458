#!/usr/bin/env python3
"""Writes the bundled demo clip Fixtures/clips/clip_700002/ (48 frames, 256x256, three objects
crossing over a crop of cups.mp4, one hidden up to 90% behind another) with synth.py, plus its
frame-0 object masks as prompt files masks/<id>.png (0/255 greyscale, what `samtrack track --mask`
reads), and updates Fixtures/MANIFEST.sha256. Seed 700002 is neither a training seed
(seed x 10^6 + step) nor a held-out evaluation seed (900000..900019).

usage: python Tools/synth/make_demo_fixture.py
"""
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "Tools", "reference"))

import synth  # noqa: E402
from fixture_io import update_manifest  # noqa: E402

SEED, FRAMES, SIZE = 700002, 48, (256, 256)


def main():
    fixtures = os.path.join(REPO, "Fixtures")
    out = os.path.join(fixtures, "clips", f"clip_{SEED}")
    clip = synth.generate_clip(SEED, num_frames=FRAMES, size=SIZE, num_objects=(3, 3), difficulty="eval")
    synth.write_clip(clip, out)
    os.makedirs(os.path.join(out, "masks"), exist_ok=True)
    for obj in range(1, clip.num_objects + 1):
        path = os.path.join(out, "masks", f"{obj}.png")
        Image.fromarray(((clip.masks[0] == obj) * 255).astype(np.uint8)).save(path + ".tmp.png")
        os.replace(path + ".tmp.png", path)
    files = []
    for root, _, names in os.walk(out):
        files += [os.path.relpath(os.path.join(root, n), fixtures) for n in names]
    update_manifest(fixtures, sorted(files))
    print(synth.describe(clip))
    print(f"wrote {out} ({len(files)} files)")


if __name__ == "__main__":
    main()
