#!/usr/bin/env python3
"""A second training generator, "toy scenes": sprites on flat, gradient, bokeh, tiled, striped or
blurred-photo backgrounds, written apart from synth.py so the default model does not learn one
generator's style (issue 28). It is a training source only; the evaluation-only generator stays
Tools/evalgen, whose code this file does not use or copy.

How it differs from synth.py: every object is a sprite (an RGBA patch drawn once: regular polygons,
rounded rectangles, thin capsules, rings and frames with holes, crescents, crosses, arrows, hearts,
polyominoes, letters and digits, radial blobs) placed on each frame by one affine warp (position,
rotation, anisotropic scale), so objects move rigidly with squash and stretch; surfaces are flat
colours, lit (a shading ramp), outlined or two-tone patterned; objects bounce off the frame's edges,
cast soft drop shadows, and untracked distractors may copy a tracked object's shape and colour. The
whole frame gets a lighting drift, sometimes blur, sensor noise and JPEG compression, at one of several
frame shapes (4:3, 3:4, 16:9, square) with objects of 0.8-35% of the frame.

Module use (in memory): from scenes import generate_scene; s = generate_scene(seed, num_frames=16)
-> s.frames uint8 [T, H, W, 3], s.masks uint8 [T, H, W] (0 background and distractors, 1..K),
s.num_objects. One np.random.default_rng(seed) drives everything.
Command line: scenes.py --out DIR --seed 1 --clips 4 --frames 16   (PNG frames + palette masks to look at)
              scenes.py --check                                       (determinism, sizes, visibility)
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from synth import real_frames  # the fixture frames' decoder and cache; nothing else is shared

FRAME_SHAPES = ([(320, 240), (240, 320), (384, 216), (256, 256), (352, 264), (288, 288), (216, 384)],
                [0.25, 0.1, 0.2, 0.15, 0.15, 0.1, 0.05])  # (W, H), weights
AREA_RANGE = (0.008, 0.35)  # a tracked object's frame-0 area, fraction of the frame (log-uniform)
MIN_VISIBLE = 0.004  # every tracked object shows at least this much of the frame on frame 0
FAMILIES = ["ngon", "roundrect", "capsule", "ring", "frame", "crescent", "cross", "arrow", "heart",
            "polyomino", "glyph", "blob", "ellipse"]
GLYPHS = "ABCDEFGHKLMNPRSTUVWXYZ23456789&?#@%"


@dataclass
class Scene:
    """One generated clip (the attributes train.py reads from synth.Clip too)."""

    frames: np.ndarray  # uint8 [T, H, W, 3]
    masks: np.ndarray  # uint8 [T, H, W]; 0 background and distractors, 1..K tracked objects
    num_objects: int
    seed: int


# ---------------------------------------------------------------------------------------------
# Colours and backgrounds (float32 RGB in [0, 1])

def _hsv(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], np.float32)


def _colour(rng) -> np.ndarray:
    if rng.random() < 0.12:  # greys, black, white
        return np.full(3, rng.uniform(0.03, 0.97), np.float32)
    return _hsv(rng.random(), rng.uniform(0.2, 1.0), rng.uniform(0.2, 1.0))


def _contrasting(rng, against: np.ndarray, min_dist: float) -> np.ndarray:
    best, best_d = None, -1.0
    for _ in range(30):
        c = _colour(rng)
        d = float(np.linalg.norm(c - against))
        if d >= min_dist:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


def _grid(h: int, w: int):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x / max(w - 1, 1), y / max(h - 1, 1)


def _background(rng, h: int, w: int) -> np.ndarray:
    kind = rng.choice(["flat", "linear", "radial", "bokeh", "tiles", "stripes", "photo"],
                      p=[0.2, 0.2, 0.12, 0.13, 0.1, 0.08, 0.17])
    x, y = _grid(h, w)
    a, b = _colour(rng), _colour(rng)
    if kind == "flat":
        img = np.broadcast_to(a, (h, w, 3)).copy()
    elif kind == "linear":
        ang = rng.uniform(0, 2 * math.pi)
        t = (x - 0.5) * math.cos(ang) * w / max(h, w) + (y - 0.5) * math.sin(ang) * h / max(h, w) + 0.5
        t = np.clip(t, 0, 1)[..., None]
        img = a * (1 - t) + b * t
    elif kind == "radial":
        cx, cy = rng.uniform(0.2, 0.8, 2)
        r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)[..., None] / rng.uniform(0.5, 1.2)
        img = a * (1 - np.clip(r, 0, 1)) + b * np.clip(r, 0, 1)
    elif kind == "bokeh":  # soft out-of-focus discs
        im = Image.new("RGB", (w, h), tuple(int(v * 255) for v in a))
        draw = ImageDraw.Draw(im, "RGBA")
        for _ in range(int(rng.integers(8, 40))):
            c = _colour(rng)
            r = rng.uniform(0.03, 0.15) * max(h, w)
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r],
                         fill=tuple(int(v * 255) for v in c) + (int(rng.integers(60, 180)),))
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(3, 10)))
        img = np.asarray(im, np.float32) / 255
    elif kind == "tiles":
        n = rng.uniform(4, 14)
        cell = max(h, w) / n
        iy, ix = np.mgrid[0:h, 0:w]
        checker = ((ix // cell + iy // cell) % 2).astype(np.float32)[..., None]
        b = a * rng.uniform(0.6, 0.9) if rng.random() < 0.6 else b
        img = a * (1 - checker) + b * checker
        grout = ((ix % cell < 1.5) | (iy % cell < 1.5))[..., None]
        img = np.where(grout, img * 0.7, img)
    elif kind == "stripes":
        ang = rng.uniform(0, math.pi)
        period = rng.uniform(0.04, 0.2) * max(h, w)
        u = (np.mgrid[0:h, 0:w][1] * math.cos(ang) + np.mgrid[0:h, 0:w][0] * math.sin(ang)) / period
        t = (0.5 + 0.5 * np.sin(2 * math.pi * u)).astype(np.float32)[..., None]
        b = a * rng.uniform(0.7, 0.95) if rng.random() < 0.5 else b
        img = a * (1 - t) + b * t
    else:  # a blurred, recoloured crop of a real frame (the fixture videos), else a gradient
        img = _photo(rng, h, w)
        if img is None:
            t = y[..., None]
            img = a * (1 - t) + b * t
    return np.clip(img, 0, 1).astype(np.float32)


def _photo(rng, h: int, w: int):
    frames = real_frames()  # [] without the fixture videos: the caller draws a gradient instead
    if not frames:
        return None
    _, f = frames[int(rng.integers(len(frames)))]
    fh, fw = f.shape[:2]
    scale = rng.uniform(0.4, 1.0)
    ch, cw = int(min(fh, fw * h / w) * scale), int(min(fw, fh * w / h) * scale)
    y0, x0 = int(rng.integers(0, fh - ch + 1)), int(rng.integers(0, fw - cw + 1))
    im = Image.fromarray(f[y0:y0 + ch, x0:x0 + cw]).resize((w, h), Image.Resampling.BILINEAR)
    if rng.random() < 0.7:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(1, 6)))
    img = np.asarray(im, np.float32) / 255
    if rng.random() < 0.5:
        img = img[:, :, rng.permutation(3)]
    return img * rng.uniform(0.6, 1.2) + rng.uniform(-0.1, 0.1)


# ---------------------------------------------------------------------------------------------
# Sprites: an alpha patch of one shape family and the surface painted over the whole patch

def _star_points(cx, cy, r, n, phase):
    return [(cx + r * math.cos(phase + 2 * math.pi * k / n), cy + r * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)]


def _shape_alpha(rng, family: str, S: int) -> Image.Image:
    """The family's silhouette in an S x S 'L' image (255 inside), roughly centred, with a margin."""
    im = Image.new("L", (S, S), 0)
    d = ImageDraw.Draw(im)
    c, r = S / 2, S * 0.42
    if family == "ellipse":
        e = rng.uniform(0.35, 1.0)
        d.ellipse([c - r, c - r * e, c + r, c + r * e], fill=255)
    elif family == "ngon":
        d.polygon(_star_points(c, c, r, int(rng.integers(3, 9)), rng.uniform(0, math.pi)), fill=255)
    elif family == "roundrect":
        e = rng.uniform(0.3, 1.0)
        rad = rng.uniform(0.0, 0.45) * r * e
        d.rounded_rectangle([c - r, c - r * e, c + r, c + r * e], radius=rad, fill=255)
    elif family == "capsule":  # thin and elongated
        e = rng.uniform(0.08, 0.25)
        d.rounded_rectangle([c - r, c - r * e, c + r, c + r * e], radius=r * e * rng.uniform(0.2, 1.0), fill=255)
    elif family == "ring":
        e = rng.uniform(0.6, 1.0)
        hole = rng.uniform(0.35, 0.75)
        d.ellipse([c - r, c - r * e, c + r, c + r * e], fill=255)
        d.ellipse([c - r * hole, c - r * e * hole, c + r * hole, c + r * e * hole], fill=0)
    elif family == "frame":
        e = rng.uniform(0.5, 1.0)
        hole = rng.uniform(0.4, 0.75)
        d.rectangle([c - r, c - r * e, c + r, c + r * e], fill=255)
        d.rectangle([c - r * hole, c - r * e * hole, c + r * hole, c + r * e * hole], fill=0)
    elif family == "crescent":
        d.ellipse([c - r, c - r, c + r, c + r], fill=255)
        off = rng.uniform(0.35, 0.8) * r
        r2 = r * rng.uniform(0.8, 1.0)
        d.ellipse([c - r2 + off, c - r2, c + r2 + off, c + r2], fill=0)
    elif family == "cross":
        t = rng.uniform(0.15, 0.35) * r
        d.rectangle([c - r, c - t, c + r, c + t], fill=255)
        d.rectangle([c - t, c - r, c + t, c + r], fill=255)
    elif family == "arrow":
        t = rng.uniform(0.12, 0.3) * r
        head = rng.uniform(0.3, 0.55) * r
        d.rectangle([c - r, c - t, c + r - head, c + t], fill=255)
        d.polygon([(c + r - head, c - 2.2 * t - 0.1 * r), (c + r, c), (c + r - head, c + 2.2 * t + 0.1 * r)], fill=255)
    elif family == "heart":
        pts = []
        for k in range(64):
            a = 2 * math.pi * k / 64
            hx = 16 * math.sin(a) ** 3
            hy = 13 * math.cos(a) - 5 * math.cos(2 * a) - 2 * math.cos(3 * a) - math.cos(4 * a)
            pts.append((c + hx / 17 * r, c - hy / 17 * r))
        d.polygon(pts, fill=255)
    elif family == "polyomino":  # 3-6 grid squares grown from one
        cells = {(0, 0)}
        for _ in range(int(rng.integers(2, 6))):
            x, y = list(cells)[int(rng.integers(len(cells)))]
            dx, dy = [(1, 0), (-1, 0), (0, 1), (0, -1)][int(rng.integers(4))]
            cells.add((x + dx, y + dy))
        xs, ys = [p[0] for p in cells], [p[1] for p in cells]
        n = max(max(xs) - min(xs), max(ys) - min(ys)) + 1
        cell = 2 * r / n
        ox = c - (max(xs) - min(xs) + 1) * cell / 2
        oy = c - (max(ys) - min(ys) + 1) * cell / 2
        for x, y in cells:
            x0, y0 = ox + (x - min(xs)) * cell, oy + (y - min(ys)) * cell
            d.rectangle([x0, y0, x0 + cell, y0 + cell], fill=255)
    elif family == "glyph":
        font = ImageFont.load_default(size=int(S * 0.8))
        ch = GLYPHS[int(rng.integers(len(GLYPHS)))]
        x0, y0, x1, y1 = d.textbbox((0, 0), ch, font=font)
        d.text((c - (x0 + x1) / 2, c - (y0 + y1) / 2), ch, fill=255, font=font)
    else:  # "blob": a radius that is a sum of a few sinusoids of the angle
        k = int(rng.integers(2, 6))
        amps = rng.uniform(0.05, 0.3, k) / np.arange(1, k + 1) ** 0.5
        phases = rng.uniform(0, 2 * math.pi, k)
        pts = []
        for i in range(96):
            a = 2 * math.pi * i / 96
            rr = 1 + float(np.sum(amps * np.sin(np.arange(2, k + 2) * a + phases)))
            pts.append((c + r * 0.8 * rr * math.cos(a), c + r * 0.8 * rr * math.sin(a)))
        d.polygon(pts, fill=255)
    return im


