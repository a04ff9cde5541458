#!/usr/bin/env python3
"""evalgen: a second, independent clip generator, used ONLY to evaluate models (never for training).

Written apart from Tools/synth/synth.py on purpose, so that a model trained on synth's clips is also
measured on clips of a different make: shapes are signed-distance functions rasterised with numpy
(no polygon drawing), paints are analytic patterns, backgrounds are analytic fields that can pan,
motion is a constant drift folded back at the walls plus a wobble, and lighting drifts over the clip.

    clip = render(seed)            # frames [T, H, W, 3] uint8, labels [T, H, W] uint8, info dict
    save(clip, "/tmp/evalgen/clip_1")

Command line (same folder layout as synth.py, so Tools/eval reads both):
    python Tools/evalgen/evalgen.py --out /tmp/evalgen --first 1 --count 20
writes OUT/clip_<seed>/video.mp4, gt/00000.png.. (palette PNGs, value = object id) and prompts.json.
Needs numpy, Pillow (for the PNGs) and the ffmpeg CLI.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

FRAME_SIZES = [(320, 240), (320, 240), (320, 240), (352, 288), (240, 320), (400, 224), (288, 288)]
CLIP_FRAMES = 40
FPS = 25


# ---------------------------------------------------------------- shapes: signed distance in pixels
# Each takes local coordinates u, v (pixels, object frame: centred, unrotated) and the object's
# parameters; negative inside. The labels come from the sign, the anti-aliasing from the value.

def sd_ellipse(u, v, p):
    a, b = p["a"], p["b"]
    k = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    return (k - 1.0) * min(a, b)


def sd_box(u, v, p):
    qx, qy = np.abs(u) - p["a"] + p["r"], np.abs(v) - p["b"] + p["r"]
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0) - p["r"]


def sd_ring(u, v, p):  # an annulus: a shape with a hole
    return np.abs(np.hypot(u, v) - p["a"]) - p["w"]


def sd_frame(u, v, p):  # a rectangle with a rectangular hole
    outer = np.maximum(np.abs(u) - p["a"], np.abs(v) - p["b"])
    inner = np.maximum(np.abs(u) - p["a"] + p["w"], np.abs(v) - p["b"] + p["w"])
    return np.maximum(outer, -inner)


def sd_capsule(u, v, p):  # thin and elongated
    x = np.clip(u, -p["a"], p["a"])
    return np.hypot(u - x, v) - p["w"]


def sd_cross(u, v, p):
    bar1 = np.maximum(np.abs(u) - p["a"], np.abs(v) - p["w"])
    bar2 = np.maximum(np.abs(u) - p["w"], np.abs(v) - p["a"])
    return np.minimum(bar1, bar2)


def sd_crescent(u, v, p):
    outer = np.hypot(u, v) - p["a"]
    bite = np.hypot(u - p["a"] * 0.55, v) - p["a"] * 0.8
    return np.maximum(outer, -bite)


def sd_star(u, v, p):
    ang = np.arctan2(v, u)
    rad = np.hypot(u, v)
    edge = p["a"] * (1.0 + p["depth"] * np.cos(p["n"] * ang)) / (1.0 + p["depth"])
    return (rad - edge) * 0.7


def sd_triangle(u, v, p):
    a = p["a"]
    d = -1e9
    for k in range(3):
        t = 2 * np.pi * k / 3 + np.pi / 2
        d = np.maximum(d, u * np.cos(t) + v * np.sin(t) - a * 0.5)
    return d


SHAPE_FUNCS = {
    "ellipse": sd_ellipse, "box": sd_box, "ring": sd_ring, "frame": sd_frame, "capsule": sd_capsule,
    "cross": sd_cross, "crescent": sd_crescent, "star": sd_star, "triangle": sd_triangle,
}


def shape_params(gen, kind, radius):
    """Parameters giving roughly `radius` pixels of extent."""
    r = radius
    if kind == "ellipse":
        return {"a": r, "b": r * gen.uniform(0.35, 1.0)}
    if kind == "box":
        return {"a": r, "b": r * gen.uniform(0.3, 1.0), "r": r * gen.uniform(0.0, 0.3)}
    if kind == "ring":
        return {"a": r * 0.7, "w": r * gen.uniform(0.15, 0.3)}
    if kind == "frame":
        b = r * gen.uniform(0.6, 1.0)
        return {"a": r, "b": b, "w": b * gen.uniform(0.3, 0.5)}
    if kind == "capsule":
        return {"a": r, "w": r * gen.uniform(0.08, 0.22)}
    if kind == "cross":
        return {"a": r, "w": r * gen.uniform(0.18, 0.35)}
    if kind == "crescent":
        return {"a": r}
    if kind == "star":
        return {"a": r, "n": int(gen.integers(3, 8)), "depth": gen.uniform(0.2, 0.5)}
    return {"a": r * 1.2}  # triangle


# ---------------------------------------------------------------- paints and backgrounds

def random_rgb(gen, lo=20, hi=235):
    return gen.uniform(lo, hi, 3)


class Paint:
    """An object's appearance as a function of its local coordinates (it moves with the object)."""

    def __init__(self, gen, radius):
        self.kind = gen.choice(["flat", "flat", "two_tone", "bands", "dots", "shade", "marble"])
        self.c1 = random_rgb(gen)
        self.c2 = random_rgb(gen)
        self.period = radius * gen.uniform(0.25, 0.7)
        self.phase = gen.uniform(0, 2 * np.pi, 3)
        self.radius = radius

    def __call__(self, u, v):
        if self.kind == "flat":
            w = np.zeros_like(u)
        elif self.kind == "two_tone":
            w = (u * np.cos(self.phase[0]) + v * np.sin(self.phase[0]) > 0).astype(np.float64)
        elif self.kind == "bands":
            w = 0.5 + 0.5 * np.sign(np.sin(np.hypot(u, v) * 2 * np.pi / self.period + self.phase[1]))
        elif self.kind == "dots":
            cu = np.mod(u, self.period) - self.period / 2
            cv = np.mod(v, self.period) - self.period / 2
            w = (np.hypot(cu, cv) < self.period * 0.3).astype(np.float64)
        elif self.kind == "shade":
            w = np.clip(0.5 + 0.5 * (u + v) / (1.5 * self.radius), 0, 1)
        else:
            w = 0.5 + 0.25 * (np.sin(u / self.period * 3 + self.phase[0]) + np.sin(v / self.period * 2 + 3 * np.sin(u / self.period) + self.phase[2]))
        return self.c1[None, None, :] * (1 - w[..., None]) + self.c2[None, None, :] * w[..., None]


