"""Checks that a checkpoint `samtrack finetune` wrote is one the official code loads: `torch.load`
with `weights_only=True`, then `load_state_dict` (strict) into the official model, built from the
checkpoint's `<name>.json` sidecar for the project's micro/synth models (micro_models.load_trained)
or by `build_sam2` with an official config. With --base, also checks that only the prompt encoder
and mask decoder changed (every other tensor bit-identical to the base checkpoint's) and that they
did change.

Run:  Tools/reference/venv.sh python Tools/reference/check_finetuned_checkpoint.py OUT.pt \
          [--base BASE.pt] [--official-config configs/sam2.1/sam2.1_hiera_t.yaml]
Exit status 0 and a one-line summary when every check passes; 1 with the reason otherwise."""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import micro_models  # noqa: E402

FROZEN_BUFFER = "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"


def trainable(key):
    return (key.startswith("sam_prompt_encoder.") or key.startswith("sam_mask_decoder.")) and key != FROZEN_BUFFER


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--base", help="the checkpoint fine-tuning started from")
    parser.add_argument("--official-config", help="an official config name for build_sam2 (no sidecar)")
    args = parser.parse_args()

    saved = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or "model" not in saved:
        sys.exit(f"{args.checkpoint}: not a {{'model': state_dict}} checkpoint")
    state = saved["model"]
    if args.official_config:
        from sam2.build_sam import build_sam2
        # build_sam2 loads the checkpoint itself and raises on missing or unexpected keys.
        model = build_sam2(args.official_config, args.checkpoint, device="cpu")
    else:
        model = micro_models.load_trained(args.checkpoint)  # load_state_dict, strict
    loaded = model.state_dict()
    for key, value in state.items():
        if not torch.equal(loaded[key], value):
            sys.exit(f"{args.checkpoint}: {key} differs after loading")

    changed = 0
    if args.base:
        base = torch.load(args.base, map_location="cpu", weights_only=True)["model"]
        if list(base.keys()) != list(state.keys()):
            sys.exit(f"{args.checkpoint}: its keys differ from {args.base}'s")
        for key, value in state.items():
            same = torch.equal(base[key].float(), value)
            if trainable(key):
                changed += 0 if same else 1
            elif not same:
                sys.exit(f"{args.checkpoint}: {key} is not trained but differs from {args.base}")
        if changed == 0:
            sys.exit(f"{args.checkpoint}: no trained tensor differs from {args.base}")
    print(f"{args.checkpoint}: {len(state)} tensors, loaded strict into the official "
          f"{type(model).__name__}" + (f"; {changed} trained tensors changed, the rest identical to the base" if args.base else ""))


if __name__ == "__main__":
    main()
