#!/usr/bin/env python3
"""Checks samtrack's zip archives and mask exports with the reference readers.

Usage: check_exports.py DIR

DIR holds what the Swift tests `Tests/ExportTests/ZipWriterTests.swift` and
`ExportInteropTests.swift` wrote, and `DIR/expected.json`:

    {"zips": [{"file": "a.zip", "date_time": [2024, 5, 17, 13, 45, 30], "zip64": false,
               "entries": [{"name": "x/1.bin", "data": "<base64>"},
                           {"name": "big.bin", "size": 4295032832, "crc32": 123}]}],
     "exports": {"width": W, "height": H, "jsonl": "masks.jsonl", "coco": "masks_coco.json",
                 "png": "masks_png.zip", "palette": "masks_palette.zip",
                 "date_time": [...], "frames": [...]}}

`frames` describe the masks as check_outputs.py's expected.json does (packed bits, not RLE).

- zips: Python's zipfile opens each archive; its entries are exactly the expected names in order,
  stored (method 0), not encrypted, with the UTF-8 flag, the expected DOS date and time, no
  directory entries; `testzip()` finds every CRC-32 right; each entry's bytes equal `data` (or its
  size and CRC-32 equal `size` and `crc32`; an entry with a name only is not read); whether the archive has a ZIP64 end record is as
  expected; `unzip -t` (when installed) tests it without errors.
- exports.jsonl: check_outputs.check_rle on the file (the exact text of masks.jsonl, pycocotools).
- exports.coco: `pycocotools.coco.COCO` loads the file; one image per frame (id = frame + 1,
  file_name `<frame %05d>.jpg`, width, height, frame_index), one annotation per object per frame
  (image_id, category 1 which is listed, iscrowd 0, track_id = object id, score as float32), unique
  ids; `COCO.annToMask` and `pycocotools.mask.decode` of each segmentation equal the expected mask,
  its counts equal `pycocotools.mask.encode` of it, `area` and `bbox` equal `mask.area` / `toBbox`.
- exports.png / exports.palette: the zip checks above with the names of the png and palette
  layouts (`<id>/<frame %05d>.png`, `<frame %05d>.png`), then the extracted files get
  check_outputs.check_png / check_palette (Pillow: mode L 0/255, or mode P with the DAVIS palette
  and the highest-score id per pixel).

Exit status: 0 when every check passes, 1 when one fails (each failure is printed), 2 when the
checker cannot run. Dependencies as check_outputs.py (interop_venv.py).
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import interop_venv  # noqa: E402

interop_venv.ensure(__file__)

import numpy as np  # noqa: E402
from pycocotools import mask as mask_api  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402

import check_outputs as co  # noqa: E402

ZIP64_END_SIGNATURE = b"PK\x06\x06"
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"


def has_zip64_end(path):
    """Whether the archive ends with ZIP64 end record + locator + a 22-byte end record."""
    size = os.path.getsize(path)
    if size < 22 + 20 + 56:
        return False
    with open(path, "rb") as handle:
        handle.seek(size - 22 - 20)
        locator = handle.read(20)
        if locator[:4] != ZIP64_LOCATOR_SIGNATURE:
            return False
        offset = int.from_bytes(locator[8:16], "little")
        handle.seek(offset)
        return handle.read(4) == ZIP64_END_SIGNATURE


def entry_crc(archive, name):
    crc = 0
    with archive.open(name) as stream:
        while True:
            block = stream.read(1 << 24)
            if not block:
                return crc
            crc = zlib.crc32(block, crc)


def check_zip(checker, path, names, date_time=None, zip64=None, contents=None):
    """The zip checks of the module docstring; `contents` maps names to bytes or (size, crc)."""
    label = os.path.relpath(path, checker.root)
    if not checker.expect(os.path.exists(path), f"{label} is missing"):
        return False
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        checker.expect(False, f"{label}: zipfile cannot open it: {error}")
        return False
    with archive:
        infos = archive.infolist()
        listed = [info.filename for info in infos]
        checker.expect(listed == names, f"{label}: entries {listed[:5]}... ({len(listed)}), "
                                        f"expected {names[:5]}... ({len(names)})")
        for info in infos:
            where = f"{label}: {info.filename}"
            checker.expect(info.compress_type == zipfile.ZIP_STORED, f"{where}: method {info.compress_type}")
            checker.expect(info.flag_bits & 0x1 == 0, f"{where}: encrypted")
            checker.expect(info.flag_bits & 0x800 != 0, f"{where}: UTF-8 flag not set")
            checker.expect(not info.is_dir(), f"{where}: a directory entry")
            if date_time is not None:
                checker.expect(list(info.date_time) == date_time, f"{where}: date {info.date_time} != {date_time}")
        bad = archive.testzip()
        checker.expect(bad is None, f"{label}: testzip found a bad CRC-32 in {bad}")
        present = set(listed)
        for name, want in (contents or {}).items():
            if name not in present:
                continue
            if isinstance(want, bytes):
                got = archive.read(name)
                checker.expect(got == want, f"{label}: {name}: {len(got)} bytes differ from the {len(want)} expected")
            else:
                size, crc = want
                info = archive.getinfo(name)
                checker.expect(info.file_size == size, f"{label}: {name}: size {info.file_size} != {size}")
                checker.expect(entry_crc(archive, name) == crc, f"{label}: {name}: CRC-32 of the bytes read differs")
    if zip64 is not None:
        checker.expect(has_zip64_end(path) == zip64, f"{label}: ZIP64 end record present: {not zip64}, expected {zip64}")
    unzip = shutil.which("unzip")
    if unzip:
        result = subprocess.run([unzip, "-tqq", path], capture_output=True, text=True)
        text = result.stdout + result.stderr
        # unzip warns (status 1) about an archive with no entries, which is what an empty one is.
        empty = not names and result.returncode == 1 and "zipfile is empty" in text
        checker.expect(result.returncode == 0 or empty, f"{label}: unzip -t failed ({result.returncode}): {text[-400:]}")
    return True


def check_zips(checker, entries):
    for item in entries:
        contents = {}
        for entry in item["entries"]:
            if "data" in entry:
                contents[entry["name"]] = base64.b64decode(entry["data"])
            elif "size" in entry:
                contents[entry["name"]] = (entry["size"], entry["crc32"])
        check_zip(checker, os.path.join(checker.root, item["file"]), [e["name"] for e in item["entries"]],
                  item.get("date_time"), item.get("zip64"), contents)


def check_coco(checker, path, frames, width, height):
    label = os.path.relpath(path, checker.root)
    if not checker.expect(os.path.exists(path), f"{label} is missing"):
        return
    with open(path) as handle:
        dataset = json.load(handle)
    checker.expect(set(dataset.keys()) == {"images", "annotations", "categories"}, f"{label}: keys {list(dataset.keys())}")
    coco = COCO(path)
    checker.expect(sorted(coco.getCatIds()) == [1], f"{label}: categories {coco.getCatIds()}")
    images = dataset["images"]
    checker.expect(len(images) == len(frames) == len(coco.imgs), f"{label}: {len(images)} images, {len(frames)} frames")
    annotation_ids = [a["id"] for a in dataset["annotations"]]
    checker.expect(len(set(annotation_ids)) == len(annotation_ids), f"{label}: repeated annotation ids")
    checker.expect(len(dataset["annotations"]) == sum(len(f["objects"]) for f in frames),
                   f"{label}: {len(dataset['annotations'])} annotations")
    for frame in frames:
        image_id = frame["frame"] + 1
        name = f"{label} frame {frame['frame']}"
        if not checker.expect(image_id in coco.imgs, f"{name}: no image {image_id}"):
            continue
        image = coco.imgs[image_id]
        want = {"id": image_id, "file_name": co.frame_name(frame["frame"]) + ".jpg", "width": width,
                "height": height, "frame_index": frame["frame"]}
        checker.expect(image == want, f"{name}: image {image} != {want}")
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        by_track = {a["track_id"]: a for a in annotations}
        checker.expect(len(by_track) == len(annotations) == len(frame["objects"]),
                       f"{name}: {len(annotations)} annotations for {len(frame['objects'])} objects")
        for obj in frame["objects"]:
            where = f"{name} object {obj['id']}"
            ann = by_track.get(obj["id"])
            if not checker.expect(ann is not None, f"{where}: no annotation with this track_id"):
                continue
            checker.expect(list(ann.keys()) == ["id", "image_id", "category_id", "segmentation", "area", "bbox",
                                                "iscrowd", "score", "track_id"], f"{where}: keys {list(ann.keys())}")
            checker.expect(ann["category_id"] == 1 and ann["iscrowd"] == 0, f"{where}: category or iscrowd")
            checker.expect(np.float32(ann["score"]) == np.float32(obj["score"]), f"{where}: score {ann['score']}")
            truth = co.expected_mask(obj, height, width)
            segmentation = ann["segmentation"]
            checker.expect(segmentation["size"] == [height, width], f"{where}: size {segmentation['size']}")
            checker.expect(isinstance(segmentation["counts"], str), f"{where}: counts is not compressed RLE")
            for how, decoded in (("annToMask", coco.annToMask(ann)), ("mask.decode", mask_api.decode(segmentation))):
                if checker.expect(decoded.shape == truth.shape, f"{where}: {how} shape {decoded.shape}"):
                    differ = int((decoded != truth).sum())
                    checker.expect(differ == 0, f"{where}: {how} differs in {differ} pixels")
            reference = mask_api.encode(np.asfortranarray(truth))
            checker.expect(reference["counts"].decode("ascii") == segmentation["counts"],
                           f"{where}: counts differ from pycocotools.mask.encode")
            checker.expect(ann["area"] == int(mask_api.area(reference)) == int(truth.sum()), f"{where}: area {ann['area']}")
            checker.expect(ann["bbox"] == [int(v) for v in mask_api.toBbox(reference)], f"{where}: bbox {ann['bbox']}")


def check_mask_zip(checker, path, frames, layout, date_time):
    """The png or palette zip: zip checks with the layout's names, then check_png / check_palette."""
    if layout == "png":
        names = [f"{obj['id']}/{co.frame_name(frame['frame'])}.png" for frame in frames for obj in frame["objects"]]
    else:
        names = [co.frame_name(frame["frame"]) + ".png" for frame in frames]
    if not check_zip(checker, path, names, date_time):
        return
    # Extracted beside the zip, so that failures name `<zip>.extracted/<entry>`.
    extracted = path + ".extracted"
    shutil.rmtree(extracted, ignore_errors=True)
    try:
        with zipfile.ZipFile(path) as archive:
            archive.extractall(extracted)
        if layout == "png":
            co.check_png(checker, extracted, frames)
        else:
            co.check_palette(checker, extracted, frames)
    finally:
        shutil.rmtree(extracted)


