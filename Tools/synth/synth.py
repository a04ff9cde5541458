#!/usr/bin/env python3
"""Synthetic multi-object video clips with exact ground-truth masks, for training and evaluating samtrack.

Each clip shows 1..3 tracked objects (plus, sometimes, an untracked distractor): ellipses, polygons,
stars and smooth random blobs with solid, striped, checkered, noisy, gradient or photo textures that
move with the object. Objects translate, rotate, scale and deform, occlude one another (fixed z-order)
and sometimes leave the frame completely and come back, over noise, gradient or real-photo backgrounds
(crops of frames of ../shared/fixtures/{bedroom,cups}.mp4) that may pan slowly, with mild sensor noise.

Module use (in memory, no files):
    from synth import generate_clip, write_clip
    clip = generate_clip(seed=7, num_frames=8, size=(256, 256), difficulty="train")
Command line (files: video.mp4, gt/NNNNN.png DAVIS palette PNGs, prompts.json):
    python Tools/synth/synth.py --out DIR --seed 900000 --clips 20 --frames 48 --size 256x256
    python Tools/synth/synth.py --check
Only numpy, Pillow and the ffmpeg CLI are used. One np.random.default_rng(seed) drives everything, so a
seed gives byte-identical frames and masks on every run (given the same fixture videos and ffmpeg build;
without the fixtures, real-photo backgrounds are replaced by noise ones and clips differ).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures"
REAL_VIDEOS = ("bedroom.mp4", "cups.mp4")
REAL_FRAMES_PER_VIDEO = 8
REAL_HEIGHT = 540
CACHE_VERSION = 1

EVAL_SEEDS = range(900000, 900020)  # the held-out evaluation clips
MIN_VISIBLE_FRAC = 0.015  # frame-0 visible area of every tracked object, fraction of the frame
AREA_RANGE = (0.06, 0.25)  # amodal object area on frame 0, fraction of the frame
OCCLUSION_TARGET = 0.30  # eval: some object loses more than this fraction to an occluder
EXIT_RUN = (3, 10)  # fully out of frame for this many consecutive frames, then back
MAX_ATTEMPTS = 60
# difficulty "wide" (training only): "train" plus more of everything (see generate_clip)
WIDE_AREA_RANGE = (0.01, 0.5)
WIDE_MIN_VISIBLE_FRAC = 0.006
# difficulty "camo" (the fine-tuning domain of Tools/eval/finetune_gain.sh, never in the default
# model's training): "eval" scenes whose objects all take the background's mean colour, a little off
CAMO_OFFSET = (8.0, 20.0)  # length of the colour offset from the background's mean (0-255 RGB)
LOOKALIKE_OFFSET = 12.0  # "lookalike": object 2's colour is object 1's moved by at most this per channel
CAMO_SEEDS = range(5_900_000, 5_900_020)  # its held-out clips; fine-tuning clips come from 5_000_000 on
# difficulty "halo" (a second fine-tuning domain, never in the default model's training): "eval" scenes
# whose objects wear a dark rim (their own colour at 30-55%) 3-6 px wide that the ground truth leaves
# out, as an annotation convention that differs from what the default model calls the object
HALO_WIDTH = (3, 6)
HALO_SEEDS = range(5_950_000, 5_950_020)  # its held-out clips; fine-tuning clips come from 5_050_000 on


@dataclass
class Clip:
    """One generated clip: frames, per-pixel object ids, frame-0 prompts and a few facts about it."""

    frames: np.ndarray  # uint8 [T, H, W, 3] RGB
    masks: np.ndarray  # uint8 [T, H, W]; 0 background (and untracked distractors), 1..K object id
    num_objects: int
    prompts: dict  # {obj_id: {"box": [x0, y0, x1, y1], "points": [[x, y], ...], "labels": [1, ...]}}
    events: dict  # see _events()
    seed: int = 0
    difficulty: str = "eval"


# ----------------------------------------------------------------------------------------------------
# Real frames (decoded once with the ffmpeg CLI, cached as .npy)

_MEMO: dict = {}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "samtrack-synth"


def _atomic_write(path: Path, write, suffix: str = ".tmp") -> None:
    """Calls write(tmp_path) on a temporary file beside `path`, then renames it over `path`; the
    temporary file is removed if anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _decode_frames(path: Path) -> np.ndarray | None:
    """Decodes REAL_FRAMES_PER_VIDEO evenly spaced frames of `path`, scaled to REAL_HEIGHT rows."""
    try:
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=width,height,nb_frames", "-of", "json", str(path)],
            check=True, capture_output=True, text=True).stdout
        st = json.loads(probe)["streams"][0]
        w, h = int(st["width"]), int(st["height"])
        n = int(st.get("nb_frames") or 0) or 200
        ow = max(2, int(round(w * REAL_HEIGHT / h / 2)) * 2)
        stride = max(1, n // REAL_FRAMES_PER_VIDEO)
        raw = subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
             "-vf", f"select='not(mod(n\\,{stride}))',scale={ow}:{REAL_HEIGHT}:flags=area",
             "-vsync", "0", "-frames:v", str(REAL_FRAMES_PER_VIDEO),
             "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
            check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError, KeyError, ValueError, IndexError):
        return None
    fsize = ow * REAL_HEIGHT * 3
    count = len(raw) // fsize
    if count == 0:
        return None
    return np.frombuffer(raw[: count * fsize], np.uint8).reshape(count, REAL_HEIGHT, ow, 3).copy()


def real_frames() -> list[tuple[str, np.ndarray]]:
    """Returns [(video stem, uint8 [h, w, 3] frame), ...] from the fixture videos, decoded once and cached
    under ${XDG_CACHE_HOME:-~/.cache}/samtrack-synth/ (keyed by file size and mtime); [] if unavailable."""
    if "frames" in _MEMO:
        return _MEMO["frames"]
    out: list[tuple[str, np.ndarray]] = []
    for name in REAL_VIDEOS:
        path = FIXTURES / name
        try:
            st = path.stat()
        except OSError:
            continue
        key = (f"{path.stem}-{st.st_size}-{st.st_mtime_ns}-v{CACHE_VERSION}"
               f"-{REAL_FRAMES_PER_VIDEO}x{REAL_HEIGHT}.npy")
        cache = _cache_dir() / key
        arr = None
        if cache.is_file():
            try:
                arr = np.load(cache)
            except (OSError, ValueError):
                arr = None
        if arr is None:
            arr = _decode_frames(path)
            if arr is None:
                continue
            buf = io.BytesIO()
            np.save(buf, arr)
            try:
                _atomic_write_bytes(cache, buf.getvalue())
            except OSError:
                pass  # read-only cache: decode again next time
        out.extend((path.stem, f) for f in arr)
    if not out:
        print(f"synth: warning: no fixture videos under {FIXTURES}; using noise backgrounds instead of "
              "real-photo crops (clips differ from machines that have them)", file=sys.stderr)
    _MEMO["frames"] = out
    return out


# ----------------------------------------------------------------------------------------------------
# Noise, colours, backgrounds, textures

def _smooth_noise(rng, h: int, w: int, cell: float, channels: int = 1) -> np.ndarray:
    """Value noise in [0, 1], float32 [h, w, channels], features about `cell` pixels wide."""
    gh = max(2, int(math.ceil(h / cell)) + 1)
    gw = max(2, int(math.ceil(w / cell)) + 1)
    grid = rng.integers(0, 256, (gh, gw, channels), dtype=np.uint8)
    layers = []
    for c in range(channels):
        im = Image.fromarray(grid[:, :, c]).resize((w, h), Image.Resampling.BICUBIC)
        layers.append(np.asarray(im, np.float32))
    return np.stack(layers, axis=-1) * (1.0 / 255.0)


def _fractal_noise(rng, h: int, w: int, cell: float, octaves: int, channels: int = 1) -> np.ndarray:
    acc = np.zeros((h, w, channels), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        acc += amp * _smooth_noise(rng, h, w, max(cell, 1.5), channels)
        total += amp
        amp *= 0.5
        cell /= 2.0
    acc /= total
    lo, hi = float(acc.min()), float(acc.max())
    return (acc - lo) / max(hi - lo, 1e-6)


def _hsv_colour(rng, s_range=(0.25, 1.0), v_range=(0.25, 1.0)) -> np.ndarray:
    h = rng.random()
    s = rng.uniform(*s_range)
    v = rng.uniform(*v_range)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, np.float32) * 255.0