def _surface(rng, alpha: Image.Image, colour: np.ndarray) -> np.ndarray:
    """float32 [S, S, 3]: the sprite's paint, defined over the whole patch (so warping it leaves no
    dark fringe): flat, lit (a ramp of brightness), outlined (a rim of another colour), or two-tone."""
    S = alpha.size[0]
    x, y = _grid(S, S)
    style = rng.choice(["flat", "lit", "outline", "pattern"], p=[0.4, 0.25, 0.15, 0.2])
    img = np.broadcast_to(colour, (S, S, 3)).astype(np.float32).copy()
    if style == "lit":
        ang = rng.uniform(0, 2 * math.pi)
        t = (x - 0.5) * math.cos(ang) + (y - 0.5) * math.sin(ang)
        img *= (1 + rng.uniform(0.3, 0.9) * t)[..., None]
    elif style == "outline":
        width = max(3, int(S * rng.uniform(0.03, 0.08))) | 1
        inner = np.asarray(alpha.filter(ImageFilter.MinFilter(width)), np.float32)[..., None] / 255
        rim = colour * rng.uniform(0.2, 0.5) if rng.random() < 0.6 else _colour(rng)
        img = img * inner + rim * (1 - inner)
    elif style == "pattern":
        other = _colour(rng)
        kind = rng.choice(["dots", "stripes", "checks"])
        n = rng.uniform(3, 9)
        if kind == "dots":
            u, v = (x * n) % 1 - 0.5, (y * n) % 1 - 0.5
            m = (u * u + v * v < rng.uniform(0.04, 0.12))
        elif kind == "stripes":
            m = ((x + y * rng.uniform(-1, 1)) * n) % 1 < 0.5
        else:
            m = ((np.floor(x * n) + np.floor(y * n)) % 2) == 0
        img = np.where(m[..., None], other, img)
    return np.clip(img, 0, 1).astype(np.float32)