def main(argv):
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    root = argv[1]
    try:
        with open(os.path.join(root, "expected.json")) as handle:
            expected = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"check_exports: cannot read {root}/expected.json: {error}", file=sys.stderr)
        return 2
    checker = co.Checker(root)
    check_zips(checker, expected.get("zips", []))
    exports = expected.get("exports")
    if exports:
        frames, width, height = exports["frames"], exports["width"], exports["height"]
        for frame in frames:
            frame.setdefault("width", width)
            frame.setdefault("height", height)
        if "jsonl" in exports:
            # check_rle reads DIR/masks.jsonl: give it the export under that name.
            folder = tempfile.mkdtemp(prefix="check_exports-")
            try:
                shutil.copy(os.path.join(root, exports["jsonl"]), os.path.join(folder, "masks.jsonl"))
                co.check_rle(checker, folder, frames)
            finally:
                shutil.rmtree(folder)
        if "coco" in exports:
            check_coco(checker, os.path.join(root, exports["coco"]), frames, width, height)
        for layout in ("png", "palette"):
            if layout in exports:
                check_mask_zip(checker, os.path.join(root, exports[layout]), frames, layout, exports.get("date_time"))
    if checker.checks == 0:
        print("check_exports: nothing was checked", file=sys.stderr)
        return 1
    for failure in checker.failures:
        print("FAIL:", failure)
    print(f"check_exports: {checker.checks - len(checker.failures)}/{checker.checks} checks passed "
          f"(zipfile, unzip: {'yes' if shutil.which('unzip') else 'not installed'}, pycocotools, Pillow)")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
