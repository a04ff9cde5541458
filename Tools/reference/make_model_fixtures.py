"""Writes the micro model fixtures: official-format checkpoints with seeded random weights, their
Swift JSON configs, and the official implementation's intermediate tensors for the image path
(trunk, neck, features, prompt embeddings, decoder outputs, final masks).

Run:  Tools/reference/venv.sh python Tools/reference/make_model_fixtures.py
Outputs under Fixtures/models/: <name>.pt, <name>.json, <name>_image.safetensors."""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import micro_models  # noqa: E402
from fixture_io import update_manifest, write_safetensors  # noqa: E402

from sam2.sam2_image_predictor import SAM2ImagePredictor

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
OUT = os.path.join(FIXTURES, "models")
SEEDS = {"micro": 1, "micro2": 2}
# Source image size the prompts and output masks refer to (height, width).
SOURCE_HW = {"micro": (96, 144), "micro2": (120, 100)}
written = []


def input_image(size):
    """truck.jpg resized to size x size (PIL bicubic), normalised as SAM 2 does, [1, 3, S, S]."""
    path = os.path.join(ROOT, "..", "shared", "fixtures", "truck.jpg")
    img = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img).astype(np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    return ((x - mean) / std)[None].contiguous()


def prompt_cases(h, w):
    """Prompt sets in source pixels; `mask_from` names an earlier case whose low-res logits are
    the mask input."""
    return [
        {"name": "point", "points": [[w * 0.45, h * 0.5]], "labels": [1], "multimask": True},
        {"name": "point_single", "points": [[w * 0.3, h * 0.6]], "labels": [1], "multimask": False},
        {"name": "box", "box": [w * 0.2, h * 0.25, w * 0.7, h * 0.8], "multimask": False},
        {"name": "box_points", "box": [w * 0.1, h * 0.1, w * 0.6, h * 0.9],
         "points": [[w * 0.3, h * 0.5], [w * 0.5, h * 0.2]], "labels": [1, 0], "multimask": False},
        {"name": "points_mask", "points": [[w * 0.45, h * 0.5], [w * 0.8, h * 0.3]], "labels": [1, 0],
         "mask_from": "point", "multimask": False},
        {"name": "mask_only", "mask_from": "box", "multimask": True},
    ]


def image_predictor(model, backbone_out, size, h, w):
    """A SAM2ImagePredictor holding `backbone_out` exactly as `set_image` builds its state (the
    image is given as a tensor, not decoded by the predictor); returns it and the feature levels
    (high-res first, image embedding with no_mem_embed last)."""
    predictor = SAM2ImagePredictor(model)
    predictor._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]
    _, vision_feats, _, _ = model._prepare_backbone_features(backbone_out)
    vision_feats[-1] = vision_feats[-1] + model.no_mem_embed
    feats = [f.permute(1, 2, 0).view(1, -1, *s)
             for f, s in zip(vision_feats[::-1], predictor._bb_feat_sizes[::-1])][::-1]
    predictor._features = {"image_embed": feats[-1], "high_res_feats": feats[:-1]}
    predictor._orig_hw = [(h, w)]
    predictor._is_image_set = True
    return predictor, feats


def image_fixture(name, model):
    size = micro_models.MICRO[name]["image_size"]
    h, w = SOURCE_HW[name]
    x = input_image(size)
    t = {"input": x}
    with torch.no_grad():
        trunk_out = model.image_encoder.trunk(x)
        for i, f in enumerate(trunk_out):
            t[f"trunk.{i}"] = f
        neck_feats, neck_pos = model.image_encoder.neck(trunk_out)
        for i, (f, p) in enumerate(zip(neck_feats, neck_pos)):
            t[f"neck.features.{i}"] = f
            t[f"neck.pos.{i}"] = p
        backbone_out = model.forward_image(x)
        for i, f in enumerate(backbone_out["backbone_fpn"]):
            t[f"backbone_fpn.{i}"] = f
        for i, p in enumerate(backbone_out["vision_pos_enc"]):
            t[f"vision_pos_enc.{i}"] = p

        predictor, feats = image_predictor(model, backbone_out, size, h, w)
        t["image_embed"] = feats[-1]
        t["high_res.0"], t["high_res.1"] = feats[0], feats[1]
        t["dense_pe"] = model.sam_prompt_encoder.get_dense_pe()

        cases = prompt_cases(h, w)
        low_res_by_case = {}
        for case in cases:
            c = case["name"]
            mask_input = None
            if "mask_from" in case:
                mask_input = low_res_by_case[case["mask_from"]]
            points = np.array(case["points"], dtype=np.float32) if "points" in case else None
            labels = np.array(case["labels"], dtype=np.int32) if "labels" in case else None
            box = np.array(case["box"], dtype=np.float32) if "box" in case else None
            mask_arg = mask_input.numpy() if mask_input is not None else None
            mi, coords, lab, ubox = predictor._prep_prompts(points, labels, box, mask_arg, True)
            # The prompt embeddings and raw decoder outputs, via the official modules.
            concat = (coords, lab) if coords is not None else None
            if ubox is not None:
                box_coords = ubox.reshape(-1, 2, 2)
                box_labels = torch.tensor([[2, 3]], dtype=torch.int)
                concat = (torch.cat([box_coords, concat[0]], 1), torch.cat([box_labels, concat[1]], 1)) \
                    if concat is not None else (box_coords, box_labels)
            sparse, dense = model.sam_prompt_encoder(points=concat, boxes=None, masks=mi)
            raw_masks, raw_iou, sam_tokens, obj_score = model.sam_mask_decoder(
                image_embeddings=feats[-1], image_pe=t["dense_pe"], sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense, multimask_output=case["multimask"], repeat_image=False,
                high_res_features=feats[:-1])
            masks, iou, low_res = predictor._predict(coords, lab, ubox, mi, case["multimask"], return_logits=True)
            low_res_by_case[c] = low_res[0] if not case["multimask"] else low_res[0, int(iou[0].argmax())][None]
            t[f"{c}.sparse"] = sparse
            t[f"{c}.dense"] = dense
            t[f"{c}.decoder_masks"] = raw_masks
            t[f"{c}.decoder_iou"] = raw_iou
            t[f"{c}.sam_tokens"] = sam_tokens
            t[f"{c}.object_score"] = obj_score
            t[f"{c}.masks"] = masks
            t[f"{c}.iou"] = iou
            t[f"{c}.low_res"] = low_res
            if mi is not None:
                t[f"{c}.mask_input"] = mi
    meta = {"source_height": h, "source_width": w, "image_size": size,
            "cases": json.dumps(cases), "torch": torch.__version__, "seed": SEEDS[name]}
    path = os.path.join(OUT, f"{name}_image.safetensors")
    write_safetensors(path, t, meta)
    written.append(os.path.relpath(path, FIXTURES))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for name, seed in SEEDS.items():
        model = micro_models.build(name, seed)
        ckpt = os.path.join(OUT, f"{name}.pt")
        micro_models.save_checkpoint(model, ckpt)
        cfg = os.path.join(OUT, f"{name}.json")
        micro_models.write_swift_config(name, cfg)
        written.extend(os.path.relpath(p, FIXTURES) for p in (ckpt, cfg))
        image_fixture(name, model)
    update_manifest(FIXTURES, written)
    print("wrote", ", ".join(written))


if __name__ == "__main__":
    main()