class Backdrop:
    """An analytic background field; `at(t)` gives the frame-t background (it may pan)."""

    def __init__(self, gen, width, height):
        self.width, self.height = width, height
        self.kind = gen.choice(["plain", "linear", "radial", "plasma", "tiles", "bokeh"])
        self.c1, self.c2 = random_rgb(gen), random_rgb(gen)
        self.angle = gen.uniform(0, 2 * np.pi)
        self.freqs = gen.uniform(0.005, 0.04, (3, 2))
        self.phases = gen.uniform(0, 2 * np.pi, 3)
        self.tile = gen.uniform(16, 60)
        self.pan = gen.uniform(-1.5, 1.5, 2) if gen.random() < 0.5 else np.zeros(2)
        self.discs = [(gen.uniform(-50, width + 50), gen.uniform(-50, height + 50), gen.uniform(8, 50),
                       random_rgb(gen)) for _ in range(int(gen.integers(6, 16)))]

    def at(self, t):
        ys, xs = np.mgrid[0:self.height, 0:self.width].astype(np.float64)
        xs = xs + self.pan[0] * t
        ys = ys + self.pan[1] * t
        if self.kind == "plain":
            w = np.zeros_like(xs)
        elif self.kind == "linear":
            d = xs * np.cos(self.angle) + ys * np.sin(self.angle)
            w = (d - d.min()) / max(d.max() - d.min(), 1.0)
        elif self.kind == "radial":
            w = np.clip(np.hypot(xs - self.width / 2, ys - self.height / 2) / (0.7 * max(self.width, self.height)), 0, 1)
        elif self.kind == "plasma":
            w = sum(np.sin(xs * f[0] + ys * f[1] + ph) for f, ph in zip(self.freqs, self.phases))
            w = (w + 3) / 6
        elif self.kind == "tiles":
            w = 0.35 * ((np.floor(xs / self.tile) + np.floor(ys / self.tile)) % 2)
        else:
            w = np.zeros_like(xs)
        img = self.c1[None, None, :] * (1 - w[..., None]) + self.c2[None, None, :] * w[..., None]
        if self.kind == "bokeh":
            for cx, cy, r, col in self.discs:
                a = np.clip((r - np.hypot(xs - cx, ys - cy)) / (0.4 * r), 0, 1)[..., None] * 0.6
                img = img * (1 - a) + col[None, None, :] * a
        return img


