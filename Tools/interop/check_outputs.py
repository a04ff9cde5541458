#!/usr/bin/env python3
"""Checks samtrack's output files with the reference readers: pycocotools, Pillow and NumPy.

Usage: check_outputs.py DIR

DIR holds the outputs the Swift test `Tests/ExportTests/InteropTests.swift` wrote and
`DIR/expected.json`, which describes the masks independently of any encoder:

    {"layout": {"rle": "rle", "png": "png", "palette": "palette", "logits": "logits"},
     "frames": [{"frame": 0, "pts": 0.0, "width": W, "height": H,
                 "objects": [{"id": 1, "score": "3.2", "bits": "<base64>"}]}],
     "logits": [{"file": "00000_1.npy", "shape": [h, w], "data": "<base64>"}]}

`bits` is the mask [H, W] in row-major order packed 8 pixels per byte, first pixel in the high
bit (numpy.packbits); `score` is the float32 score as text; `data` the float32 little-endian
values in C order. Which parts are checked follows from the keys in `layout`:

- rle: DIR/<rle>/masks.jsonl has one line per frame, keys in DESIGN §6 order, the exact text
  `json.dumps` gives; each RLE decodes with pycocotools.mask.decode to the expected mask, its
  counts string equals pycocotools.mask.encode of the expected mask, area and bbox equal
  pycocotools.mask.area / toBbox;
- png: DIR/<png>/<id>/<frame %05d>.png opens in Pillow as mode "L", values mask * 255;
- palette: DIR/<palette>/<frame %05d>.png is mode "P", its palette is the DAVIS palette (built
  here from the bit-interleaving rule) and every pixel is the id of the highest-score object
  covering it (ties: the later object), 0 elsewhere;
- logits: DIR/<logits>/<file> loads with numpy.load as float32 of the given shape, bit-identical,
  with a version 1.0 header whose length is a multiple of 64.

Exit status: 0 when every check passes, 1 when one fails (each failure is printed), 2 when the
checker cannot run (bad arguments, dependencies that cannot be installed).

Dependencies: pycocotools, numpy, pillow. When they are missing this script creates
`.venv-interop/` at the repository root (`python3 -m venv .venv-interop && .venv-interop/bin/pip
install pycocotools numpy pillow`) and runs itself again with that interpreter (interop_venv.py).
"""

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_venv  # noqa: E402

interop_venv.ensure(__file__)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from pycocotools import mask as mask_api  # noqa: E402


class Checker:
    def __init__(self, root):
        self.root = root
        self.failures = []
        self.checks = 0

    def expect(self, condition, message):
        self.checks += 1
        if not condition:
            self.failures.append(message)
        return condition