class _Sprite:
    """One object: its patch, its path over the clip and its per-frame warp."""

    def __init__(self, rng, H: int, W: int, T: int, area: float, family: str, colour: np.ndarray):
        self.S = S = 192 if family != "capsule" else 256
        self.alpha = _shape_alpha(rng, family, S)
        cover = max(float(np.asarray(self.alpha, np.float32).mean() / 255), 0.02)
        paint = _surface(rng, self.alpha, colour)
        self.rgba = Image.fromarray(np.concatenate(
            [(paint * 255 + 0.5).astype(np.uint8), np.asarray(self.alpha)[..., None]], axis=2), "RGBA")
        self.scale0 = math.sqrt(area * H * W / (cover * S * S))  # screen px per patch px
        diag = math.hypot(H, W)
        speed = diag * float(np.exp(rng.uniform(math.log(0.002), math.log(0.04)))) if rng.random() > 0.1 else 0.0
        heading = rng.uniform(0, 2 * math.pi)
        self.pos = np.zeros((T, 2), np.float32)
        p = np.array([rng.uniform(0.1, 0.9) * W, rng.uniform(0.1, 0.9) * H], np.float32)
        v = np.array([math.cos(heading), math.sin(heading)], np.float32) * speed
        turn = rng.uniform(-0.15, 0.15) if rng.random() < 0.4 else 0.0
        for t in range(T):  # bounce off the frame's edges (centre kept inside)
            self.pos[t] = p
            c, s = math.cos(turn), math.sin(turn)
            v = np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]], np.float32)
            p = p + v
            for k, lim in ((0, W), (1, H)):
                if p[k] < 0 or p[k] > lim:
                    v[k] = -v[k]
                    p[k] = np.clip(p[k], 0, lim)
        self.angle0 = rng.uniform(0, 2 * math.pi)
        self.spin = 0.0 if rng.random() < 0.35 else rng.uniform(-0.12, 0.12)
        self.pulse = (rng.uniform(0, 0.3) if rng.random() < 0.5 else 0.0, rng.uniform(0.1, 0.6), rng.uniform(0, 6.3))
        self.squash = (rng.uniform(0, 0.2) if rng.random() < 0.3 else 0.0, rng.uniform(0.1, 0.8), rng.uniform(0, 6.3))
        self.shadow = rng.random() < 0.35
        self.shadow_off = rng.uniform(-0.08, 0.08, 2) * math.sqrt(area * H * W) + 2

    def warp(self, t: int, H: int, W: int, dx: float = 0.0, dy: float = 0.0):
        """(rgb float [H, W, 3], alpha float [H, W]) of frame t."""
        a = self.angle0 + self.spin * t
        k = self.scale0 * math.exp(self.pulse[0] * math.sin(self.pulse[1] * t + self.pulse[2]))
        q = self.squash[0] * math.sin(self.squash[1] * t + self.squash[2])
        sx, sy = k * math.exp(q), k * math.exp(-q)
        px, py = float(self.pos[t, 0]) + dx, float(self.pos[t, 1]) + dy
        ca, sa = math.cos(a), math.sin(a)
        m00, m01, m10, m11 = ca / sx, sa / sx, -sa / sy, ca / sy
        h = self.S / 2
        coeffs = (m00, m01, h - m00 * px - m01 * py, m10, m11, h - m10 * px - m11 * py)
        out = np.asarray(self.rgba.transform((W, H), Image.Transform.AFFINE, coeffs,
                                             resample=Image.Resampling.BILINEAR), np.float32) / 255
        return out[..., :3], out[..., 3]


