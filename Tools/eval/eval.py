#!/usr/bin/env python3
"""Accuracy harness: DAVIS-style J (region IoU) and F (boundary F-measure) of samtrack and of the
official PyTorch SAM2VideoPredictor, with the same checkpoint, on held-out generated clips with
exact ground truth: `--set synth` (default), clips of the training generator Tools/synth/synth.py,
seeds 900000.. (the training script never uses them: its seeds are `seed * 1e6 + step`, far
below); `--set evalgen`, clips of Tools/evalgen/evalgen.py, a generator written apart that no
training ever sees, seeds 1..; `--set camo`, the training generator's low-contrast "camo" clips
(objects in the background's mean colour), a domain the default model was never trained on, held-out
seeds 5900000.. (Tools/eval/finetune_gain.sh fine-tunes on seeds 5000000.. of it); `--set halo`, the
training generator's "halo" clips (each object has a dark rim 3-6 px wide that the ground truth leaves
out), held-out seeds 5950000.. (finetune_gain.sh DOMAIN=halo fine-tunes on seeds 5050000..).

For each clip (generated into --clips when missing): the objects are prompted on frame 0 with one
of (`--prompt`, a comma-separated list runs several):
  mask     the ground-truth mask (the DAVIS semi-supervised protocol; the default);
  box      the tight box of the frame-0 ground-truth mask;
  click    one positive click at the object's deepest pixel (farthest from its boundary); a single
           click on a conditioning frame gives three candidate masks in both systems, and the one
           with the highest predicted IoU is kept (SAM2Base._use_multimask / forwardSAMHeads);
  clicks3  three positive clicks given at once: the deepest pixel, then twice the pixel at least
           half as deep that is farthest from the clicks so far (one mask, no multimask);
  points   the 1-3 points in the clip's prompts.json (synth clips);
then
  - samtrack: `samtrack track video.mp4 --format palette --overwrite` (its DAVIS palette PNGs are
    read back; --overwrite: the same clip's earlier run, e.g. with another model, is replaced);
  - official: the sam2 package's predictor on the same decoded frames (the ffmpeg command that
    samtrack's preprocessing is byte-identical to), masks = logits > 0, overlaps resolved as
    samtrack's palette writer does (the object with the higher object score on top).
Both run without hole filling (`--fill-holes 0`; the official filling needs CUDA).

usage:
  Tools/eval/eval.py --model Fixtures/models/synth.pt            # 20 clips, both implementations
  Tools/eval/eval.py --model M --prompt mask,box,click,clicks3 --set evalgen
  Tools/eval/eval.py --model M --count 5 --prompt box --skip-official --json results.json
The samtrack binary is --samtrack, else $SAMTRACK_BIN, else .build/release/samtrack.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

os.environ.setdefault("TQDM_DISABLE", "1")  # the predictor's progress bars
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "Tools", "synth"))
sys.path.insert(0, os.path.join(REPO, "Tools", "reference"))
sys.path.insert(0, os.path.join(REPO, "Tools", "evalgen"))

import davis_metrics  # noqa: E402
import synth  # noqa: E402

EVAL_SEED = 900000  # --set synth
EVALGEN_SEED = 1  # --set evalgen
CAMO_SEED = 5_900_000  # --set camo (synth.CAMO_SEEDS)
HALO_SEED = 5_950_000  # --set halo (synth.HALO_SEEDS)
PROMPTS = ("mask", "box", "click", "clicks3", "points")


def ensure_clip(clips_dir, seed, frames, size, clip_set="synth"):
    """The clip directory for `seed`, generated (deterministically) when missing."""
    path = os.path.join(clips_dir, f"clip_{seed}")
    if not os.path.exists(os.path.join(path, "prompts.json")):
        if clip_set == "evalgen":
            import evalgen
            evalgen.save(evalgen.render(seed, frames), path)
        else:
            clip = synth.generate_clip(seed, num_frames=frames, size=size,
                                       difficulty=clip_set if clip_set in ("camo", "halo") else "eval")
            synth.write_clip(clip, path)
    return path


def box_of(mask):
    """[x0, y0, x1, y1] of a boolean mask, x1 and y1 exclusive (as synth.py's prompts.json)."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def clicks_of(mask, count):
    """`count` positive clicks [[x, y], ...] inside a boolean mask: the deepest pixel (largest
    Euclidean distance to the outside, the first in row-major order on ties), then repeatedly the
    pixel at least half as deep as that which is farthest from the clicks chosen so far."""
    from scipy import ndimage
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    clicks = [(int(x), int(y))]
    ys, xs = np.nonzero(depth >= 0.5 * depth.max())
    for _ in range(count - 1):
        gap = np.min([np.hypot(xs - cx, ys - cy) for cx, cy in clicks], axis=0)
        i = int(np.argmax(gap))
        clicks.append((int(xs[i]), int(ys[i])))
    return [[cx, cy] for cx, cy in clicks]


def frame0_prompts(meta, clip_dir, kind):
    """{object id: prompt} for frame 0: {"mask": bool [H, W]}, {"box": [x0, y0, x1, y1]} or
    {"points": [[x, y], ...], "labels": [1, ...]}, derived from the frame-0 ground truth (the
    same for both systems)."""
    gt0 = np.array(Image.open(os.path.join(clip_dir, "gt", "00000.png")))
    out = {}
    for key, p in sorted(meta["objects"].items(), key=lambda kv: int(kv[0])):
        obj = int(key)
        mask = gt0 == obj
        if kind == "mask":
            out[obj] = {"mask": mask}
        elif kind == "box":
            out[obj] = {"box": box_of(mask)}
        elif kind in ("click", "clicks3"):
            points = clicks_of(mask, 1 if kind == "click" else 3)
            out[obj] = {"points": points, "labels": [1] * len(points)}
        else:
            out[obj] = {"points": p["points"], "labels": p["labels"]}
    return out


def read_labels(directory, frames):
    """[T, H, W] uint8 object ids from palette PNGs 00000.png..."""
    return np.stack([np.array(Image.open(os.path.join(directory, f"{t:05d}.png"))) for t in range(frames)])


def prompt_args(prompts, work):
    """samtrack's prompt options for frame 0."""
    args = []
    for obj, p in prompts.items():
        if "mask" in p:
            path = os.path.join(work, f"prompt_{obj}.png")
            Image.fromarray((p["mask"] * 255).astype(np.uint8)).save(path)
            args += ["--mask", f"{obj}:{path}"]
        elif "box" in p:
            args += ["--box", f"{obj}:" + ",".join(str(v) for v in p["box"])]
        else:
            for (x, y), label in zip(p["points"], p["labels"]):
                args += ["--point", f"{obj}:{x},{y},{label}"]
    return args


def run_samtrack(samtrack, model, clip_dir, meta, prompts, work, fill_holes, threads):
    out = os.path.join(work, "samtrack")
    cmd = [samtrack, "track", os.path.join(clip_dir, "video.mp4"), "--model", model, "--format", "palette",
           "--output", out, "--overwrite", "--fill-holes", str(fill_holes), "--quiet"] + prompt_args(prompts, work)
    if threads:
        cmd += ["--threads", str(threads)]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    return read_labels(out, meta["num_frames"]), time.time() - t0


class Official:
    """The official predictor with the checkpoint's weights (built once, reused per clip)."""

    def __init__(self, model_path, threads):
        import torch
        import micro_models
        torch.set_num_threads(threads)
        self.torch = torch
        self.model = micro_models.load_trained(model_path)
        self.size = self.model.image_size

    def frames(self, video, count):
        """Frames exactly as samtrack's preprocessing makes them, normalised as the predictor does
        (the video fixtures' own decoding and normalisation)."""
        from make_video_fixtures import decode_frames, normalise
        _, frames = decode_frames(self.size, count, source=video)
        return normalise(frames)

    def track(self, clip_dir, meta, prompts):
        import sam2.sam2_video_predictor as video_module
        torch = self.torch
        t0 = time.time()
        w, h = meta["size"]
        frames = meta["num_frames"]
        images = self.frames(os.path.join(clip_dir, "video.mp4"), frames)
        video_module.load_video_frames = lambda **kw: (images, h, w)
        with torch.inference_mode():
            state = self.model.init_state(video_path="(preloaded)")
            for obj, p in prompts.items():
                if "mask" in p:
                    self.model.add_new_mask(state, 0, obj, p["mask"])
                elif "box" in p:
                    self.model.add_new_points_or_box(state, 0, obj, box=p["box"])
                else:
                    self.model.add_new_points_or_box(state, 0, obj, points=p["points"], labels=p["labels"])
            labels = np.zeros((frames, h, w), np.uint8)
            for t, obj_ids, masks in self.model.propagate_in_video(state):
                scores = []
                for obj in obj_ids:
                    idx = state["obj_id_to_idx"][obj]
                    out = state["output_dict_per_obj"][idx]
                    entry = out["cond_frame_outputs"].get(t) or out["non_cond_frame_outputs"].get(t)
                    scores.append(float(entry["object_score_logits"].reshape(-1)[0]))
                # samtrack's palette rule: ascending score, later object wins ties; paint in order.
                order = sorted(range(len(obj_ids)), key=lambda i: (scores[i], i))
                for i in order:
                    labels[t][(masks[i, 0] > 0.0).numpy()] = obj_ids[i]
        return labels, time.time() - t0


def score(labels, gt, objects):
    """Per object (J, F) means and per-frame lists."""
    return {obj: davis_metrics.evaluate_object(labels == obj, gt == obj) for obj in objects}


def summarise(per_clip, key):
    """Dataset J, F, J&F: means over all objects of all clips."""
    j = [r[key][o]["J"] for r in per_clip for o in r[key]]
    f = [r[key][o]["F"] for r in per_clip for o in r[key]]
    return float(np.mean(j)), float(np.mean(f)), float((np.mean(j) + np.mean(f)) / 2)


def by_thirds(per_clip, key):
    """J&F over the first, middle and last third of the evaluated frames (all objects of all clips
    pooled frame by frame): where along the clips tracking degrades."""
    thirds = [[], [], []]
    for r in per_clip:
        for o in r[key].values():
            jf = (np.asarray(o["J_frames"]) + np.asarray(o["F_frames"])) / 2
            for i, part in enumerate(np.array_split(jf, 3)):
                thirds[i].extend(part.tolist())
    return [float(np.mean(t)) for t in thirds]


def evaluate(args, kind, official, systems):
    """Runs every clip with prompt `kind`; prints one line per clip; returns the per-clip records."""
    per_clip = []
    work_root = os.path.join(args.clips, "runs")
    print(f"model {args.model}, set {args.set}, prompt {kind}, {args.count} clips, "
          f"J and F over frames 1..T-2")
    header = f"{'clip':>12} {'objs':>4} " + " ".join(f"{s + ' J&F':>13} {'s':>6}" for s in systems)
    if len(systems) == 2:
        header += f" {'|diff|':>7} {'mask IoU':>9}"
    print(header)
    w, h = (int(v) for v in args.size.split("x"))
    for seed in range(args.seed, args.seed + args.count):
        clip_dir = ensure_clip(args.clips, seed, args.frames, (h, w), args.set)
        meta = json.load(open(os.path.join(clip_dir, "prompts.json")))
        gt = read_labels(os.path.join(clip_dir, "gt"), meta["num_frames"])
        objects = sorted(int(k) for k in meta["objects"])
        prompts = frame0_prompts(meta, clip_dir, kind)
        work = os.path.join(work_root, f"clip_{seed}_{kind}")
        os.makedirs(work, exist_ok=True)
        record = {"seed": seed, "objects": objects, "events": meta.get("events", {}),
                  "prompts": {o: {k: v for k, v in p.items() if k != "mask"} for o, p in prompts.items()}}
        outputs = {}
        line = f"{seed:>12} {len(objects):>4} "
        for system in systems:
            if system == "samtrack":
                labels, secs = run_samtrack(args.samtrack, args.model, clip_dir, meta, prompts, work,
                                            args.fill_holes, args.samtrack_threads)
            else:
                labels, secs = official.track(clip_dir, meta, prompts)
            outputs[system] = labels
            res = score(labels, gt, objects)
            record[system] = {o: {"J": r[0], "F": r[1], "J_frames": r[2], "F_frames": r[3]} for o, r in res.items()}
            jf = np.mean([(r[0] + r[1]) / 2 for r in res.values()])
            record[system + "_seconds"] = secs
            line += f"{jf:>13.4f} {secs:>6.1f} "
        if len(systems) == 2:
            a = record["samtrack"]
            b = record["official"]
            diff = abs(np.mean([(a[o]["J"] + a[o]["F"]) / 2 for o in objects]) -
                       np.mean([(b[o]["J"] + b[o]["F"]) / 2 for o in objects]))
            ious = [davis_metrics.region_similarity(outputs["samtrack"][t] == o, outputs["official"][t] == o)
                    for o in objects for t in range(meta["num_frames"])]
            record["agreement_iou_min"] = float(np.min(ious))
            record["agreement_iou_mean"] = float(np.mean(ious))
            line += f"{diff:>7.4f} {np.mean(ious):>9.5f}"
        print(line, flush=True)
        per_clip.append(record)

    results = {"prompt": kind, "clips": per_clip}
    for system in systems:
        j, f, jf = summarise(per_clip, system)
        thirds = by_thirds(per_clip, system)
        results[system] = {"J": j, "F": f, "J&F": jf, "J&F_by_third": thirds}
        print(f"{system:>9}: J {j:.4f}  F {f:.4f}  J&F {jf:.4f}  "
              f"({sum(len(r['objects']) for r in per_clip)} objects, {len(per_clip)} clips); "
              "J&F by third of the clip " + " / ".join(f"{v:.3f}" for v in thirds))
    if len(systems) == 2:
        delta = abs(results["samtrack"]["J&F"] - results["official"]["J&F"])
        worst = min(r["agreement_iou_min"] for r in per_clip)
        results["J&F_difference"] = delta
        print(f"J&F difference {delta:.4f}; samtrack vs official masks: mean IoU "
              f"{np.mean([r['agreement_iou_mean'] for r in per_clip]):.5f}, worst frame {worst:.5f}")
    print()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "Fixtures", "models", "synth.pt"))
    ap.add_argument("--set", choices=["synth", "evalgen", "camo", "halo"], default="synth",
                    help="clips of the training generator (held-out seeds), of the evaluation-only one, or of "
                    "the training generator's fine-tuning domains (held-out seeds): camo (low contrast), halo "
                    "(a dark rim outside the ground truth)")
    ap.add_argument("--clips", help="where the clips are (generated when missing; default "
                    "$TMPDIR/samtrack-eval-clips, samtrack-evalgen-clips, samtrack-camo-clips, samtrack-halo-clips)")
    ap.add_argument("--seed", type=int, help=f"first clip seed (default {EVAL_SEED}; {EVALGEN_SEED} for evalgen, "
                    f"{CAMO_SEED} for camo, {HALO_SEED} for halo)")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--frames", type=int, help="frames per clip (default 48; 40 for evalgen)")
    ap.add_argument("--size", default="256x256", help="synth clip size WxH (evalgen picks its own)")
    ap.add_argument("--prompt", default="mask",
                    help="frame-0 prompt, or a comma-separated list: " + ", ".join(PROMPTS))
    ap.add_argument("--samtrack", default=os.environ.get("SAMTRACK_BIN",
                                                         os.path.join(REPO, ".build", "release", "samtrack")))
    ap.add_argument("--fill-holes", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the official predictor")
    ap.add_argument("--samtrack-threads", type=int, help="samtrack --threads (default: samtrack's own)")
    ap.add_argument("--skip-official", action="store_true")
    ap.add_argument("--skip-samtrack", action="store_true")
    ap.add_argument("--json", help="write per-clip, per-object results here")
    args = ap.parse_args()
    kinds = [k.strip() for k in args.prompt.split(",") if k.strip()]
    for kind in kinds:
        if kind not in PROMPTS:
            ap.error(f"--prompt {kind}: not one of {', '.join(PROMPTS)}")
    tmp = os.environ.get("TMPDIR", "/tmp")
    if args.set == "evalgen":
        args.clips = args.clips or os.path.join(tmp, "samtrack-evalgen-clips")
        args.seed = EVALGEN_SEED if args.seed is None else args.seed
        args.frames = args.frames or 40
    elif args.set in ("camo", "halo"):
        args.clips = args.clips or os.path.join(tmp, f"samtrack-{args.set}-clips")
        args.seed = (CAMO_SEED if args.set == "camo" else HALO_SEED) if args.seed is None else args.seed
        args.frames = args.frames or 48
    else:
        args.clips = args.clips or os.path.join(tmp, "samtrack-eval-clips")
        args.seed = EVAL_SEED if args.seed is None else args.seed
        args.frames = args.frames or 48
    sidecar = os.path.splitext(args.model)[0] + ".json"
    if args.json and os.path.abspath(args.json) == os.path.abspath(sidecar):
        ap.error(f"--json {args.json} is the model's config sidecar (samtrack reads the sizes from it); "
                 "write the results elsewhere")
    os.makedirs(args.clips, exist_ok=True)
    systems = ([] if args.skip_samtrack else ["samtrack"]) + ([] if args.skip_official else ["official"])
    if not systems:
        raise SystemExit("nothing to evaluate")
    official = None if args.skip_official else Official(args.model, args.threads)

    results = {"model": args.model, "set": args.set, "first_seed": args.seed, "count": args.count, "prompts": {}}
    for kind in kinds:
        results["prompts"][kind] = evaluate(args, kind, official, systems)
    print(f"J&F by prompt ({args.set}, {args.count} clips, {args.model})")
    print(f"{'prompt':>8} " + " ".join(f"{s:>9}" for s in systems) + (f" {'|diff|':>7}" if len(systems) == 2 else ""))
    for kind in kinds:
        r = results["prompts"][kind]
        print(f"{kind:>8} " + " ".join(f"{r[s]['J&F']:>9.4f}" for s in systems)
              + (f" {r['J&F_difference']:>7.4f}" if len(systems) == 2 else ""))
    if args.json:
        tmp_path = args.json + ".tmp"
        with open(tmp_path, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
        os.replace(tmp_path, args.json)


if __name__ == "__main__":
    main()