def davis_palette():
    """The DAVIS 2017 palette: bits of the index spread over R, G, B from the high bit down."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def expected_mask(obj, height, width):
    packed = np.frombuffer(base64.b64decode(obj["bits"]), dtype=np.uint8)
    return np.unpackbits(packed)[: height * width].reshape(height, width)


def frame_name(frame):
    return "%05d" % frame


def check_rle(checker, directory, frames):
    path = os.path.join(directory, "masks.jsonl")
    if not checker.expect(os.path.exists(path), f"{path} is missing"):
        return
    with open(path, "rb") as handle:
        raw = handle.read()
    checker.expect(raw.endswith(b"\n"), "masks.jsonl does not end with a newline")
    checker.expect(not os.path.exists(path + ".partial"), "masks.jsonl.partial left behind")
    lines = raw.decode("ascii").split("\n")[:-1]
    checker.expect(len(lines) == len(frames), f"masks.jsonl has {len(lines)} lines, expected {len(frames)}")
    for line, frame in zip(lines, frames):
        name = f"masks.jsonl frame {frame['frame']}"
        record = json.loads(line)
        checker.expect(json.dumps(record) == line, f"{name}: text differs from json.dumps of itself:\n{line[:200]}")
        checker.expect(list(record.keys()) == ["frame", "pts", "objects"], f"{name}: keys {list(record.keys())}")
        checker.expect(record["frame"] == frame["frame"], f"{name}: frame {record['frame']}")
        checker.expect(record["pts"] == frame["pts"], f"{name}: pts {record['pts']} != {frame['pts']}")
        objects = record["objects"]
        if not checker.expect(len(objects) == len(frame["objects"]), f"{name}: {len(objects)} objects"):
            continue
        for obj, want in zip(objects, frame["objects"]):
            label = f"{name} object {want['id']}"
            checker.expect(list(obj.keys()) == ["id", "score", "area", "bbox", "rle"], f"{label}: keys {list(obj.keys())}")
            checker.expect(list(obj["rle"].keys()) == ["size", "counts"], f"{label}: rle keys {list(obj['rle'].keys())}")
            checker.expect(obj["id"] == want["id"], f"{label}: id {obj['id']}")
            checker.expect(np.float32(obj["score"]) == np.float32(want["score"]),
                           f"{label}: score {obj['score']} != {want['score']}")
            height, width = frame["height"], frame["width"]
            checker.expect(obj["rle"]["size"] == [height, width], f"{label}: size {obj['rle']['size']}")
            truth = expected_mask(want, height, width)
            rle = {"size": obj["rle"]["size"], "counts": obj["rle"]["counts"].encode("ascii")}
            decoded = mask_api.decode(rle)
            checker.expect(decoded.shape == (height, width), f"{label}: decoded shape {decoded.shape}")
            if decoded.shape == truth.shape:
                differ = int((decoded != truth).sum())
                checker.expect(differ == 0, f"{label}: pycocotools.mask.decode differs in {differ} pixels")
            reference = mask_api.encode(np.asfortranarray(truth))
            checker.expect(reference["counts"] == rle["counts"],
                           f"{label}: counts differ from pycocotools.mask.encode:\n"
                           f"  ours   {rle['counts'][:80]!r}\n  theirs {reference['counts'][:80]!r}")
            area = int(mask_api.area(reference))
            checker.expect(obj["area"] == area == int(truth.sum()), f"{label}: area {obj['area']} != {area}")
            box = [int(v) for v in mask_api.toBbox(reference)]
            checker.expect(obj["bbox"] == box, f"{label}: bbox {obj['bbox']} != pycocotools {box}")


def check_png(checker, directory, frames):
    for frame in frames:
        for want in frame["objects"]:
            path = os.path.join(directory, str(want["id"]), frame_name(frame["frame"]) + ".png")
            label = f"png {os.path.relpath(path, checker.root)}"
            if not checker.expect(os.path.exists(path), f"{label} is missing"):
                continue
            with Image.open(path) as image:
                checker.expect(image.mode == "L", f"{label}: mode {image.mode}, expected L")
                checker.expect(image.size == (frame["width"], frame["height"]), f"{label}: size {image.size}")
                pixels = np.array(image)
            truth = expected_mask(want, frame["height"], frame["width"]) * np.uint8(255)
            checker.expect(set(np.unique(pixels).tolist()) <= {0, 255}, f"{label}: values other than 0 and 255")
            if pixels.shape == truth.shape:
                differ = int((pixels != truth).sum())
                checker.expect(differ == 0, f"{label}: {differ} pixels differ")


def check_palette(checker, directory, frames):
    reference_palette = davis_palette()
    checker.expect(reference_palette[3:15] == [128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128],
                   "palette rule self-check")
    for frame in frames:
        path = os.path.join(directory, frame_name(frame["frame"]) + ".png")
        label = f"palette {os.path.relpath(path, checker.root)}"
        if not checker.expect(os.path.exists(path), f"{label} is missing"):
            continue
        height, width = frame["height"], frame["width"]
        composite = np.zeros((height, width), dtype=np.uint8)
        objects = list(enumerate(frame["objects"]))
        # Highest score on top; equal scores: the later object on top.
        objects.sort(key=lambda item: (float(np.float32(item[1]["score"])), item[0]))
        for _, want in objects:
            composite[expected_mask(want, height, width) != 0] = want["id"]
        with Image.open(path) as image:
            checker.expect(image.mode == "P", f"{label}: mode {image.mode}, expected P")
            checker.expect(image.size == (width, height), f"{label}: size {image.size}")
            palette = image.getpalette() or []
            checker.expect(palette[:768] == reference_palette,
                           f"{label}: palette differs from DAVIS (first entries {palette[:12]})")
            pixels = np.array(image)
        if pixels.shape == composite.shape:
            differ = int((pixels != composite).sum())
            checker.expect(differ == 0, f"{label}: {differ} pixels differ from the expected ids")


def check_logits(checker, directory, entries):
    for entry in entries:
        path = os.path.join(directory, entry["file"])
        label = f"npy {os.path.relpath(path, checker.root)}"
        if not checker.expect(os.path.exists(path), f"{label} is missing"):
            continue
        with open(path, "rb") as handle:
            head = handle.read(10)
        header_length = head[8] | head[9] << 8
        checker.expect(head[:8] == b"\x93NUMPY\x01\x00", f"{label}: not a version 1.0 .npy file")
        checker.expect((10 + header_length) % 64 == 0, f"{label}: header ends at {10 + header_length}")
        array = np.load(path, allow_pickle=False)
        checker.expect(array.dtype == np.dtype("<f4"), f"{label}: dtype {array.dtype}")
        checker.expect(list(array.shape) == entry["shape"], f"{label}: shape {array.shape} != {entry['shape']}")
        truth = np.frombuffer(base64.b64decode(entry["data"]), dtype="<f4").reshape(entry["shape"])
        if array.shape == truth.shape and array.dtype == truth.dtype:
            differ = int((array.view(np.uint32) != truth.view(np.uint32)).sum())
            checker.expect(differ == 0, f"{label}: {differ} values differ bit-wise")


def main(argv):
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    root = argv[1]
    try:
        with open(os.path.join(root, "expected.json")) as handle:
            expected = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"check_outputs: cannot read {root}/expected.json: {error}", file=sys.stderr)
        return 2
    checker = Checker(root)
    layout = expected.get("layout", {})
    frames = expected.get("frames", [])
    if "rle" in layout:
        check_rle(checker, os.path.join(root, layout["rle"]), frames)
    if "png" in layout:
        check_png(checker, os.path.join(root, layout["png"]), frames)
    if "palette" in layout:
        check_palette(checker, os.path.join(root, layout["palette"]), frames)
    if "logits" in layout:
        check_logits(checker, os.path.join(root, layout["logits"]), expected.get("logits", []))
    if checker.checks == 0:
        print("check_outputs: nothing was checked (empty layout)", file=sys.stderr)
        return 1
    for failure in checker.failures:
        print("FAIL:", failure)
    print(f"check_outputs: {checker.checks - len(checker.failures)}/{checker.checks} checks passed "
          f"(pycocotools, Pillow {Image.__version__}, NumPy {np.__version__})")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
