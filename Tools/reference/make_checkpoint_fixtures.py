#!/usr/bin/env python3
"""Writes the tiny PyTorch / safetensors fixtures that Tests/CheckpointTests read.

Regenerate (from the repository root):

    /work/venv/bin/python Tools/reference/make_checkpoint_fixtures.py

Every `.pt` file is written by `torch.save` itself (seed fixed below), so the Swift reader is
tested against what PyTorch really emits. For each loadable checkpoint `<name>.pt` the script
also writes `<name>.expected.safetensors`: the same keys, values computed by torch as
`t.detach().float().contiguous()` and stored as little-endian float32 by the small safetensors
writer below (no dependency on the `safetensors` package).

Some fixtures are deliberately damaged or unusual; they are built by re-packing the zip entries of
a valid checkpoint with the small zip writer below (ZIP64 records, misaligned data, a deflated
entry, a missing or shortened storage, a big-endian byte-order record).

Outputs: Fixtures/checkpoint/*.pt, *.safetensors, README.md, and the `checkpoint/` lines of
Fixtures/MANIFEST.sha256 (lines for other folders are kept as they are).
"""

import argparse
import collections
import hashlib
import io
import json
import os
import re
import struct
import zipfile
import zlib

import torch

SEED = 20250101
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Fixtures", "checkpoint")


# ----------------------------------------------------------------------------------------------
# safetensors writer (format: u64 LE header length, JSON header, raw little-endian data)

SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensor_bytes(t):
    """Raw little-endian bytes of a contiguous copy of `t` (any of the three float dtypes)."""
    t = t.detach().contiguous()
    if t.dtype == torch.float32:
        return t.view(torch.int32).numpy().astype("<i4").tobytes()
    return t.view(torch.int16).numpy().astype("<i2").tobytes()