def _background(rng, H: int, W: int, T: int, difficulty: str):
    """Returns (canvas uint8 [Hc, Wc, 3], per-frame (y, x) crop offsets int [T, 2], kind string)."""
    train = difficulty in ("train", "wide")
    reals = real_frames()
    kinds, probs = ["noise", "gradient", "real"], [0.3, 0.25, 0.45]
    if not reals:
        kinds, probs = ["noise", "gradient"], [0.55, 0.45]
    if difficulty == "wide":  # also flat colours and printed patterns
        kinds, probs = kinds + ["flat", "pattern"], [p * 0.75 for p in probs] + [0.1, 0.15]
    kind = kinds[rng.choice(len(kinds), p=probs)]
    # slow camera pan (integer offsets into a larger canvas)
    if rng.random() < 0.4:
        vel = np.zeros(2)
    else:
        ang = rng.uniform(0, 2 * math.pi)
        vel = rng.uniform(0.2, 2.0 if train else 1.2) * np.array([math.sin(ang), math.cos(ang)])
    path = np.arange(T)[:, None] * vel[None, :]
    offs = np.round(path - path.min(axis=0)).astype(np.int64)
    Hc, Wc = H + int(offs[:, 0].max()), W + int(offs[:, 1].max())

    if kind == "real":
        name, frame = reals[int(rng.integers(len(reals)))]
        fh, fw = frame.shape[:2]
        ch = rng.uniform(0.3, 1.0) * fh
        ch = min(max(ch, Hc * 0.5), fh)
        cw = ch * Wc / Hc
        if cw > fw:
            cw = fw
            ch = cw * Hc / Wc
        y0 = rng.uniform(0, fh - ch)
        x0 = rng.uniform(0, fw - cw)
        im = Image.fromarray(frame).resize((Wc, Hc), Image.Resampling.BILINEAR,
                                           box=(x0, y0, x0 + cw, y0 + ch))
        canvas = np.asarray(im, np.float32)
        if rng.random() < 0.5:
            canvas = canvas[:, ::-1]
        if rng.random() < 0.2:
            canvas = canvas[::-1]
        gain = rng.uniform(0.8, 1.2) * rng.uniform(0.9, 1.1, 3)
        canvas = canvas * gain + rng.uniform(-15, 15)
        kind = "real:" + name
    elif kind == "noise":
        n = _fractal_noise(rng, Hc, Wc, rng.uniform(12, 90), int(rng.integers(2, 5)))
        c1, c2 = _hsv_colour(rng), _hsv_colour(rng)
        tint = _smooth_noise(rng, Hc, Wc, rng.uniform(40, 160), 3) - 0.5
        canvas = c1 + (c2 - c1) * n + tint * rng.uniform(0, 90)
    elif kind == "flat":
        canvas = np.broadcast_to(_hsv_colour(rng, (0.0, 1.0), (0.1, 1.0)), (Hc, Wc, 3)).astype(np.float32)
        canvas = canvas + (_smooth_noise(rng, Hc, Wc, rng.uniform(30, 120)) - 0.5) * rng.uniform(0, 12)
    elif kind == "pattern":  # the object textures, printed over the whole background
        side = max(Hc, Wc)
        tex, sub = _texture(rng, side, side / 2, _hsv_colour(rng), True, wide=True)
        canvas = tex[:Hc, :Wc].astype(np.float32)
        kind = "pattern:" + sub
    else:
        yy, xx = np.mgrid[0:Hc, 0:Wc].astype(np.float32)
        cols = [_hsv_colour(rng) for _ in range(3)]
        if rng.random() < 0.6:
            a = rng.uniform(0, 2 * math.pi)
            t = xx * math.cos(a) + yy * math.sin(a)
        else:
            cy, cx = rng.uniform(0, Hc), rng.uniform(0, Wc)
            t = np.hypot(yy - cy, xx - cx)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        t = t[:, :, None]
        if rng.random() < 0.5:
            canvas = cols[0] + (cols[1] - cols[0]) * t
        else:
            canvas = np.where(t < 0.5, cols[0] + (cols[1] - cols[0]) * (2 * t),
                              cols[1] + (cols[2] - cols[1]) * (2 * t - 1))
        canvas = canvas + (_smooth_noise(rng, Hc, Wc, rng.uniform(20, 80)) - 0.5) * rng.uniform(4, 24)
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(canvas), offs, kind


def _texture(rng, S: int, extent: float, base: np.ndarray, train: bool, wide: bool = False):
    """An object's texture in its own (unrotated, unscaled) frame: uint8 [S, S, 3] plus its kind."""
    kinds = ["solid", "stripes", "checker", "noise", "gradient", "image"]
    probs = np.array([0.15, 0.2, 0.15, 0.2, 0.18, 0.12])
    if wide:  # flat colours more often, and spots
        kinds.append("spots")
        probs = np.array([0.25, 0.14, 0.1, 0.15, 0.14, 0.12, 0.1])
    if not real_frames():
        probs[5] = 0.0
    kind = kinds[rng.choice(len(kinds), p=probs / probs.sum())]
    c1 = base.astype(np.float32)
    if rng.random() < 0.5:
        c2 = _hsv_colour(rng)
    else:  # same hue family, different lightness
        c2 = np.clip(c1 * rng.uniform(0.35, 0.75) + rng.uniform(0, 90), 0, 255).astype(np.float32)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    yy -= S / 2.0
    xx -= S / 2.0
    if kind == "solid":
        tex = np.broadcast_to(c1, (S, S, 3)).astype(np.float32)
    elif kind in ("stripes", "checker"):
        a = rng.uniform(0, math.pi)
        u = xx * math.cos(a) + yy * math.sin(a)
        v = -xx * math.sin(a) + yy * math.cos(a)
        period = rng.uniform(5, 34 if train else 28)
        if kind == "stripes":
            sharp = rng.uniform(1.2, 8.0)
            m = 0.5 + 0.5 * np.clip(np.sin(u * (2 * math.pi / period)) * sharp, -1, 1)
        else:
            m = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
        tex = c1 + (c2 - c1) * m[:, :, None]
    elif kind == "noise":
        n = _fractal_noise(rng, S, S, rng.uniform(3, 24), int(rng.integers(1, 4)))
        tex = c1 + (c2 - c1) * n
        if rng.random() < 0.4:
            tex = tex + (_smooth_noise(rng, S, S, rng.uniform(6, 30), 3) - 0.5) * 80
    elif kind == "gradient":
        if rng.random() < 0.65:
            a = rng.uniform(0, 2 * math.pi)
            t = (xx * math.cos(a) + yy * math.sin(a)) / (2 * extent) + 0.5
        else:
            t = np.hypot(xx - rng.uniform(-0.4, 0.4) * extent, yy - rng.uniform(-0.4, 0.4) * extent) / extent
        tex = c1 + (c2 - c1) * np.clip(t, 0, 1)[:, :, None]
    elif kind == "spots":
        period = rng.uniform(6, 30)
        a = rng.uniform(0, math.pi)
        u = xx * math.cos(a) + yy * math.sin(a)
        v = -xx * math.sin(a) + yy * math.cos(a)
        du = np.mod(u, period) - period / 2
        dv = np.mod(v + (np.floor(u / period) % 2) * period / 2, period) - period / 2
        m = (np.hypot(du, dv) < period * rng.uniform(0.2, 0.4)).astype(np.float32)
        tex = c1 + (c2 - c1) * m[:, :, None]
    else:  # image: a photo crop with its channels permuted so it is not the background's own texture
        name, frame = real_frames()[int(rng.integers(len(real_frames())))]
        fh, fw = frame.shape[:2]
        side = rng.uniform(0.15, 0.6) * fh
        y0, x0 = rng.uniform(0, fh - side), rng.uniform(0, fw - side)
        im = Image.fromarray(frame).resize((S, S), Image.Resampling.BILINEAR,
                                           box=(x0, y0, x0 + side, y0 + side))
        perms = [(1, 2, 0), (2, 0, 1), (2, 1, 0), (0, 2, 1), (1, 0, 2)]
        perm = perms[int(rng.integers(len(perms)))]
        tex = np.asarray(im, np.float32)[:, :, list(perm)] * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
    if rng.random() < (0.3 if wide else 0.5):  # a little 3-D shading
        r2 = (xx * xx + yy * yy) / (extent * extent)
        tex = tex * (1.0 - rng.uniform(0.1, 0.35) * np.clip(r2, 0, 1))[:, :, None]
    tex = tex + rng.standard_normal((S, S, 1), dtype=np.float32) * np.float32(rng.uniform(0, 6))
    return np.clip(tex, 0, 255).astype(np.uint8), kind


def _camo_colour(rng, bg_mean: np.ndarray) -> np.ndarray:
    """The background's mean colour moved by CAMO_OFFSET in a random direction: objects that blend in."""
    direction = rng.normal(0, 1, 3)
    direction /= max(float(np.linalg.norm(direction)), 1e-6)
    return np.clip(bg_mean + direction * rng.uniform(*CAMO_OFFSET), 0, 255)


def _object_colour(rng, bg_mean: np.ndarray, train: bool) -> np.ndarray:
    if rng.random() < (0.3 if train else 0.2):  # low contrast: near the background's mean colour
        return np.clip(bg_mean + rng.normal(0, 30, 3) + rng.choice([-1, 1]) * rng.uniform(15, 45), 0, 255)
    return _hsv_colour(rng, (0.2, 1.0), (0.2, 1.0))


# ----------------------------------------------------------------------------------------------------
# Shapes and motion

SHAPES = ("ellipse", "polygon", "star", "blob")


