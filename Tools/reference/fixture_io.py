"""Small helpers shared by the reference scripts: a safetensors writer (float32 only) and
manifest upkeep. Written here so the scripts need nothing beyond torch and numpy."""
import hashlib
import json
import os
import struct

import numpy as np


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array-like} as float32 little-endian safetensors with string metadata."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        value = tensors[name]
        if hasattr(value, "detach"):
            value = value.detach().cpu().float().contiguous().numpy()
        array = np.ascontiguousarray(np.asarray(value, dtype="<f4"))
        blob = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)  # keep tensor data 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def update_manifest(fixtures_root, paths):
    """Rewrites the lines of Fixtures/MANIFEST.sha256 for `paths` (relative to fixtures_root)."""
    manifest = os.path.join(fixtures_root, "MANIFEST.sha256")
    entries = {}
    if os.path.exists(manifest):
        for line in open(manifest):
            parts = line.strip().split("  ", 1)
            if len(parts) == 2:
                entries[parts[1]] = parts[0]
    for rel in paths:
        with open(os.path.join(fixtures_root, rel), "rb") as f:
            entries[rel] = hashlib.sha256(f.read()).hexdigest()
    with open(manifest + ".tmp", "w") as f:
        for rel in sorted(entries):
            f.write(f"{entries[rel]}  {rel}\n")
    os.replace(manifest + ".tmp", manifest)
