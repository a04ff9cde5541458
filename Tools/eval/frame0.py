#!/usr/bin/env python3
"""Quick probe of the prompt path: J (IoU) of the frame-0 mask a checkpoint gives for each prompt
type, through the official SAM2VideoPredictor on frame 0 alone (its prompted-frame output, before
any tracking), against the frame-0 ground truth of the same clips and prompts as eval.py (--set
synth or evalgen). Seconds per checkpoint instead of
eval.py's minutes, so it can follow a training run; tracking is eval.py's job.

usage:
  Tools/eval/frame0.py --model Tools/train/runs/img1/last.pt --set evalgen --count 20
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


def probe(model, clips, kinds):
    """Mean frame-0 J over all objects of `clips`, per prompt kind."""
    import sam2.sam2_video_predictor as video_module
    from make_video_fixtures import decode_frames, normalise
    scores = {k: [] for k in kinds}
    for clip_dir, meta in clips:
        w, h = meta["size"]
        _, frames = decode_frames(model.image_size, 1, source=os.path.join(clip_dir, "video.mp4"))
        images = normalise(frames)
        video_module.load_video_frames = lambda **kw: (images, h, w)
        state = model.init_state(video_path="(preloaded)")
        gt0 = np.array(Image.open(os.path.join(clip_dir, "gt", "00000.png")))
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", required=True)
    ap.add_argument("--set", choices=["synth", "evalgen"], default="synth")
    ap.add_argument("--clips")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--prompt", default="box,click,clicks3")
    ap.add_argument("--threads", type=int, default=1)
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
    kinds = args.prompt.split(",")
    print(f"frame-0 J, {args.set}, {args.count} clips: " + "  ".join(f"{k:>8}" for k in kinds))
    for path in args.model:
        with torch.inference_mode():
            scores = probe(load(path), clips, kinds)
        print(f"{path}: " + "  ".join(f"{scores[k]:8.4f}" for k in kinds), flush=True)


if __name__ == "__main__":
    main()