def _shape(rng, kind: str, T: int, train: bool) -> np.ndarray:
    """Unit-size outline in the object's own frame for every frame (deformation): float [T, N, 2]."""
    t = np.arange(T, dtype=np.float64)[:, None]
    speed = (0.04, 0.3) if train else (0.04, 0.22)
    if kind == "ellipse":
        th = np.linspace(0, 2 * math.pi, 48, endpoint=False)[None, :]
        aspect = rng.uniform(0.4, 1.0) * (1 + rng.uniform(0, 0.2) * np.sin(rng.uniform(*speed) * t
                                                                               + rng.uniform(0, 7)))
        return np.stack(np.broadcast_arrays(np.cos(th), aspect * np.sin(th)), axis=-1)
    if kind == "polygon":
        n = int(rng.integers(3, 9))
        th = (np.arange(n) + rng.uniform(-0.35, 0.35, n)) * (2 * math.pi / n)
        r0 = rng.uniform(0.55, 1.0, n)
        wob = rng.uniform(0, 0.15)
        r = r0[None, :] * (1 + wob * np.sin(rng.uniform(*speed) * t + rng.uniform(0, 7, n)[None, :]))
    elif kind == "star":
        n = int(rng.integers(4, 9))
        th = np.arange(2 * n) * (math.pi / n)
        inner = rng.uniform(0.38, 0.65) * (1 + rng.uniform(0, 0.25) * np.sin(rng.uniform(*speed) * t
                                                                           + rng.uniform(0, 7)))
        r = np.where(np.arange(2 * n)[None, :] % 2 == 0, 1.0, inner)
        r = r * (1 + rng.uniform(-0.08, 0.08, 2 * n))[None, :]
    else:  # blob: radius = smooth periodic function of angle, each harmonic breathing in time
        th = np.linspace(0, 2 * math.pi, 64, endpoint=False)
        r = np.ones((T, th.size))
        for k in range(2, 6):
            amp = rng.uniform(0, 0.3) / math.sqrt(k)
            breathe = 1 + rng.uniform(0.2, 0.7) * np.sin(rng.uniform(*speed) * t + rng.uniform(0, 7))
            drift = rng.uniform(-0.05, 0.05) * t
            r = r + amp * breathe * np.cos(k * th[None, :] + rng.uniform(0, 7) + drift)
        r = np.maximum(r, 0.35)
    th = np.broadcast_to(th, r.shape)
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=-1)


WIDE_SHAPES = SHAPES + ("bar", "ring", "frame", "cross")