def write_safetensors(path, tensors, metadata):
    """Writes `tensors` (ordered name -> tensor) as they are (F32, F16 or BF16)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_expected(name, tensors):
    """`<name>.expected.safetensors`: float32, contiguous values as torch computes them."""
    values = collections.OrderedDict((k, t.detach().float().contiguous()) for k, t in tensors.items())
    write_safetensors(os.path.join(OUT, name + ".expected.safetensors"), values,
                      {"source": name + ".pt", "seed": SEED, "torch": torch.__version__})


# ----------------------------------------------------------------------------------------------
# zip re-packer (STORED or DEFLATED entries, optional ZIP64 everywhere, chosen data alignment)

def read_entries(path):
    with zipfile.ZipFile(path) as z:
        return [(info.filename, z.read(info.filename)) for info in z.infolist()]


def write_zip(path, entries, zip64=False, deflate=False, data_alignment=64, data_phase=0):
    """Writes `entries` [(name, bytes)]. Each entry's data starts at an offset that is
    `data_phase` modulo `data_alignment` (padding goes into a local extra field, as torch does)."""
    out = bytearray()
    central = []
    for name, data in entries:
        raw_name = name.encode()
        crc = zlib.crc32(data)
        if deflate:
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            payload, method = compressor.compress(data) + compressor.flush(), 8
        else:
            payload, method = data, 0
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(payload)) if zip64 else b""
        unpadded = offset + 30 + len(raw_name) + len(extra) + 4
        pad = (data_phase - unpadded) % data_alignment
        extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        version = 45 if zip64 else 20
        size32 = 0xFFFFFFFF if zip64 else len(payload)
        usize32 = 0xFFFFFFFF if zip64 else len(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, version, 0x0800, method, 0, 0x21, crc,
                           size32, usize32, len(raw_name), len(extra))
        out += raw_name + extra + payload
        central.append((raw_name, crc, method, len(payload), len(data), offset, version))
    cd_offset = len(out)
    for raw_name, crc, method, csize, usize, offset, version in central:
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, usize, csize, offset)
            csize32 = usize32 = offset32 = 0xFFFFFFFF
        else:
            extra, csize32, usize32, offset32 = b"", csize, usize, offset
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0x0800, method, 0,
                           0x21, crc, csize32, usize32, len(raw_name), len(extra), 0, 0, 0, 0,
                           offset32)
        out += raw_name + extra
    cd_size = len(out) - cd_offset
    count = len(central)
    if zip64:
        record = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size,
                           cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, record, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                           0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_offset, 0)
    with open(path, "wb") as f:
        f.write(out)


def assert_same(loaded, expected):
    assert list(loaded.keys()) == list(expected.keys()), (loaded.keys(), expected.keys())
    for k in expected:
        assert torch.equal(loaded[k].float(), expected[k].float()) or (
            torch.isnan(expected[k].float()).any()), k


# ----------------------------------------------------------------------------------------------
# fixtures

def save(name, obj, **kwargs):
    path = os.path.join(OUT, name + ".pt")
    torch.save(obj, path, **kwargs)
    return path


def official():
    """(a) `{"model": OrderedDict}` of float32 tensors of ranks 0 to 4, one empty, one with
    special values (-0, inf, nan, subnormal)."""
    sd = collections.OrderedDict()
    sd["image_encoder.trunk.pos_embed"] = torch.randn(1, 8, 3, 3)
    sd["image_encoder.trunk.patch_embed.proj.weight"] = torch.randn(8, 3, 3, 3)
    sd["image_encoder.trunk.patch_embed.proj.bias"] = torch.randn(8)
    sd["no_mem_embed"] = torch.randn(1, 1, 8)
    sd["memory_attention.layers.0.self_attn.q_proj.weight"] = torch.randn(8, 8)
    sd["sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] = torch.randn(2, 4)
    sd["test.scalar"] = torch.tensor(0.75)
    sd["test.empty"] = torch.empty(0, 4)
    sd["test.specials"] = torch.tensor([-0.0, float("inf"), float("-inf"), float("nan"), 1e-40,
                                        -3.4028235e38, 1.0, -1.5])
    save("official", {"model": sd})
    write_expected("official", sd)
    # (f) the same tensors as safetensors
    write_safetensors(os.path.join(OUT, "official.safetensors"), sd, {"format": "pt"})
    # the same checkpoint pickled with protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL)
    save("protocol4", {"model": sd}, pickle_protocol=4)
    entries = read_entries(os.path.join(OUT, "official.pt"))
    storage_of = {}  # storage entry of each tensor (tensors have distinct storages, in order)
    for index, key in enumerate(sd):
        storage_of[key] = index
    top = entries[0][0].split("/")[0]

    # ZIP64 records everywhere and data deliberately 2 bytes off 4-byte alignment (copy path)
    zpath = os.path.join(OUT, "zip64_unaligned.pt")
    write_zip(zpath, entries, zip64=True, data_phase=2)
    assert_same(torch.load(zpath, weights_only=True)["model"], sd)

    # every entry deflated: torch never writes this; the reader must refuse it clearly
    write_zip(os.path.join(OUT, "deflated.pt"), entries, deflate=True)

    # storage of "image_encoder.trunk.patch_embed.proj.bias" (key 2) missing
    missing = f"{top}/data/{storage_of['image_encoder.trunk.patch_embed.proj.bias']}"
    write_zip(os.path.join(OUT, "missing_storage.pt"), [e for e in entries if e[0] != missing])

    # storage of "memory_attention.layers.0.self_attn.q_proj.weight" (key 4) cut to half
    short = f"{top}/data/{storage_of['memory_attention.layers.0.self_attn.q_proj.weight']}"
    write_zip(os.path.join(OUT, "short_storage.pt"),
              [(n, d[: len(d) // 2] if n == short else d) for n, d in entries])

    # byte order record says big-endian
    write_zip(os.path.join(OUT, "bigendian.pt"),
              [(n, b"big" if n.endswith("/byteorder") else d) for n, d in entries])

    # legacy (pre-1.6, non-zip) serialization; its storage keys are memory addresses, replaced
    # by fixed digits of the same length so that the file is reproducible
    lpath = save("legacy", {"model": collections.OrderedDict(w=torch.randn(2))},
                 _use_new_zipfile_serialization=False)
    with open(lpath, "rb") as f:
        data = f.read()
    for i, key in enumerate(sorted(set(re.findall(rb"X(?:.)\x00\x00\x00([0-9]{6,})", data)))):
        data = data.replace(key, str(i + 1).encode() * len(key))
    with open(lpath, "wb") as f:
        f.write(data)


def noncontiguous():
    """(b) views saved without `.contiguous()`: transposed, sliced with a storage offset,
    strided, permuted, expanded (stride 0), and two views sharing one storage."""
    base = torch.randn(4, 6)
    shared = torch.randn(30)
    sd = collections.OrderedDict()
    sd["transposed"] = base.t()
    sd["sliced"] = base[1:3, 2:5]
    sd["stepped"] = base[:, ::2]
    sd["permuted"] = torch.randn(2, 3, 4, 5).permute(0, 2, 3, 1)
    sd["expanded"] = torch.randn(3, 1).expand(3, 4)
    sd["shared_a"] = shared[:12].view(3, 4)
    sd["shared_b"] = shared[10:28].view(2, 9)
    sd["shared_c"] = shared[5:25:2]
    sd["contiguous_offset"] = shared[3:9]
    for key, t in sd.items():
        if key not in ("contiguous_offset", "shared_a"):
            assert not t.is_contiguous() or t.storage_offset() > 0, key
    save("noncontiguous", sd)
    write_expected("noncontiguous", sd)


def halfprecision():
    """(c) float16 and bfloat16 tensors, one non-contiguous, with special values."""
    sd = collections.OrderedDict()
    sd["half.weight"] = torch.randn(3, 5).half()
    sd["half.transposed"] = torch.randn(4, 3).half().t()
    sd["half.specials"] = torch.tensor([0.0, -0.0, 65504.0, -65504.0, 6e-8, -6.1e-5, 1e-5,
                                        float("inf"), float("-inf"), 1.0 / 3.0]).half()
    sd["bfloat.weight"] = torch.randn(2, 7).bfloat16()
    sd["bfloat.sliced"] = torch.randn(5, 4).bfloat16()[1:, 1:3]
    sd["bfloat.specials"] = torch.tensor([0.0, -0.0, 3.0e38, -1e-38, 1e-40, float("inf"),
                                          float("-inf"), 1.0 / 3.0]).bfloat16()
    save("halfprecision", sd)
    write_expected("halfprecision", sd)
    write_safetensors(os.path.join(OUT, "halfprecision.safetensors"), sd, {"format": "pt"})


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.norm = torch.nn.LayerNorm(4)
        self.head = torch.nn.Linear(4, 2)


def module_state_dict():
    """(d) an nn.Module's state_dict, saved as it is (OrderedDict with `_metadata`)."""
    sd = TinyNet().state_dict()
    save("module_state_dict", sd)
    write_expected("module_state_dict", sd)