# ---------------------------------------------------------------------------------------------
# A clip

def generate_scene(seed: int, num_frames: int = 16, num_objects: tuple[int, int] = (1, 3),
                   frame_shape: tuple[int, int] | None = None) -> Scene:
    """A clip of `num_frames` frames with 1-3 tracked objects (ids 1..K in z-order of tracking, not
    of drawing) and 0-3 untracked distractors. `frame_shape` (W, H) overrides the drawn shape."""
    rng = np.random.default_rng([seed, 2028])
    W, H = frame_shape or FRAME_SHAPES[0][rng.choice(len(FRAME_SHAPES[0]), p=FRAME_SHAPES[1])]
    T = num_frames
    for _attempt in range(20):
        scene = _attempt_scene(rng, H, W, T, int(rng.integers(num_objects[0], num_objects[1] + 1)))
        if scene is not None:
            frames, masks, K = scene
            return Scene(frames, masks, K, seed)
    raise RuntimeError(f"scenes: no valid scene for seed {seed}")


def _attempt_scene(rng, H: int, W: int, T: int, K: int):
    pan = rng.uniform(-1.5, 1.5, 2) if rng.random() < 0.4 else np.zeros(2)
    margin = int(math.ceil(np.abs(pan).max() * T)) + 2
    bg = _background(rng, H + 2 * margin, W + 2 * margin)
    bg_mean = bg.reshape(-1, 3).mean(0)
    sprites, tracked = [], []
    for i in range(K):
        area = float(np.exp(rng.uniform(math.log(AREA_RANGE[0]), math.log(AREA_RANGE[1]))))
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
        colour = _contrasting(rng, bg_mean, 0.25 if rng.random() < 0.85 else 0.08)
        sprites.append(_Sprite(rng, H, W, T, area, family, colour))
        tracked.append((family, colour, area))
    for _ in range(int(rng.choice([0, 1, 2, 3], p=[0.3, 0.35, 0.2, 0.15]))):
        if tracked and rng.random() < 0.4:  # a look-alike of a tracked object
            family, colour, area = tracked[int(rng.integers(len(tracked)))]
            area *= rng.uniform(0.6, 1.5)
        else:
            family = FAMILIES[int(rng.integers(len(FAMILIES)))]
            colour = _contrasting(rng, bg_mean, 0.15)
            area = float(np.exp(rng.uniform(math.log(0.005), math.log(0.2))))
        sprites.append(_Sprite(rng, H, W, T, area, family, colour))
    ids = list(range(1, K + 1)) + [0] * (len(sprites) - K)
    order = rng.permutation(len(sprites))
    gain = (rng.uniform(0, 0.25) if rng.random() < 0.5 else 0.0, rng.uniform(0.05, 0.4), rng.uniform(0, 6.3))
    light_dir = rng.uniform(0, 2 * math.pi)
    light = rng.uniform(0, 0.35) if rng.random() < 0.4 else 0.0
    x, y = _grid(H, W)
    light_map = (1 + light * ((x - 0.5) * math.cos(light_dir) + (y - 0.5) * math.sin(light_dir)))[..., None]
    noise = rng.uniform(0, 0.02) if rng.random() < 0.7 else 0.0
    blur = rng.uniform(0.4, 1.2) if rng.random() < 0.2 else 0.0
    jpeg = int(rng.integers(50, 93)) if rng.random() < 0.5 else 0
    frames = np.zeros((T, H, W, 3), np.uint8)
    masks = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        ox, oy = margin + pan[0] * t, margin + pan[1] * t
        canvas = bg[int(round(oy)):int(round(oy)) + H, int(round(ox)):int(round(ox)) + W].copy()
        labels = np.zeros((H, W), np.uint8)
        for j in order:
            rgb, alpha = sprites[j].warp(t, H, W)
            if sprites[j].shadow:
                sdx, sdy = sprites[j].shadow_off
                _, sh = sprites[j].warp(t, H, W, sdx, sdy)
                sh = np.asarray(Image.fromarray((sh * 255).astype(np.uint8)).filter(
                    ImageFilter.GaussianBlur(3)), np.float32) / 255
                canvas *= (1 - 0.45 * sh)[..., None]
            canvas = canvas * (1 - alpha[..., None]) + rgb * alpha[..., None]
            inside = alpha >= 0.5
            labels[inside] = ids[j]
        canvas = canvas * light_map * (1 + gain[0] * math.sin(gain[1] * t + gain[2]))
        if noise:
            canvas = canvas + rng.normal(0, noise, canvas.shape).astype(np.float32)
        im = Image.fromarray((np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8))
        if blur:
            im = im.filter(ImageFilter.GaussianBlur(blur))
        if jpeg:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=jpeg)
            im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        frames[t] = np.asarray(im)
        masks[t] = labels
        if t == 0:  # every tracked object must show on frame 0
            for k in range(1, K + 1):
                if (labels == k).mean() < MIN_VISIBLE:
                    return None
    return frames, masks, K


