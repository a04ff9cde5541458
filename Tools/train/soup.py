#!/usr/bin/env python3
"""Weight interpolation between two checkpoints of one model: out = (1 - t) * A + t * B.

A fine-tuned model and the model it was fine-tuned from usually lie in one basin, so points on the
line between them can keep most of what the fine-tuning taught while getting back some of what it
cost (the weight-space ensembles of Wortsman et al., "Robust fine-tuning of zero-shot models", 2022).
Here A is the shipped mask-trained model and B a prompt-trained descendant; `Tools/eval/eval.py`
measures each point.

    soup.py --a Fixtures/models/synth.pt --b Tools/train/checkpoints/prompt_vid10.pt --t 0.7 --out /tmp/s.pt

Both files are in the official format ({"model": state_dict}) with the same keys and shapes; the
output is too (float16 when `--fp16`), with A's `<name>.json` sidecar copied beside it.
"""
import argparse
import os
import shutil

import torch


def interpolate(a, b, t):
    """The state dict (1 - t) * a + t * b, computed in float32; integer tensors must be equal."""
    if set(a) != set(b):
        raise SystemExit(f"the checkpoints' keys differ: {sorted(set(a) ^ set(b))[:5]}")
    out = {}
    for key, va in a.items():
        vb = b[key]
        if va.shape != vb.shape:
            raise SystemExit(f"{key}: shape {tuple(va.shape)} against {tuple(vb.shape)}")
        if va.is_floating_point():
            out[key] = (1 - t) * va.float() + t * vb.float()
        elif torch.equal(va, vb):
            out[key] = va.clone()
        else:
            raise SystemExit(f"{key}: integer tensors differ")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="checkpoint at t = 0")
    ap.add_argument("--b", required=True, help="checkpoint at t = 1")
    ap.add_argument("--t", type=float, required=True, help="position on the line from A (0) to B (1)")
    ap.add_argument("--out", required=True, help="output checkpoint (.pt)")
    ap.add_argument("--fp16", action="store_true", help="store floating-point tensors as float16")
    args = ap.parse_args()
    load = lambda p: torch.load(p, map_location="cpu", weights_only=True)["model"]
    mixed = interpolate(load(args.a), load(args.b), args.t)
    if args.fp16:
        mixed = {k: v.half() if v.is_floating_point() else v for k, v in mixed.items()}
    tmp = args.out + ".tmp"
    torch.save({"model": mixed}, tmp)
    os.replace(tmp, args.out)
    sidecar = os.path.splitext(args.a)[0] + ".json"
    if os.path.exists(sidecar):
        shutil.copyfile(sidecar, os.path.splitext(args.out)[0] + ".json")
    print(f"{args.out}: (1 - {args.t}) * {args.a} + {args.t} * {args.b}")


if __name__ == "__main__":
    main()