def nested():
    """Nested dicts without a "model" key (flattened with dots); lists, tuples, int keys,
    large and negative ints, floats, booleans and None around the tensors."""
    w, b, l0, l1 = torch.randn(2, 3), torch.randn(2), torch.randn(3), torch.randn(1, 2)
    obj = {
        "encoder": {"weight": w, "bias": b},
        "decoder": {"layers": [l0, {"proj": l1}], "blocks": {0: l0 * 2}},
        "step": 123456789012,
        "offset": -5,
        "lr": 0.125,
        "flags": (True, False, None),
        "name": "tiny \u00e9",
        "big": 2**70,
    }
    save("nested", obj)
    expected = collections.OrderedDict()
    expected["encoder.weight"] = w
    expected["encoder.bias"] = b
    expected["decoder.layers.0"] = l0
    expected["decoder.layers.1.proj"] = l1
    expected["decoder.blocks.0"] = l0 * 2
    write_expected("nested", expected)


def parameters():
    """nn.Parameter (with and without Python attributes) and a tensor with an attribute:
    `_rebuild_parameter`, `_rebuild_parameter_with_state`, `_rebuild_from_type_v2`."""
    p = torch.nn.Parameter(torch.randn(3))
    q = torch.nn.Parameter(torch.randn(2, 2))
    q.note = "has state"
    t = torch.randn(4)
    t.tag = 1
    sd = collections.OrderedDict(param=p, param_with_state=q, tensor_with_attr=t)
    save("parameters", {"model": sd})
    write_expected("parameters", sd)