def _shape_wide(rng, kind: str, T: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The "wide" difficulty's extra shapes: unit outline [T, N, 2] and hole outline [T, M, 2] (or None).
    bar: thin and elongated (width 6-30% of the length), sometimes bent, the bend flexing in time;
    ring: an ellipse with an elliptical hole; frame: a quadrilateral with a quadrilateral hole;
    cross: a plus, L or T of bars (not convex)."""
    t = np.arange(T, dtype=np.float64)[:, None]
    hole = None
    if kind == "bar":
        n = rng.uniform(2.5, 8.0)  # superellipse exponent: rounded ends to square ones
        th = np.linspace(0, 2 * math.pi, 64, endpoint=False)[None, :]
        c, s_ = np.cos(th), np.sin(th)
        x = np.sign(c) * np.abs(c) ** (2 / n)
        y = rng.uniform(0.06, 0.3) * np.sign(s_) * np.abs(s_) ** (2 / n)
        bend = rng.uniform(-0.35, 0.35) if rng.random() < 0.5 else 0.0
        bend = bend + rng.uniform(0, 0.1) * np.sin(rng.uniform(0.05, 0.3) * t + rng.uniform(0, 7))
        x, y = np.broadcast_arrays(x, y + bend * (x * x - 0.5))
        return np.stack([x, y], axis=-1).astype(np.float64), None
    if kind == "ring":
        th = np.linspace(0, 2 * math.pi, 56, endpoint=False)
        aspect = rng.uniform(0.5, 1.0)
        outer = np.stack([np.cos(th), aspect * np.sin(th)], axis=-1)
        f = rng.uniform(0.35, 0.7)
        off = rng.uniform(-0.12, 0.12, 2) * (1 - f)
        inner = outer * f + off
    elif kind == "frame":
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
        outer = corners * np.array([1.0, rng.uniform(0.4, 1.0)]) + rng.uniform(-0.12, 0.12, (4, 2))
        f = rng.uniform(0.4, 0.75)
        inner = outer * f
    else:  # cross: plus, L or T made of bars of half-width w
        w = rng.uniform(0.15, 0.4)
        form = rng.choice(["plus", "L", "T"])
        if form == "plus":
            outer = np.array([[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1], [-w, 1], [-w, w],
                              [-1, w], [-1, -w], [-w, -w]])
        elif form == "L":
            outer = np.array([[-1, -1], [-1 + 2 * w, -1], [-1 + 2 * w, 1 - 2 * w], [1, 1 - 2 * w], [1, 1], [-1, 1]])
        else:
            outer = np.array([[-1, -1], [1, -1], [1, -1 + 2 * w], [w, -1 + 2 * w], [w, 1], [-w, 1],
                              [-w, -1 + 2 * w], [-1, -1 + 2 * w]])
        outer = outer * np.array([1.0, rng.uniform(0.6, 1.0)])
    outer = np.broadcast_to(outer, (T,) + outer.shape).copy()
    if kind in ("ring", "frame"):
        hole = np.broadcast_to(inner, (T,) + inner.shape).copy()
    return outer, hole


def _poly_area(v: np.ndarray) -> float:
    x, y = v[..., 0], v[..., 1]
    return float(abs(np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1)) / 2)


def _hermite(knots: list[tuple[float, np.ndarray]], T: int) -> np.ndarray:
    """Smooth path through (time, position) knots (times increasing), sampled at frames 0..T-1: [T, 2]."""
    ts = np.array([k[0] for k in knots], np.float64)
    ps = np.array([k[1] for k in knots], np.float64)
    n = len(ts)
    if n == 1:
        return np.repeat(ps[:1], T, axis=0)
    m = np.empty_like(ps)
    m[1:-1] = (ps[2:] - ps[:-2]) / (ts[2:] - ts[:-2])[:, None]
    m[0] = (ps[1] - ps[0]) / (ts[1] - ts[0])
    m[-1] = (ps[-1] - ps[-2]) / (ts[-1] - ts[-2])
    t = np.arange(T, dtype=np.float64)
    k = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, n - 2)
    h = ts[k + 1] - ts[k]
    s = ((t - ts[k]) / h)[:, None]
    s2, s3 = s * s, s * s * s
    return ((2 * s3 - 3 * s2 + 1) * ps[k] + (s3 - 2 * s2 + s) * h[:, None] * m[k]
            + (-2 * s3 + 3 * s2) * ps[k + 1] + (s3 - s2) * h[:, None] * m[k + 1])


def _reflect(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    p = p.copy()
    for i in range(2):
        if hi[i] <= lo[i]:
            p[i] = (lo[i] + hi[i]) / 2
            continue
        span = hi[i] - lo[i]
        x = (p[i] - lo[i]) % (2 * span)
        p[i] = lo[i] + (x if x <= span else 2 * span - x)
    return p


def _walk(rng, t0: float, p0: np.ndarray, heading: float, t_end: float, direction: int,
          speed: float, lo: np.ndarray, hi: np.ndarray, step: tuple[int, int]):
    """Random-walk knots from (t0, p0) forward (direction=1) until t >= t_end, or backward until t <= t_end."""
    knots = []
    t, p = t0, p0
    while (t < t_end) if direction > 0 else (t > t_end):
        dt = int(rng.integers(step[0], step[1] + 1))
        heading += rng.normal(0, 0.7)
        v = speed * rng.uniform(0.7, 1.3)
        # stay within the bounds, or (when outside them) do not move further out
        q = _reflect(p + direction * v * dt * np.array([math.cos(heading), math.sin(heading)]),
                     np.minimum(lo, p), np.maximum(hi, p))
        d = (q - p) * direction
        if np.hypot(*d) > 1e-6:
            heading = math.atan2(d[1], d[0])
        t, p = t + direction * dt, q
        knots.append((float(t), p))
    return knots


def _between(rng, a: tuple[float, np.ndarray], b: tuple[float, np.ndarray], step: tuple[int, int],
             jitter: bool) -> list:
    """Intermediate knots on the way from knot a to knot b, with a little sideways jitter."""
    (ta, pa), (tb, pb) = a, b
    gap = tb - ta
    n = int(gap // ((step[0] + step[1]) / 2)) - 1
    out = []
    if n <= 0:
        return out
    d = pb - pa
    perp = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6)
    for i in range(1, n + 1):
        f = i / (n + 1)
        off = rng.normal(0, 0.12) * np.hypot(*d) / (n + 1) if jitter else 0.0
        out.append((ta + f * gap, pa + f * d + off * perp))
    return out


@dataclass
class _Obj:
    shape: str
    local: np.ndarray  # [T, N, 2] unit outline
    scale: np.ndarray  # [T] multiplies R
    angle: np.ndarray  # [T] radians
    R: float  # pixels per unit
    area_frac: float
    tracked: bool
    speed: float
    z: int = 0
    obj_id: int = 0  # 1..K for tracked objects, 0 for distractors
    center: np.ndarray | None = None  # [T, 2] (x, y)
    p0: np.ndarray | None = None
    verts: np.ndarray | None = None  # [T, N, 2] frame coordinates
    plan: dict = field(default_factory=dict)
    hole: np.ndarray | None = None  # [T, M, 2] unit outline of a hole ("wide" shapes), or None
    hole_verts: np.ndarray | None = None
    colour: np.ndarray | None = None  # the texture's base colour (set when textures are drawn)

    def area(self, t: int) -> float:
        """The shape's area on frame t in pixels (its hole left out)."""
        a = _poly_area(self.verts[t])
        return a - (_poly_area(self.hole_verts[t]) if self.hole is not None else 0.0)

    def radius(self) -> float:
        """Largest distance from the centre to the outline over the clip, in pixels."""
        return float(np.hypot(self.local[..., 0], self.local[..., 1]).max() * self.R * self.scale.max())

    def eq_radius(self) -> float:
        return math.sqrt(self.area_frac / math.pi)


def _make_object(rng, T: int, H: int, W: int, area_frac: float, tracked: bool, train: bool,
                 wide: bool = False) -> _Obj:
    shapes = WIDE_SHAPES if wide else SHAPES
    kind = shapes[int(rng.integers(len(shapes)))]
    hole = None
    if kind in SHAPES:
        local = _shape(rng, kind, T, train)
    else:
        local, hole = _shape_wide(rng, kind, T)
    t = np.arange(T, dtype=np.float64)
    ls = (rng.uniform(0, 0.2) * np.sin(rng.uniform(0.03, 0.2) * t + rng.uniform(0, 7))
          + rng.uniform(-0.25, 0.25) * (t / max(T - 1, 1)))
    scale = np.exp(ls - ls[0])  # scale 1 on frame 0
    spin = rng.uniform(-0.1, 0.1) if train else rng.uniform(-0.06, 0.06)
    angle = (rng.uniform(0, 2 * math.pi) + spin * t
             + rng.uniform(0, 0.3) * np.sin(rng.uniform(0.05, 0.25) * t + rng.uniform(0, 7)))
    unit_area = _poly_area(local[0]) - (_poly_area(hole[0]) if hole is not None else 0.0)
    R = math.sqrt(area_frac * H * W / max(unit_area, 1e-6))
    s = min(H, W) / 256.0
    speed = rng.uniform(1.0, 12.0) * s if train else rng.uniform(1.5, 7.0) * s  # px/frame, x0.7-1.3 per leg
    return _Obj(kind, local, scale, angle, R, area_frac, tracked, speed, hole=hole)


def _vertices(o: _Obj, local: np.ndarray | None = None) -> np.ndarray:
    """Frame coordinates [T, N, 2] of the object's outline (or of another unit outline `local`)."""
    c, s = np.cos(o.angle)[:, None], np.sin(o.angle)[:, None]
    local = o.local if local is None else local
    lx, ly = local[..., 0], local[..., 1]
    k = (o.R * o.scale)[:, None]
    x = o.center[:, 0:1] + k * (c * lx - s * ly)
    y = o.center[:, 1:2] + k * (s * lx + c * ly)
    return np.stack([x, y], axis=-1)


# ----------------------------------------------------------------------------------------------------
# Scene planning

def _plan_exit(rng, o: _Obj, T: int, H: int, W: int, lo, hi, step) -> list | None:
    """Knots that take `o` from its frame-0 spot fully out over a (usually the nearest) edge, keep it out
    for a few frames and bring it back in over the same edge; None if the clip is too short for that."""
    s = min(H, W) / 256.0
    rad = o.radius()
    dists = np.array([o.p0[0], W - o.p0[0], o.p0[1], H - o.p0[1]])  # left, right, top, bottom
    edge = int(np.argsort(dists)[0 if rng.random() < 0.75 else 1])
    d = int(rng.integers(EXIT_RUN[0], EXIT_RUN[1] - 1))  # planned frames outside; leaves slack for [3, 10]
    margin = rad + 2 + rng.uniform(0, 0.15) * rad
    L = H if edge < 2 else W

    def point(along: float, depth: float) -> np.ndarray:
        """A point `depth` pixels outside the edge (negative: inside), at `along` on it."""
        along = float(np.clip(along, 0.15 * L, 0.85 * L))
        if edge == 0:
            return np.array([-depth, along])
        if edge == 1:
            return np.array([W + depth, along])
        if edge == 2:
            return np.array([along, -depth])
        return np.array([along, H + depth])

    base = o.p0[1] if edge < 2 else o.p0[0]
    v0 = rng.uniform(4, 9) * s
    along1 = base + rng.uniform(-0.2, 0.2) * L
    along2 = along1 + rng.uniform(-0.8, 0.8) * v0 * (d - 1)
    out1, out2 = point(along1, margin), point(along2, margin)
    p_in = point(along2 + rng.uniform(-0.15, 0.15) * L, -rng.uniform(0.2, 0.8) * rad)
    for v in np.linspace(v0, max(v0, 12 * s), 5):
        te = max(3, int(math.ceil(np.hypot(*(out1 - o.p0)) / v)))
        db = max(3, int(math.ceil(np.hypot(*(p_in - out2)) / v)))
        if te + d - 1 + db <= T - 3:
            break
    else:
        return None
    t1, t2, tr = te, te + d - 1, te + d - 1 + db
    knots = [(0.0, o.p0)]
    knots += _between(rng, (0.0, o.p0), (float(t1), out1), step, True)
    knots += [(float(t1), out1), (float(t2), out2)]
    knots += _between(rng, (float(t2), out2), (float(tr), p_in), step, True)
    knots.append((float(tr), p_in))
    d_in = p_in - out2
    knots += _walk(rng, float(tr), p_in, math.atan2(d_in[1], d_in[0]), T - 1, 1, o.speed, lo, hi, step)
    o.plan["exit"] = (t1, t2)
    return knots


def _plan_meet(rng, b: _Obj, a: _Obj, T: int, H: int, W: int, lo, hi, step) -> list:
    """Knots that make `b` (in front) pass over `a` at some frame, starting from b's frame-0 spot."""
    t = np.arange(T)
    inside = ((a.center[:, 0] > 0.1 * W) & (a.center[:, 0] < 0.9 * W)
              & (a.center[:, 1] > 0.1 * H) & (a.center[:, 1] < 0.9 * H))
    latest = T - 12 if T >= 30 else T - 2  # leave time to see `a` again afterwards
    ok = inside & (t >= max(1, T // 6)) & (t <= latest)
    if not ok.any():
        ok = t >= 1
    if not ok.any():  # a single frame: nothing can move
        return [(0.0, b.p0), (1.0, b.p0)]
    dist = np.hypot(*(a.center - b.p0[None, :]).T)
    cost = np.abs(dist - b.speed * t) / np.maximum(t, 1)
    cost = np.where(ok, cost, np.inf)
    cand = np.argsort(cost)[:3]
    cand = cand[np.isfinite(cost[cand])]
    tc = int(cand[int(rng.integers(len(cand)))])
    ang = rng.uniform(0, 2 * math.pi)  # mostly partial overlaps, sometimes a full cover
    target = a.center[tc] + rng.uniform(0.1, 0.8) * a.eq_radius() * math.sqrt(H * W) * np.array(
        [math.cos(ang), math.sin(ang)])
    vmax = 15.0 * min(H, W) / 256.0
    d = target - b.p0
    if np.hypot(*d) > vmax * tc:  # cannot get there in time: get as close as plausible
        target = b.p0 + d * (vmax * tc / np.hypot(*d))
    knots = [(0.0, b.p0)]
    knots += _between(rng, (0.0, b.p0), (float(tc), target), step, True)
    knots.append((float(tc), target))
    # then move on across `a` (not linger on it): clear it within about 6-12 frames
    heading = math.atan2(d[1], d[0]) if np.hypot(*d) > 1e-6 else rng.uniform(0, 2 * math.pi)
    clear = (a.eq_radius() + b.eq_radius()) * math.sqrt(H * W)
    v_after = max(b.speed, min(clear / rng.uniform(8, 14), 10.0 * min(H, W) / 256.0))
    dt = max(2, int(round(clear / v_after)))
    slack = b.radius() * (1.2 if not b.tracked else 0.4)  # a distractor may leave for good
    after = _reflect(target + v_after * dt * np.array([math.cos(heading), math.sin(heading)]),
                     np.minimum(np.full(2, -slack), target), np.maximum(np.array([W + slack, H + slack]), target))
    knots.append((float(tc + dt), after))
    d2 = after - target
    knots += _walk(rng, float(tc + dt), after, math.atan2(d2[1], d2[0]), T - 1, 1, b.speed, lo, hi, step)
    b.plan["meet"] = (a.obj_id, tc)
    return knots


def _place_frame0(rng, objs: list[_Obj], H: int, W: int) -> None:
    """Frame-0 centres: tracked objects mostly inside and spread apart (best of several candidates),
    distractors anywhere, sometimes just outside an edge so that they enter later."""
    placed: list[_Obj] = []
    for o in sorted(objs, key=lambda o: (not o.tracked, -o.area_frac)):
        c, s = math.cos(o.angle[0]), math.sin(o.angle[0])
        lx, ly = o.local[0, :, 0], o.local[0, :, 1]
        ex = float(np.abs(c * lx - s * ly).max() * o.R)
        ey = float(np.abs(s * lx + c * ly).max() * o.R)
        if o.tracked:
            fx, fy = 0.8, 0.8
        elif rng.random() < 0.5:  # starts (mostly) outside and comes in
            edge = int(rng.integers(4))
            if edge < 2:
                o.p0 = np.array([-0.7 * ex if edge == 0 else W + 0.7 * ex, rng.uniform(0, H)])
            else:
                o.p0 = np.array([rng.uniform(0, W), -0.7 * ey if edge == 2 else H + 0.7 * ey])
            placed.append(o)
            continue
        else:
            fx, fy = 0.5, 0.5
        xlo, xhi = fx * ex, W - fx * ex
        ylo, yhi = fy * ey, H - fy * ey
        if xlo > xhi:
            xlo = xhi = W / 2
        if ylo > yhi:
            ylo = yhi = H / 2
        best, best_score = None, -1.0
        for _ in range(12):
            p = np.array([rng.uniform(xlo, xhi), rng.uniform(ylo, yhi)])
            score = 10.0
            for q in placed:
                rr = (o.eq_radius() + q.eq_radius()) * math.sqrt(H * W)
                score = min(score, float(np.hypot(*(p - q.p0))) / max(rr, 1e-6))
            if score > best_score:
                best, best_score = p, score
        o.p0 = best
        placed.append(o)


def _plan_scene(rng, T: int, H: int, W: int, K: int, difficulty: str, want_exit: bool,
                want_occlusion: bool, area_range: tuple[float, float] | None = None,
                lookalike: bool = False) -> list[_Obj]:
    train = difficulty in ("train", "wide")
    wide = difficulty == "wide"
    # areas: each in AREA_RANGE (log-uniform), sum kept moderate so that frame 0 has room
    area_range = area_range or (WIDE_AREA_RANGE if wide else AREA_RANGE)
    for _ in range(100):
        areas = np.exp(rng.uniform(math.log(area_range[0]), math.log(area_range[1]), K))
        if areas.sum() <= (0.7 if wide else 0.55):
            break
    objs = [_make_object(rng, T, H, W, float(a), True, train, wide) for a in areas]
    for i, o in enumerate(objs):
        o.obj_id = i + 1
    exit_obj = objs[int(rng.integers(K))] if want_exit else None
    pair = None
    if lookalike and K >= 2:
        # tracked objects 1 and 2 meet (2 passes in front of or beside 1): the look-alike pair
        pair = (objs[0], objs[1])
    elif want_occlusion:
        a = objs[int(rng.integers(K))]
        cands = [o for o in objs if o is not a and o is not exit_obj and o.area_frac >= 0.6 * a.area_frac]
        if cands:
            b = cands[int(rng.integers(len(cands)))]
        else:
            lo_b = max(0.8 * a.area_frac, AREA_RANGE[0])
            hi_b = max(lo_b, min(1.4 * a.area_frac, 0.18))
            b = _make_object(rng, T, H, W, float(rng.uniform(lo_b, hi_b)), False, train, wide)
            objs.append(b)
        pair = (a, b)
    if rng.random() < (0.3 if train else 0.15):
        objs.append(_make_object(rng, T, H, W, float(rng.uniform(area_range[0], 0.15)), False, train, wide))
    z = rng.permutation(len(objs))
    for o, zi in zip(objs, z):
        o.z = int(zi)
    if pair and pair[1].z < pair[0].z:
        pair[0].z, pair[1].z = pair[1].z, pair[0].z
    _place_frame0(rng, objs, H, W)

    lo = np.array([0.0, 0.0]) if train else np.array([0.12 * W, 0.12 * H])
    hi = np.array([W, H], float) if train else np.array([0.88 * W, 0.88 * H])
    step = (4, 9) if train else (6, 12)
    b_obj = pair[1] if pair else None
    order = [o for o in objs if o is not b_obj] + ([b_obj] if b_obj else [])
    for o in order:
        knots = None
        if o is exit_obj and o is not b_obj:
            knots = _plan_exit(rng, o, T, H, W, lo, hi, step)
        elif o is b_obj:
            knots = _plan_meet(rng, o, pair[0], T, H, W, lo, hi, step)
        if knots is None:
            knots = [(0.0, o.p0)] + _walk(rng, 0.0, o.p0, rng.uniform(0, 2 * math.pi), max(T - 1, 1), 1,
                                          o.speed, lo, hi, step)
        o.center = _hermite(knots, T)
        o.verts = _vertices(o)
        if o.hole is not None:
            o.hole_verts = _vertices(o, o.hole)
    return objs


# ----------------------------------------------------------------------------------------------------
# Rasterising and checking

def _rasterise(o: _Obj, t: int, H: int, W: int):
    """Anti-aliased coverage of o on frame t: (x0, y0, alpha L image) within the frame, or None."""
    v = o.verts[t]
    x0 = max(int(math.floor(v[:, 0].min())), 0)
    y0 = max(int(math.floor(v[:, 1].min())), 0)
    x1 = min(int(math.ceil(v[:, 0].max())) + 1, W)
    y1 = min(int(math.ceil(v[:, 1].max())) + 1, H)
    if x1 <= x0 or y1 <= y0:
        return None
    im = Image.new("L", (2 * (x1 - x0), 2 * (y1 - y0)), 0)
    pts = ((v - np.array([x0, y0])) * 2).ravel().tolist()
    draw = ImageDraw.Draw(im)
    draw.polygon(pts, fill=255)
    if o.hole is not None:
        draw.polygon(((o.hole_verts[t] - np.array([x0, y0])) * 2).ravel().tolist(), fill=0)
    return x0, y0, im.reduce(2)


def _compose_labels(objs: list[_Obj], rasters: list, t: int, H: int, W: int):
    """Object-id map of frame t painted in z-order (distractors paint 0), each object's in-frame amodal
    area, and each object's visible area (0 for distractors)."""
    lab = np.zeros((H, W), np.uint8)
    amodal = np.zeros(len(objs), np.int64)
    for i in sorted(range(len(objs)), key=lambda i: objs[i].z):
        r = rasters[i][t]
        if r is None:
            continue
        x0, y0, im = r
        m = np.asarray(im) >= 128
        amodal[i] = int(np.count_nonzero(m))
        view = lab[y0:y0 + m.shape[0], x0:x0 + m.shape[1]]
        view[m] = objs[i].obj_id
    visible = np.zeros(len(objs), np.int64)
    for i, o in enumerate(objs):
        r = rasters[i][t]
        if o.tracked and r is not None:
            x0, y0, im = r
            visible[i] = int(np.count_nonzero(lab[y0:y0 + im.size[1], x0:x0 + im.size[0]] == o.obj_id))
    return lab, amodal, visible


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    out, start = [], None
    for t, f in enumerate(flags.tolist() + [False]):
        if f and start is None:
            start = t
        elif not f and start is not None:
            out.append((start, t - 1))
            start = None
    return out


def _events(objs, amodal: np.ndarray, visible: np.ndarray, H: int, W: int, bg_kind: str) -> dict:
    """Facts per tracked object id: out_of_frame frames (fully outside), occluded frames (>50% of its
    in-frame area hidden by other objects), max_occlusion (over frames with >= 0.5% of the frame in view),
    reentries [(first, last) out-of-frame run that is followed by the object coming back], plus the
    background kind and the shapes."""
    ev = {"out_of_frame": {}, "occluded": {}, "max_occlusion": {}, "reentries": {}, "background": bg_kind,
          "shapes": {}, "distractors": sum(1 for o in objs if not o.tracked)}
    T = amodal.shape[0]
    for i, o in enumerate(objs):
        if not o.tracked:
            continue
        am, vis = amodal[:, i], visible[:, i]
        out = am == 0
        occ = (am > 0) & (vis < 0.5 * am)
        big = am >= 0.005 * H * W
        frac = np.where(big, 1.0 - vis / np.maximum(am, 1), 0.0)
        ev["out_of_frame"][o.obj_id] = np.nonzero(out)[0].tolist()
        ev["occluded"][o.obj_id] = np.nonzero(occ)[0].tolist()
        ev["max_occlusion"][o.obj_id] = round(float(frac.max()) if T else 0.0, 3)
        ev["reentries"][o.obj_id] = [(s, e) for s, e in _runs(out) if s > 0 and e < T - 1]
        ev["shapes"][o.obj_id] = o.shape
    return ev


def _edt(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of every pixel to the nearest pixel outside `mask` (outside the array
    counts as outside), float32, same shape. Column pass then a brute-force row pass."""
    m = np.pad(mask, 1)
    h, w = m.shape
    idx = np.arange(h)[:, None]
    zero = ~m
    big = 1 << 20
    last = np.maximum.accumulate(np.where(zero, idx, -big), axis=0)
    nxt = np.minimum.accumulate(np.where(zero, idx, big)[::-1], axis=0)[::-1]
    g2 = (np.minimum(idx - last, nxt - idx).astype(np.float32)) ** 2
    xs = np.arange(w, dtype=np.float32)
    dx2 = (xs[:, None] - xs[None, :]) ** 2  # [x, x']
    out = np.empty((h, w), np.float32)
    chunk = max(1, 2_000_000 // (w * w))
    for r in range(0, h, chunk):
        out[r:r + chunk] = (g2[r:r + chunk, None, :] + dx2[None]).min(axis=2)
    return np.sqrt(out)[1:-1, 1:-1]


def _prompt(rng, mask: np.ndarray) -> dict:
    """Box (tight, x1/y1 exclusive) and 1-3 positive points strictly inside a frame-0 mask; the first
    point is the pixel farthest from the mask boundary."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    d = _edt(mask[y0:y1, x0:x1])
    k = int(np.argmax(d))
    dmax = float(d.flat[k])
    pts = [(k % d.shape[1], k // d.shape[1])]
    n = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    cy, cx = np.nonzero(d >= max(2.0, 0.35 * dmax))
    for _ in range(n - 1):
        if cy.size == 0:
            break
        for _try in range(8):
            j = int(rng.integers(cy.size))
            p = (int(cx[j]), int(cy[j]))
            if all(math.hypot(p[0] - q[0], p[1] - q[1]) >= 0.6 * dmax for q in pts):
                pts.append(p)
                break
    points = [[int(px + x0), int(py + y0)] for px, py in pts]
    return {"box": [x0, y0, x1, y1], "points": points, "labels": [1] * len(points)}


def _frame0_ok(objs, amodal0, vis0, H: int, W: int, min_visible: float = MIN_VISIBLE_FRAC) -> bool:
    for i, o in enumerate(objs):
        if not o.tracked:
            continue
        full = o.area(0)
        if vis0[i] < min_visible * H * W or amodal0[i] < 0.8 * full or vis0[i] < 0.75 * amodal0[i]:
            return False
    return True


# ----------------------------------------------------------------------------------------------------
# The generator

def generate_clip(seed: int, num_frames: int = 48, size: tuple[int, int] = (256, 256),
                  num_objects: tuple[int, int] = (1, 3), difficulty: str = "eval",
                  area_range: tuple[float, float] | None = None, lookalike: bool = False) -> Clip:
    """Generates one clip, deterministically from `seed` and the arguments.

    size is (H, W); the number K of tracked objects is drawn from the inclusive range num_objects.
    Both difficulties stage occlusions (an object or an untracked distractor passing in front of a
    tracked object) and exits (an object leaving the frame fully for 3-10 frames and coming back, in
    clips of 16+ frames).
    "eval": objects average 2-8 px/frame (peaks up to ~16); an occlusion hiding > 30% of an object is
    required (plans are redrawn until it happens, up to 60 times); an exit is staged with probability 0.5.
    "train": objects average 2-12 px/frame (peaks up to ~18), spin faster, meet more distractors and may
    reach the frame edge; an occlusion is staged with probability 0.7 and an exit with 0.4.
    "wide" (training only): "train" with more variety: also thin bent bars, rings and frames (shapes
    with holes) and crosses; objects of 1-50% of the frame (at least 0.6% visible on frame 0);
    flat-colour and patterned backgrounds, spotted and more often flat objects; more sensor noise,
    lighting that drifts over the clip (up to +-35%, with a colour cast), motion blur along each
    object's motion (a third of the clips) and defocus (15%).
    "camo" (a fine-tuning domain, never trained on by the default model): "eval" scenes whose objects
    all have the background's mean colour moved by 8-20 levels (low contrast, camouflage), under
    stronger sensor noise.
    "halo" (another fine-tuning domain): "eval" scenes whose objects have a dark rim of their own
    colour, 3-6 px wide, outside the ground-truth mask (the rim hides what lies behind it).
    area_range (training only), when given, replaces the difficulty's range of tracked objects' frame-0
    areas (fractions of the frame, drawn log-uniform), e.g. (0.008, 0.08) for small objects.
    lookalike (training only; needs num_objects of at least 2): tracked objects 1 and 2 are planned to
    meet (2 passes in front of or beside 1) and object 2 takes object 1's colour moved by at most
    LOOKALIKE_OFFSET levels: the neighbour a tracker must not spread onto (evalgen's clips 3 and 14).
    Raises ValueError on bad arguments, RuntimeError if K objects cannot be placed visibly on frame 0."""
    if area_range is not None and not 0 < area_range[0] <= area_range[1] <= 0.5:
        raise ValueError(f"area_range must be 0 < low <= high <= 0.5, not {area_range!r}")
    if difficulty not in ("train", "eval", "wide", "camo", "halo"):
        raise ValueError(f"difficulty must be 'train', 'eval', 'wide', 'camo' or 'halo', not {difficulty!r}")
    H, W = int(size[0]), int(size[1])
    T = int(num_frames)
    if T < 1 or H < 32 or W < 32:
        raise ValueError("need num_frames >= 1 and a size of at least 32x32")
    kmin, kmax = int(num_objects[0]), int(num_objects[1])
    if not 1 <= kmin <= kmax <= 255:
        raise ValueError("num_objects must be an inclusive range within 1..255")
    if lookalike and kmin < 2:
        raise ValueError("lookalike needs at least 2 tracked objects (num_objects)")
    train = difficulty in ("train", "wide")
    wide = difficulty == "wide"
    rng = np.random.default_rng(seed)
    K = int(rng.integers(kmin, kmax + 1))
    # what to stage, decided first (stable under later changes) and once (retries must not favour the
    # easier plans)
    u_exit, u_occ = rng.random(2)
    want_exit = T >= 16 and u_exit < (0.4 if train else 0.5)
    want_occlusion = T >= 2 and (u_occ < 0.7 if train else True)
    canvas, offs, bg_kind = _background(rng, H, W, T, difficulty)
    bg_mean = canvas.reshape(-1, 3).mean(axis=0)

    best = None
    for attempt in range(MAX_ATTEMPTS):
        objs = _plan_scene(rng, T, H, W, K, difficulty, want_exit, want_occlusion, area_range, lookalike)
        rasters = [[None] * T for _ in objs]
        for i, o in enumerate(objs):
            rasters[i][0] = _rasterise(o, 0, H, W)
        lab0, am0, vis0 = _compose_labels(objs, rasters, 0, H, W)
        if not _frame0_ok(objs, am0, vis0, H, W,
                          WIDE_MIN_VISIBLE_FRAC if wide or area_range else MIN_VISIBLE_FRAC):
            continue
        amodal = np.zeros((T, len(objs)), np.int64)
        visible = np.zeros((T, len(objs)), np.int64)
        labels = np.zeros((T, H, W), np.uint8)
        labels[0], amodal[0], visible[0] = lab0, am0, vis0
        for t in range(1, T):
            for i, o in enumerate(objs):
                rasters[i][t] = _rasterise(o, t, H, W)
            labels[t], amodal[t], visible[t] = _compose_labels(objs, rasters, t, H, W)
        events = _events(objs, amodal, visible, H, W, bg_kind)
        best = (objs, rasters, labels, events)
        ok = True
        if not train and T >= 2:
            ok = max(events["max_occlusion"].values()) > OCCLUSION_TARGET
        for o in objs:
            if ok and "exit" in o.plan:
                ok = any(EXIT_RUN[0] <= e - s + 1 <= EXIT_RUN[1] for s, e in events["reentries"][o.obj_id])
        if ok:
            break
    if best is None:
        raise RuntimeError(f"seed {seed}: could not place {K} objects visibly on frame 0 "
                           f"in a {W}x{H} frame")
    objs, rasters, labels, events = best

    # textures, then frames
    textures = []
    rims = []  # "halo": (width, colour) per object
    for o in objs:
        rad = float(np.hypot(o.local[..., 0], o.local[..., 1]).max() * o.R)
        S = 2 * int(math.ceil(rad)) + 4
        colour = _camo_colour(rng, bg_mean) if difficulty == "camo" else _object_colour(rng, bg_mean, train)
        if lookalike and o.obj_id == 1:
            first_texture_state = copy.deepcopy(rng.bit_generator.state)
        if lookalike and o.obj_id == 2:
            # object 1's colour, moved a little, and its texture drawn again with the same random
            # choices (same kind, same second colours) at this object's size
            first = next(x for x in objs if x.obj_id == 1)
            colour = np.clip(first.colour + rng.uniform(-LOOKALIKE_OFFSET, LOOKALIKE_OFFSET, 3), 0, 255)
            twin = np.random.default_rng()
            twin.bit_generator.state = copy.deepcopy(first_texture_state)
            tex, kind = _texture(twin, S, rad, colour, train, wide)
        else:
            tex, kind = _texture(rng, S, rad, colour, train, wide)
        o.colour = colour
        if difficulty == "halo":
            rims.append((int(rng.integers(HALO_WIDTH[0], HALO_WIDTH[1] + 1)),
                         tuple(int(c) for c in np.clip(colour * rng.uniform(0.3, 0.55), 0, 255))))
        # smooth textures sample well enough with nearest (10x faster); sharp ones need bilinear
        resample = (Image.Resampling.BILINEAR if kind in ("stripes", "checker", "image")
                    else Image.Resampling.NEAREST)
        textures.append((Image.fromarray(tex), S, resample))
        if o.tracked:
            events.setdefault("textures", {})[o.obj_id] = kind
    sigma = rng.uniform(0.5, 6.0) if train else rng.uniform(0.5, 3.5)
    if difficulty == "camo":
        sigma = rng.uniform(3.0, 6.0)
    if wide:
        sigma = rng.uniform(0.5, 9.0)
        # lighting: a drift over the clip and a slow swing, with a colour cast that drifts too
        tt = np.arange(T, dtype=np.float32) / max(T - 1, 1)
        drift = rng.uniform(-0.35, 0.35) if rng.random() < 0.6 else 0.0
        swing = rng.uniform(0, 0.12) * np.sin(rng.uniform(0.5, 4.0) * 2 * math.pi * tt + rng.uniform(0, 7))
        cast = rng.uniform(-0.12, 0.12, 3) if rng.random() < 0.4 else np.zeros(3)
        light = ((1 + drift * tt + swing)[:, None] * (1 + cast[None, :] * tt[:, None])).astype(np.float32)
        shutter = rng.uniform(0.4, 1.0) if rng.random() < 0.33 else 0.0  # motion blur: exposure / frame time
        defocus = rng.uniform(0.5, 1.6) if rng.random() < 0.15 else 0.0
    pad = 16
    noise = np.rint(rng.standard_normal((H + pad, W + pad, 3), dtype=np.float32) * sigma).astype(np.int16)
    noff = rng.integers(0, pad + 1, (T, 2))
    nsign = rng.choice(np.array([-1, 1], np.int16), T)
    flick = 1.0 + (rng.uniform(0, 0.04) if train else rng.uniform(0, 0.015)) * rng.standard_normal(T)
    gains = np.round((np.clip(flick, 0.9, 1.1) - 1) * 256).astype(np.int16)  # int16-safe: f + f*g/256
    canvas_im = Image.fromarray(canvas)
    zorder = sorted(range(len(objs)), key=lambda i: objs[i].z)
    frames = np.empty((T, H, W, 3), np.uint8)
    for t in range(T):
        oy, ox = int(offs[t, 0]), int(offs[t, 1])
        im = canvas_im.crop((ox, oy, ox + W, oy + H))
        for i in zorder:
            r = rasters[i][t]
            if r is None:
                continue
            x0, y0, alpha = r
            o = objs[i]
            tex, S, resample = textures[i]
            cx, cy = o.center[t]
            a, s = float(o.angle[t]), float(o.scale[t])
            ca, sa = math.cos(a) / s, math.sin(a) / s
            coeffs = (ca, sa, ca * (x0 - cx) + sa * (y0 - cy) + S / 2,
                      -sa, ca, -sa * (x0 - cx) + ca * (y0 - cy) + S / 2)
            patch = tex.transform(alpha.size, Image.Transform.AFFINE, coeffs, resample)
            if wide and shutter > 0:
                step = o.center[min(t + 1, T - 1)] - o.center[max(t - 1, 0)]
                patch, alpha = _smear(patch, alpha, step * (shutter / 2))
            if rims:
                # the rim: the object's coverage dilated by its width, painted under the object; the
                # objects behind it lose those pixels in the ground truth
                w, rim_colour = rims[i]
                grown = Image.fromarray(np.pad(np.asarray(alpha), w)).filter(ImageFilter.MaxFilter(2 * w + 1))
                im.paste(rim_colour, (x0 - w, y0 - w, x0 - w + grown.width, y0 - w + grown.height), grown)
                behind = [objs[j].obj_id for j in zorder if objs[j].z < o.z and objs[j].obj_id]
                if behind:
                    ring = np.asarray(grown) >= 128
                    ys, xs = np.nonzero(ring)
                    ys, xs = ys + y0 - w, xs + x0 - w
                    keep = (ys >= 0) & (ys < H) & (xs >= 0) & (xs < W)
                    ys, xs = ys[keep], xs[keep]
                    hit = np.isin(labels[t, ys, xs], behind)
                    labels[t, ys[hit], xs[hit]] = 0
            im.paste(patch, (x0, y0), alpha)
        if wide and defocus > 0:
            im = im.filter(ImageFilter.GaussianBlur(defocus))
        if wide:
            im = Image.fromarray(np.clip(np.asarray(im, np.float32) * light[t], 0, 255).astype(np.uint8))
        f = np.asarray(im).astype(np.int16)
        f += (f * gains[t]) >> 8
        ny, nx = int(noff[t, 0]), int(noff[t, 1])
        f += noise[ny:ny + H, nx:nx + W] * nsign[t]
        np.clip(f, 0, 255, out=f)
        frames[t] = f

    masks = labels
    prompts = {o.obj_id: _prompt(rng, masks[0] == o.obj_id) for o in objs if o.tracked}
    events["planned"] = {"exit": {o.obj_id: list(o.plan["exit"]) for o in objs if "exit" in o.plan},
                         "meet": [{"occluder": o.obj_id, "occluded": o.plan["meet"][0], "frame": o.plan["meet"][1]}
                                  for o in objs if "meet" in o.plan]}
    return Clip(frames, masks, K, prompts, events, seed, difficulty)


# ----------------------------------------------------------------------------------------------------
# Writing

def _smear(patch: Image.Image, alpha: Image.Image, motion: np.ndarray):
    """Motion blur: the patch and its alpha averaged over copies shifted along `motion` (dx, dy pixels,
    centred), within the patch's box. The ground truth stays the sharp shape."""
    length = float(np.hypot(*motion))
    if length < 1.0:
        return patch, alpha
    n = min(9, int(math.ceil(length)) + 1)
    rgb = np.asarray(patch, np.float32)
    a = np.asarray(alpha, np.float32)[:, :, None]
    acc_c = np.zeros_like(rgb)
    acc_a = np.zeros_like(a)
    h, w = a.shape[:2]
    for f in np.linspace(-0.5, 0.5, n):
        dx, dy = int(round(f * motion[0])), int(round(f * motion[1]))
        if abs(dx) >= w or abs(dy) >= h:
            continue  # a tiny patch shifted past itself (small objects, fast motion): nothing lands inside
        src = (slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx)))
        dst = (slice(max(0, dy), min(h, h + dy)), slice(max(0, dx), min(w, w + dx)))
        acc_c[dst] += rgb[src] * a[src]
        acc_a[dst] += a[src]
    colour = acc_c / np.maximum(acc_a, 1e-3)
    return (Image.fromarray(np.clip(colour, 0, 255).astype(np.uint8)),
            Image.fromarray(np.clip(acc_a[:, :, 0] / n, 0, 255).astype(np.uint8)))


def voc_palette() -> list[int]:
    """The standard PASCAL VOC / DAVIS colour map, 256 entries flattened to 768 ints."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _has_libx264() -> bool:
    if "x264" not in _MEMO:
        try:
            enc = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
        except OSError:
            enc = ""
        _MEMO["x264"] = " libx264 " in enc
    return _MEMO["x264"]


def write_clip(clip: Clip, out_dir, fps: int = 24) -> Path:
    """Writes out_dir/video.mp4 (H.264 yuv420p crf 14, or MPEG-4 q 2 without libx264), out_dir/gt/NNNNN.png
    (DAVIS palette PNGs, index = object id) and out_dir/prompts.json, each file atomically. Returns out_dir."""
    out = Path(out_dir)
    T, H, W, _ = clip.frames.shape
    if H % 2 or W % 2:
        raise ValueError(f"yuv420p needs an even frame size, not {W}x{H}")
    gt = out / "gt"
    gt.mkdir(parents=True, exist_ok=True)

    if _has_libx264():
        venc = ["-c:v", "libx264", "-preset", "medium", "-crf", "14"]
    else:
        venc = ["-c:v", "mpeg4", "-q:v", "2"]
    def encode(tmp):
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(fps), "-i", "pipe:0",
                        *venc, "-pix_fmt", "yuv420p", "-colorspace", "smpte170m", "-color_range", "tv",
                        "-threads", "1", "-movflags", "+faststart", "-f", "mp4", tmp],
                       input=np.ascontiguousarray(clip.frames).tobytes(), check=True)
    _atomic_write(out / "video.mp4", encode, suffix=".mp4")

    pal = voc_palette()
    for t in range(T):
        im = Image.frombytes("P", (W, H), np.ascontiguousarray(clip.masks[t]).tobytes())
        im.putpalette(pal)
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=False)
        _atomic_write_bytes(gt / f"{t:05d}.png", buf.getvalue())
    for stale in gt.glob("*.png"):
        if stale.stem.isdigit() and int(stale.stem) >= T:
            stale.unlink()

    meta = {"size": [W, H], "num_frames": T, "fps": fps, "seed": clip.seed, "difficulty": clip.difficulty,
            "objects": {str(k): v for k, v in sorted(clip.prompts.items())},
            "events": _jsonable(clip.events)}
    # one line per top-level key and per object
    lines = []
    for k, v in meta.items():
        if k == "objects":
            inner = ",\n".join(f"  {json.dumps(ok)}: {json.dumps(ov)}" for ok, ov in v.items())
            lines.append(f"{json.dumps(k)}: {{\n{inner}\n }}")
        else:
            lines.append(f"{json.dumps(k)}: {json.dumps(v)}")
    text = "{\n " + ",\n ".join(lines) + "\n}\n"
    assert json.loads(text) == meta
    _atomic_write_bytes(out / "prompts.json", text.encode())
    return out


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def describe(clip: Clip) -> str:
    """One line: objects, background, occlusion and exit facts."""
    ev = clip.events
    occ = max(ev["max_occlusion"].items(), key=lambda kv: kv[1]) if ev["max_occlusion"] else (0, 0.0)
    exits = [f"obj {k} out {s}-{e}" for k, runs in ev["reentries"].items() for s, e in runs]
    shapes = ",".join(f"{ev['shapes'][k]}/{ev.get('textures', {}).get(k, '?')}" for k in sorted(ev["shapes"]))
    return (f"{clip.num_objects} objects ({shapes}), {ev['distractors']} distractor(s), bg {ev['background']}, "
            f"max occlusion {occ[1]:.2f} (obj {occ[0]}), "
            f"exit+re-entry: {'; '.join(exits) if exits else 'none'}")


# ----------------------------------------------------------------------------------------------------
# Self-checks

def _has_exit(clip: Clip) -> bool:
    return any(EXIT_RUN[0] <= e - s + 1 <= EXIT_RUN[1] for runs in clip.events["reentries"].values()
               for s, e in runs)


def self_check(verbose: bool = True) -> bool:
    """Determinism, speed, prompt validity and the 20 evaluation seeds' occlusion/exit properties."""
    failures = []

    def fail(msg):
        failures.append(msg)
        print("FAIL:", msg)

    real_frames()  # decode/cache outside the timings
    # determinism
    for args in [dict(seed=900003), dict(seed=123, num_frames=8, difficulty="train"),
                 dict(seed=5, num_frames=20, size=(192, 320), num_objects=(3, 3), difficulty="train")]:
        a, b = generate_clip(**args), generate_clip(**args)
        if not (a.frames.tobytes() == b.frames.tobytes() and a.masks.tobytes() == b.masks.tobytes()
                and a.prompts == b.prompts):
            fail(f"not deterministic: {args}")
    print(f"determinism: {'ok' if not failures else 'FAILED'}")

    # speed
    times, cpu = [], []
    for s in range(8):
        t0, c0 = time.perf_counter(), time.process_time()
        generate_clip(1000 + s, 48, (256, 256), difficulty="eval" if s % 2 else "train")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = sorted(times)[len(times) // 2]
    cmed = sorted(cpu)[len(cpu) // 2]
    print(f"speed: 48-frame 256x256 clip median {med * 1000:.0f} ms wall ({med / 48 * 1000:.1f} ms/frame), "
          f"{cmed * 1000:.0f} ms CPU ({cmed / 48 * 1000:.1f} ms/frame), max {max(times) * 1000:.0f} ms wall")
    if cmed > 0.5:  # CPU time: wall time depends on whatever else the machine runs
        fail(f"too slow: {cmed:.2f} s of CPU per clip")
    t0 = time.perf_counter()
    for s in range(50):
        c = generate_clip(5000 + s, int(1 + s % 8), (256, 256), difficulty="train")
        if c.frames.shape != (1 + s % 8, 256, 256, 3) or c.masks.shape != (1 + s % 8, 256, 256):
            fail("bad shapes in train clip")
    print(f"train clips of 1-8 frames: {(time.perf_counter() - t0) / 50 * 1000:.0f} ms each")

    # the evaluation seeds
    n_exit = 0
    for seed in EVAL_SEEDS:
        c = generate_clip(seed)
        ok_occ = max(c.events["max_occlusion"].values()) > OCCLUSION_TARGET
        ex = _has_exit(c)
        n_exit += ex
        if not ok_occ:
            fail(f"seed {seed}: no object more than {OCCLUSION_TARGET:.0%} occluded")
        problems = _check_prompts(c)
        for p in problems:
            fail(f"seed {seed}: {p}")
        if verbose:
            print(f"  clip_{seed}: {describe(c)}")
    print(f"eval seeds: {len(EVAL_SEEDS)} clips, all with an occlusion > {OCCLUSION_TARGET:.0%}: "
          f"{'yes' if not any('occluded' in f for f in failures) else 'NO'}; exit+re-entry in {n_exit}")
    if n_exit < 10:
        fail(f"only {n_exit} of {len(EVAL_SEEDS)} eval clips have an exit + re-entry")

    # look-alike pairs (training): objects 1 and 2 touch or overlap on some frame, one texture kind,
    # nearly one colour
    for seed in range(6):
        c = generate_clip(seed, 16, (256, 256), num_objects=(2, 3), difficulty="wide" if seed % 2 else "train",
                          lookalike=True)
        near = min(float(_edt(c.masks[t] != 1)[c.masks[t] == 2].min()) if (c.masks[t] == 1).any()
                   and (c.masks[t] == 2).any() else 1e9 for t in range(16))
        if near > 2:
            fail(f"lookalike seed {seed}: objects 1 and 2 never meet ({near:.1f} px apart at least)")
        textures = c.events.get("textures", {})
        if textures.get(1) != textures.get(2):
            fail(f"lookalike seed {seed}: textures {textures.get(1)} and {textures.get(2)}")
        meets = [(m["occluder"], m["occluded"]) for m in c.events["planned"]["meet"]]
        if (2, 1) not in meets:
            fail(f"lookalike seed {seed}: object 2 is not planned to meet object 1 ({meets})")
        colours = [c.frames[0][c.masks[0] == k].astype(np.float64).mean(axis=0) for k in (1, 2)]
        if np.abs(colours[0] - colours[1]).max() > 40:
            fail(f"lookalike seed {seed}: frame-0 mean colours {colours[0].round()} and {colours[1].round()}")
    print(f"lookalike pairs: {'ok' if not any('lookalike' in f for f in failures) else 'FAILED'}")

    # the distance transform against scipy's, when present
    try:
        from scipy.ndimage import distance_transform_edt
        rng = np.random.default_rng(0)
        for _ in range(5):
            m = np.asarray(Image.fromarray((rng.random((9, 11)) > 0.4).astype(np.uint8) * 255)
                           .resize((70, 53), Image.Resampling.BICUBIC)) > 128
            ref = distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
            if not np.allclose(_edt(m), ref, atol=1e-4):
                fail("distance transform differs from scipy's")
    except ImportError:
        pass
    print("self-check:", "PASSED" if not failures else f"FAILED ({len(failures)})")
    return not failures


def _check_prompts(c: Clip) -> list[str]:
    out = []
    T, H, W = c.masks.shape
    if sorted(c.prompts) != list(range(1, c.num_objects + 1)):
        out.append("prompt ids are not 1..K")
    for k, p in c.prompts.items():
        m = c.masks[0] == k
        ys, xs = np.nonzero(m)
        if m.sum() < MIN_VISIBLE_FRAC * H * W:
            out.append(f"object {k} too small on frame 0 ({m.sum()} px)")
        if ys.size and p["box"] != [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]:
            out.append(f"object {k} box {p['box']} is not the mask's")
        for x, y in p["points"]:
            if not (0 < x < W - 1 and 0 < y < H - 1 and m[y - 1:y + 2, x - 1:x + 2].all()):
                out.append(f"object {k} point {(x, y)} not strictly inside its mask")
        if len(p["labels"]) != len(p["points"]) or not 1 <= len(p["points"]) <= 3:
            out.append(f"object {k}: bad points/labels")
    return out


# ----------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    """Command line: write clips (DIR/clip_{seed}/) or run --check."""
    ap = argparse.ArgumentParser(description="Synthetic multi-object tracking clips with ground truth.")
    ap.add_argument("--out", help="output folder; clips go to OUT/clip_{seed}/")
    ap.add_argument("--seed", type=int, default=900000, help="first seed (default 900000)")
    ap.add_argument("--clips", type=int, default=1, help="number of clips, seeds SEED..SEED+N-1")
    ap.add_argument("--frames", type=int, default=48, help="frames per clip (default 48)")
    ap.add_argument("--size", default="256x256", help="WIDTHxHEIGHT (default 256x256)")
    ap.add_argument("--objects", default="1-3", help="tracked objects per clip, MIN-MAX (default 1-3)")
    ap.add_argument("--difficulty", choices=("eval", "train", "wide", "camo", "halo"), default="eval")
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--check", action="store_true", help="run the self-checks and exit (non-zero on failure)")
    args = ap.parse_args(argv)
    if args.check:
        return 0 if self_check() else 1
    if not args.out:
        ap.error("--out is required (or --check)")
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        lo, _, hi = args.objects.partition("-")
        objects = (int(lo), int(hi or lo))
    except ValueError:
        ap.error("--size must be WIDTHxHEIGHT and --objects MIN-MAX")
    for seed in range(args.seed, args.seed + args.clips):
        clip = generate_clip(seed, args.frames, (h, w), objects, args.difficulty)
        write_clip(clip, Path(args.out) / f"clip_{seed}", fps=args.fps)
        print(f"clip_{seed}: {describe(clip)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
