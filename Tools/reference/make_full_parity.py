"""Reference data for the full-size parity check (Tools/parity.sh): the official SAM 2.1 tiny
config (1024 px) with seeded random weights saved as an official checkpoint, and the official
implementation's outputs on a real photo (image mode) or 30 real video frames (video mode).
Written to a scratch directory, never committed (hundreds of MB).

Run:  Tools/reference/venv.sh python Tools/reference/make_full_parity.py {image|video} OUT_DIR"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import make_video_fixtures as video  # noqa: E402
import micro_models  # noqa: E402
from make_model_fixtures import image_predictor  # noqa: E402
from fixture_io import write_safetensors  # noqa: E402

from sam2.build_sam import build_sam2_video_predictor

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MEDIA = os.path.join(ROOT, "..", "shared", "fixtures")
SEED = 2026


def tiny_model(out):
    model = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu")
    model.fill_hole_area = 0  # the official hole filling is CUDA-only; compare without it
    model.add_all_frames_to_correct_as_cond = True
    micro_models.randomize(model, SEED)
    micro_models.save_checkpoint(model, os.path.join(out, "tiny.pt"))
    return model


def image_mode(out):
    model = tiny_model(out)
    path = os.path.join(MEDIA, "truck.jpg")
    raw, frames = video.decode_frames(1024, 1, source=path)
    x = video.normalise(frames)
    h, w = 1200, 1800
    t = {"input": x}
    cases = [
        {"name": "point", "points": [[900, 600]], "labels": [1], "multimask": True},
        {"name": "box", "box": [500, 400, 1300, 900], "multimask": False},
        {"name": "box_points", "box": [400, 300, 1400, 1000], "points": [[800, 650], [1200, 450]],
         "labels": [1, 0], "multimask": False},
    ]
    with torch.no_grad():
        backbone = model.forward_image(x)
        for i, f in enumerate(backbone["backbone_fpn"]):
            t[f"backbone_fpn.{i}"] = f
        for i, p in enumerate(backbone["vision_pos_enc"]):
            t[f"vision_pos_enc.{i}"] = p
        predictor, feats = image_predictor(model, backbone, 1024, h, w)
        t["image_embed"] = feats[-1]
        for c in cases:
            points = np.array(c["points"], dtype=np.float32) if "points" in c else None
            labels = np.array(c["labels"], dtype=np.int32) if "labels" in c else None
            box = np.array(c["box"], dtype=np.float32) if "box" in c else None
            mi, coords, lab, ubox = predictor._prep_prompts(points, labels, box, None, True)
            masks, iou, low = predictor._predict(coords, lab, ubox, mi, c["multimask"], return_logits=True)
            t[f"{c['name']}.masks"] = masks
            t[f"{c['name']}.iou"] = iou
            t[f"{c['name']}.low_res"] = low
    write_safetensors(os.path.join(out, "image.safetensors"), t,
                      {"source_height": h, "source_width": w, "cases": json.dumps(cases), "torch": torch.__version__})


def video_mode(out, frames=30):
    model = tiny_model(out)
    raw, decoded = video.decode_frames(1024, frames)
    with open(os.path.join(out, "frames.rgb"), "wb") as f:
        f.write(raw)
    prompts = {0: {1: {"box": [300, 150, 520, 500]}, 2: {"points": [[700, 300]], "labels": [1]}},
               15: {1: {"points": [[400, 300], [480, 200]], "labels": [1, 0]}}}
    with torch.no_grad():
        t = video.track_official(model, video.normalise(decoded), prompts, frames)
    write_safetensors(os.path.join(out, "video.safetensors"), t,
                      {"frames": frames, "source_height": video.SOURCE_H, "source_width": video.SOURCE_W,
                       "prompts": json.dumps({str(k): v for k, v in prompts.items()}), "torch": torch.__version__})


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(int(os.environ.get("SAMTRACK_THREADS", os.cpu_count() or 1)))
    {"image": image_mode, "video": video_mode}[mode](out)
    print("reference written to", out)