def unsupported():
    """(e) an int64 tensor, and a checkpoint holding an object of a class the reader refuses."""
    save("int64", {"model": collections.OrderedDict(weight=torch.randn(2),
                                                    position_ids=torch.arange(4))})
    save("foreign_object", {"model": {"weight": torch.randn(2)},
                            "args": argparse.Namespace(lr=0.1)})


# ----------------------------------------------------------------------------------------------

def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_readme_and_manifest():
    names = sorted(n for n in os.listdir(OUT) if n != "README.md")
    lines = [f"{sha256(os.path.join(OUT, n))}  checkpoint/{n}" for n in names]
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in names)
    readme = f"""# Checkpoint reader fixtures

Tiny PyTorch checkpoints (written by `torch.save`) and safetensors files read by
`Tests/CheckpointTests`. Regenerate from the repository root with

    /work/venv/bin/python Tools/reference/make_checkpoint_fixtures.py

Seed `torch.manual_seed({SEED})`, torch {torch.__version__}. Total size {total} bytes.

| file | content |
| --- | --- |
| official.pt | `{{"model": OrderedDict}}` of float32 tensors, ranks 0 to 4, an empty tensor, special values |
| official.safetensors | the same tensors as safetensors (F32) |
| protocol4.pt | official.pt's tensors pickled with protocol 4 |
| zip64_unaligned.pt | official.pt re-packed with ZIP64 records and data 2 bytes off 4-byte alignment |
| noncontiguous.pt | plain dict of views: transposed, sliced with offset, strided, permuted, expanded, shared storage |
| halfprecision.pt / .safetensors | float16 and bfloat16 tensors (one of each non-contiguous in the .pt) |
| module_state_dict.pt | `state_dict()` of Conv2d + LayerNorm + Linear (OrderedDict with `_metadata`) |
| nested.pt | nested dicts, lists and int keys with non-tensor leaves, no "model" key |
| parameters.pt | nn.Parameter with and without Python state, tensor with a Python attribute |
| *.expected.safetensors | for each loadable .pt: the same keys as float32, `t.float().contiguous()` by torch |
| int64.pt | has int64 tensor `position_ids` (unsupported dtype) |
| foreign_object.pt | has an `argparse.Namespace` (unsupported global) |
| deflated.pt | official.pt re-packed with deflated entries |
| missing_storage.pt | official.pt without the storage of `image_encoder.trunk.patch_embed.proj.bias` |
| short_storage.pt | official.pt with the storage of `memory_attention.layers.0.self_attn.q_proj.weight` cut to half |
| bigendian.pt | official.pt with byteorder `big` |
| legacy.pt | pre-1.6 (non-zip) torch serialization |

## SHA-256

```
""" + "\n".join(lines) + "\n```\n"
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(readme)

    manifest = os.path.join(ROOT, "Fixtures", "MANIFEST.sha256")
    kept = []
    if os.path.exists(manifest):
        with open(manifest) as f:
            kept = [l for l in f.read().splitlines()
                    if l.strip() and not l.split("  ", 1)[-1].startswith("checkpoint/")]
    merged = sorted(kept + lines, key=lambda l: l.split("  ", 1)[-1])
    with open(manifest, "w") as f:
        f.write("\n".join(merged) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith((".pt", ".safetensors")):
            os.remove(os.path.join(OUT, name))
    torch.manual_seed(SEED)
    official()
    noncontiguous()
    halfprecision()
    module_state_dict()
    nested()
    parameters()
    unsupported()
    write_readme_and_manifest()


if __name__ == "__main__":
    main()
