#!/usr/bin/env python3
"""Quick probe of the prompt path: J (IoU) of the frame-0 mask a checkpoint gives for each prompt
type, through the official SAM2VideoPredictor on frame 0 alone (its prompted-frame output, before
any tracking), against the frame-0 ground truth of the same clips and prompts as eval.py (--set
synth or evalgen). Seconds per checkpoint instead of
eval.py's minutes, so it can follow a training run; tracking is eval.py's job.

usage:
  Tools/eval/frame0.py --model Tools/train/runs/img1/last.pt --set evalgen --count 20
  Tools/eval/frame0.py --model M --set evalgen --count 20 --candidates   # a click's 3 candidates
(--model takes an exported checkpoint with its .json sidecar, or a run's last.pt)
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

os.environ.setdefault("TQDM_DISABLE", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "Tools", "reference"))

import eval as harness  # noqa: E402
import micro_models  # noqa: E402
from hydra.utils import instantiate  # noqa: E402


def load(path):
    """The official video predictor in eval mode, from an exported checkpoint (its sidecar names
    the sizes) or a training run's last.pt."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if "args" in state:  # a training run's last.pt
        name = state["args"].get("model") or "synth"
        model = instantiate(micro_models.model_config(name, video=True), _recursive_=True)
        model.load_state_dict(state["model"])
        return model.eval()
    return micro_models.load_trained(path, video=True)


def first_frames(model, clips):
    """For each clip: (clip_dir, meta, inference state on its frame 0, frame-0 ground truth)."""
    import sam2.sam2_video_predictor as video_module
    from make_video_fixtures import decode_frames, normalise
    for clip_dir, meta in clips:
        w, h = meta["size"]
        _, frames = decode_frames(model.image_size, 1, source=os.path.join(clip_dir, "video.mp4"))
        images = normalise(frames)
        video_module.load_video_frames = lambda **kw: (images, h, w)
        state = model.init_state(video_path="(preloaded)")
        yield clip_dir, meta, state, np.array(Image.open(os.path.join(clip_dir, "gt", "00000.png")))


def probe(model, clips, kinds):
    """Mean frame-0 J over all objects of `clips`, per prompt kind."""
    scores = {k: [] for k in kinds}
    for clip_dir, meta, state, gt0 in first_frames(model, clips):
        for kind in kinds:
            for obj, p in harness.frame0_prompts(meta, clip_dir, kind).items():
                model.reset_state(state)
                if "box" in p:
                    _, ids, masks = model.add_new_points_or_box(state, 0, obj, box=p["box"])
                else:
                    _, ids, masks = model.add_new_points_or_box(state, 0, obj, points=p["points"], labels=p["labels"])
                mask = (masks[list(ids).index(obj), 0] > 0).numpy()
                inter = np.logical_and(mask, gt0 == obj).sum()
                union = np.logical_or(mask, gt0 == obj).sum()
                scores[kind].append(float(inter / max(union, 1)))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def candidates(model, clips):
    """Single centre clicks (eval.py's "click"): for each object, the J of each of the mask
    decoder's multimask candidates against the frame-0 ground truth beside its predicted IoU, and
    which one the predictor chose (the highest predicted IoU). Says whether a failed click lacks
    the right mask or ranks it low."""
    import torch.nn.functional as F
    captured = {}
    hook = model.sam_mask_decoder.register_forward_hook(
        lambda module, inputs, output: captured.update(masks=output[0].detach(), ious=output[1].detach()))
    rows = []
    try:
        for clip_dir, meta, state, gt0 in first_frames(model, clips):
            h, w = gt0.shape
            for obj, p in harness.frame0_prompts(meta, clip_dir, "click").items():
                model.reset_state(state)
                model.add_new_points_or_box(state, 0, obj, points=p["points"], labels=p["labels"])
                masks = F.interpolate(captured["masks"].float(), size=(h, w), mode="bilinear", align_corners=False)
                truth = gt0 == obj
                js = []
                for c in range(masks.shape[1]):
                    m = (masks[0, c] > 0).numpy()
                    js.append(float(np.logical_and(m, truth).sum() / max(np.logical_or(m, truth).sum(), 1)))
                ious = [float(x) for x in captured["ious"][0]]
                rows.append((os.path.basename(clip_dir), obj, float(truth.mean()), js, ious, int(np.argmax(ious))))
    finally:
        hook.remove()
    print("clip           obj  area   candidate J (predicted IoU)                      chosen  best")
    for name, obj, area, js, ious, chosen in rows:
        cells = "  ".join(f"{j:.2f} ({i:.2f})" for j, i in zip(js, ious))
        print(f"{name:14s} {obj:3d}  {area:.3f}  {cells}   {chosen}   {int(np.argmax(js))}")
    chosen_j = np.mean([js[c] for _, _, _, js, _, c in rows])
    best_j = np.mean([max(js) for _, _, _, js, _, _ in rows])
    missed = sum(1 for _, _, _, js, _, c in rows if max(js) - js[c] > 0.2)
    print(f"{len(rows)} objects: J of the chosen candidate {chosen_j:.4f}, of the best candidate {best_j:.4f}; "
          f"{missed} chose a candidate > 0.2 below the best")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", required=True)
    ap.add_argument("--set", choices=["synth", "evalgen"], default="synth")
    ap.add_argument("--clips")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--prompt", default="box,click,clicks3")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--candidates", action="store_true",
                    help="single centre clicks: each multimask candidate's J beside its predicted IoU")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = os.environ.get("TMPDIR", "/tmp")
    evalgen = args.set == "evalgen"
    clips_dir = args.clips or os.path.join(tmp, "samtrack-evalgen-clips" if evalgen else "samtrack-eval-clips")
    first = args.seed if args.seed is not None else (harness.EVALGEN_SEED if evalgen else harness.EVAL_SEED)
    frames = 40 if evalgen else 48
    os.makedirs(clips_dir, exist_ok=True)
    clips = []
    for seed in range(first, first + args.count):
        d = harness.ensure_clip(clips_dir, seed, frames, (256, 256), args.set)
        clips.append((d, json.load(open(os.path.join(d, "prompts.json")))))
    if args.candidates:
        with torch.inference_mode():
            for path in args.model:
                print(path)
                candidates(load(path), clips)
        return
    kinds = args.prompt.split(",")
    print(f"frame-0 J, {args.set}, {args.count} clips: " + "  ".join(f"{k:>8}" for k in kinds))
    for path in args.model:
        with torch.inference_mode():
            scores = probe(load(path), clips, kinds)
        print(f"{path}: " + "  ".join(f"{scores[k]:8.4f}" for k in kinds), flush=True)


if __name__ == "__main__":
    main()