# ---------------------------------------------------------------------------------------------

PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128]


def _write(scene: Scene, out: str) -> None:
    d = os.path.join(out, f"scene_{scene.seed}")
    os.makedirs(d, exist_ok=True)
    for t in range(len(scene.frames)):
        Image.fromarray(scene.frames[t]).save(os.path.join(d, f"{t:05d}.jpg"), quality=95)
        m = Image.fromarray(scene.masks[t], "P")
        m.putpalette(PALETTE + [0] * (768 - len(PALETTE)))
        m.save(os.path.join(d, f"{t:05d}.png"))


def _check() -> int:
    failures = 0
    start = time.time()
    areas = []
    for seed in range(40):
        a = generate_scene(seed, 8)
        b = generate_scene(seed, 8)
        if not (np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)):
            print(f"seed {seed}: not deterministic")
            failures += 1
        for k in range(1, a.num_objects + 1):
            frac = float((a.masks[0] == k).mean())
            areas.append(frac)
            if frac < MIN_VISIBLE:
                print(f"seed {seed}: object {k} shows {frac:.4f} of frame 0")
                failures += 1
        if a.masks.max() > a.num_objects:
            print(f"seed {seed}: label above the object count")
            failures += 1
    per = (time.time() - start) / 80
    print(f"40 scenes x 2 (8 frames): {per * 1000:.0f} ms a scene; frame-0 object areas "
          f"{min(areas):.4f}-{max(areas):.3f} (median {float(np.median(areas)):.3f}); failures {failures}")
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.check:
        return _check()
    if not args.out:
        ap.error("--out or --check")
    for seed in range(args.seed, args.seed + args.clips):
        s = generate_scene(seed, args.frames)
        _write(s, args.out)
        print(f"scene_{seed}: {s.frames.shape[2]}x{s.frames.shape[1]}, {s.num_objects} objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