# ---------------------------------------------------------------- actors and their motion

def fold(x, lo, hi):
    """Folds x back into [lo, hi] as a ball bouncing between two walls."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, (lo + hi) / 2)
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


class Actor:
    def __init__(self, gen, width, height, area_frac, tracked, may_leave):
        self.kind = str(gen.choice(list(SHAPE_FUNCS)))
        radius = np.sqrt(area_frac * width * height / np.pi)
        if self.kind in ("capsule", "cross", "ring", "frame"):
            radius *= 1.5  # these cover less of their extent
        self.params = shape_params(gen, self.kind, radius)
        self.extent = radius * 1.3
        self.paint = Paint(gen, radius)
        self.tracked = tracked
        self.start = np.array([gen.uniform(0.15, 0.85) * width, gen.uniform(0.15, 0.85) * height])
        speed = gen.uniform(0.5, 5.0)
        heading = gen.uniform(0, 2 * np.pi)
        self.velocity = speed * np.array([np.cos(heading), np.sin(heading)])
        self.wobble = gen.uniform(0, 12, 2)
        self.wobble_freq = gen.uniform(0.05, 0.3, 2)
        self.wobble_phase = gen.uniform(0, 2 * np.pi, 2)
        self.theta0 = gen.uniform(0, 2 * np.pi)
        self.spin = gen.uniform(-0.08, 0.08)
        self.pulse = gen.uniform(0, 0.2)
        self.pulse_freq = gen.uniform(0.05, 0.2)
        margin = -self.extent * 1.2 if may_leave else self.extent * 0.5
        self.bounds = (margin, width - margin, margin, height - margin)

    def pose(self, t):
        raw = self.start + self.velocity * t + self.wobble * np.sin(self.wobble_freq * t + self.wobble_phase)
        x = float(fold(np.array(raw[0]), self.bounds[0], self.bounds[1]))
        y = float(fold(np.array(raw[1]), self.bounds[2], self.bounds[3]))
        scale = 1.0 + self.pulse * np.sin(self.pulse_freq * t)
        return x, y, self.theta0 + self.spin * t, scale

    def field(self, t, xs, ys):
        """Signed distance (pixels) and local coordinates over the pixel grid xs, ys."""
        x, y, theta, scale = self.pose(t)
        dx, dy = xs - x, ys - y
        c, s = np.cos(theta), np.sin(theta)
        u = (c * dx + s * dy) / scale
        v = (-s * dx + c * dy) / scale
        return SHAPE_FUNCS[self.kind](u, v, self.params) * scale, u, v


# ---------------------------------------------------------------- the clip

def plan(gen, width, height):
    count = int(gen.integers(1, 4))
    areas = np.exp(gen.uniform(np.log(0.01), np.log(0.25), count))
    leaver = int(gen.integers(count)) if gen.random() < 0.25 else -1
    actors = [Actor(gen, width, height, a, True, i == leaver) for i, a in enumerate(areas)]
    if gen.random() < 0.3:
        actors.append(Actor(gen, width, height, gen.uniform(0.01, 0.1), False, True))
    order = gen.permutation(len(actors))  # painting order (last on top)
    return actors, order


def draw(actors, order, backdrop, t, width, height, gain):
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    img = backdrop.at(t)
    labels = np.zeros((height, width), np.uint8)
    for k in order:
        actor = actors[k]
        sd, u, v = actor.field(t, xs, ys)
        cover = np.clip(0.5 - sd, 0.0, 1.0)[..., None]
        img = img * (1 - cover) + actor.paint(u, v) * cover
        labels[sd < 0] = (k + 1) if actor.tracked else 0
    return np.clip(img * gain, 0, 255), labels


def render(seed, frames=CLIP_FRAMES):
    """One clip: dict(frames [T,H,W,3] uint8, labels [T,H,W] uint8, info)."""
    gen = np.random.default_rng([7, seed])
    width, height = FRAME_SIZES[int(gen.integers(len(FRAME_SIZES)))]
    backdrop = Backdrop(gen, width, height)
    for _ in range(100):
        actors, order = plan(gen, width, height)
        _, lab0 = draw(actors, order, backdrop, 0, width, height, 1.0)
        good = True
        for k, actor in enumerate(actors):
            if not actor.tracked:
                continue
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
            whole = np.count_nonzero(actor.field(0, xs, ys)[0] < 0)
            shown = np.count_nonzero(lab0 == k + 1)
            if shown < 0.005 * width * height or shown < 0.7 * whole:
                good = False
        if good:
            break
    else:
        raise RuntimeError(f"seed {seed}: no frame-0 layout with every object in view")
    # tracked objects get ids 1..K in creation order; the distractor (if any) stays 0
    lighting = 1.0 + gen.uniform(-0.2, 0.2) * np.linspace(0, 1, frames) + gen.uniform(0, 0.05) * np.sin(np.arange(frames) * gen.uniform(0.1, 0.5))
    noise = gen.uniform(0, 4)
    video = np.zeros((frames, height, width, 3), np.uint8)
    labels = np.zeros((frames, height, width), np.uint8)
    for t in range(frames):
        img, lab = draw(actors, order, backdrop, t, width, height, lighting[t])
        img = img + gen.normal(0, noise, img.shape)
        video[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        labels[t] = lab
    info = {"size": [width, height], "num_frames": frames, "fps": FPS, "seed": seed, "generator": "evalgen",
            "background": backdrop.kind,
            "objects": {str(k + 1): {"shape": a.kind, "paint": a.paint.kind} for k, a in enumerate(actors) if a.tracked}}
    return {"frames": video, "labels": labels, "info": info}


# ---------------------------------------------------------------- prompts and files

def chamfer_inside(mask):
    """Approximate distance of each pixel to the outside (3-4 chamfer, two passes), in pixels."""
    h, w = mask.shape
    big = 10 ** 6
    d = np.where(np.pad(mask, 1), big, 0).astype(np.int64)
    for y in range(1, h + 1):
        row = d[y]
        np.minimum(row, np.minimum(d[y - 1] + 3, np.minimum(np.roll(d[y - 1], 1) + 4, np.roll(d[y - 1], -1) + 4)), out=row)
        for x in range(1, w + 1):
            if row[x - 1] + 3 < row[x]:
                row[x] = row[x - 1] + 3
    for y in range(h, 0, -1):
        row = d[y]
        np.minimum(row, np.minimum(d[y + 1] + 3, np.minimum(np.roll(d[y + 1], 1) + 4, np.roll(d[y + 1], -1) + 4)), out=row)
        for x in range(w, 0, -1):
            if row[x + 1] + 3 < row[x]:
                row[x] = row[x + 1] + 3
    return d[1:-1, 1:-1] / 3.0


def prompts_for(mask):
    """Box (x1, y1 exclusive) and the deepest interior pixel as the click."""
    ys, xs = np.nonzero(mask)
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    sub = mask[box[1]:box[3], box[0]:box[2]]
    depth = chamfer_inside(sub)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return {"box": box, "points": [[int(x) + box[0], int(y) + box[1]]], "labels": [1]}


def save(clip, folder):
    from PIL import Image
    os.makedirs(os.path.join(folder, "gt"), exist_ok=True)
    video, labels, info = clip["frames"], clip["labels"], clip["info"]
    t, h, w, _ = video.shape
    tmp = os.path.join(folder, "video.tmp.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-r", str(info["fps"]), "-i", "-", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p",
                    "-threads", "1", tmp], input=video.tobytes(), check=True)
    os.replace(tmp, os.path.join(folder, "video.mp4"))
    palette = [0, 0, 0, 255, 60, 60, 60, 200, 80, 70, 110, 255, 240, 200, 40, 200, 70, 220] + [128] * (768 - 18)
    for i in range(t):
        png = Image.fromarray(labels[i], mode="P")
        png.putpalette(palette)
        png.save(os.path.join(folder, "gt", f"{i:05d}.png"))
    meta = dict(info)
    meta["objects"] = {k: dict(v, **prompts_for(labels[0] == int(k))) for k, v in info["objects"].items()}
    with open(os.path.join(folder, "prompts.json.tmp"), "w") as fh:
        json.dump(meta, fh, indent=1)
    os.replace(os.path.join(folder, "prompts.json.tmp"), os.path.join(folder, "prompts.json"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--first", type=int, default=1, help="first seed")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--frames", type=int, default=CLIP_FRAMES)
    a = ap.parse_args()
    for seed in range(a.first, a.first + a.count):
        folder = os.path.join(a.out, f"clip_{seed}")
        if os.path.exists(os.path.join(folder, "prompts.json")):
            continue
        clip = render(seed, a.frames)
        save(clip, folder)
        info = clip["info"]
        print(f"clip_{seed}: {info['size'][0]}x{info['size'][1]} {info['background']:>6} "
              + ", ".join(f"{o['shape']}/{o['paint']}" for o in info["objects"].values()), file=sys.stderr)


if __name__ == "__main__":
    main()
