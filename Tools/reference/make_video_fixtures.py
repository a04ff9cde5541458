"""Writes the video tracking fixtures: the official SAM2VideoPredictor (CPU, no hole filling)
driven over real frames of bedroom.mp4 with a scripted prompt sequence, dumping per frame and
object the memory-conditioned features, memories, object pointers, object scores and low-res
logits. Also a hole-filling fixture checked against scipy's 8-connected labelling.

Run:  Tools/reference/venv.sh python Tools/reference/make_video_fixtures.py
Outputs under Fixtures/video/."""
import json
import os
import subprocess
import sys

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, os.path.dirname(__file__))
import micro_models  # noqa: E402
from fixture_io import update_manifest, write_safetensors  # noqa: E402

import sam2.sam2_video_predictor as video_module

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
OUT = os.path.join(FIXTURES, "video")
SOURCE = os.path.join(ROOT, "..", "shared", "fixtures", "bedroom.mp4")
SOURCE_H, SOURCE_W = 540, 960
written = []


def decode_frames(size, count, source=SOURCE, loop=False):
    """First `count` frames scaled exactly as samtrack's Media module does (DESIGN §2); `loop`
    restarts the video at its end until `count` frames are read."""
    looping = ["-stream_loop", "-1"] if loop else []
    raw = subprocess.run(["ffmpeg", "-v", "error", *looping, "-i", source, "-frames:v", str(count), "-vf",
                          f"scale={size}:{size}:flags=bicubic", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
                         check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(count, size, size, 3)
    return raw, frames


def normalise(frames):
    x = torch.from_numpy(frames.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
    return (x - mean) / std


def ellipse_mask(cx, cy, rx, ry, height=SOURCE_H, width=SOURCE_W):
    yy, xx = np.mgrid[0:height, 0:width]
    return (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) <= 1.0


# Each step: frame, then prompts {object: prompt}; objects are tracked on every frame.
SCRIPTS = {
    "micro": {
        "frames": 24, "seed": 1, "version21": True,
        "prompts": {
            0: {1: {"box": [300, 150, 520, 500]},
                2: {"points": [[700, 300]], "labels": [1]},
                3: {"mask": [200, 380, 90, 120]}},
            12: {1: {"points": [[400, 300], [480, 200]], "labels": [1, 0]},
                 3: {"mask": None}},  # empty mask: the object disappears
            18: {2: {"points": [[690, 320]], "labels": [1]}},
        },
    },
    # Same weights as micro.pt but the object-score head's last bias at -10: tracked frames are
    # judged "object absent" (masks -1024, no-object pointer and spatial embedding in memory).
    "micro_absent": {
        "frames": 8, "seed": 1, "version21": True, "object_score_bias": -10.0,
        "prompts": {0: {1: {"mask": [480, 270, 150, 100]}, 2: {"box": [100, 100, 300, 400]}}},
    },
    "micro_sam20": {
        "frames": 12, "seed": 3, "version21": False,
        "prompts": {
            0: {1: {"box": [300, 150, 520, 500]}, 2: {"points": [[700, 300], [650, 200]], "labels": [1, 0]}},
            6: {1: {"points": [[400, 300]], "labels": [1]}},
        },
    },
}


def track_official(model, images, prompts, frames, source_hw=(SOURCE_H, SOURCE_W)):
    """Drives the official predictor through `frames` frames: prompts {frame: {obj: prompt}} are
    added on their frame after it has been tracked (corrections), then propagation continues.
    Returns {name: tensor} per frame and object (see the module docstring)."""
    video_module.load_video_frames = lambda **kw: (images[:frames], source_hw[0], source_hw[1])
    state = model.init_state(video_path="(preloaded)")
    context, conditioned = {}, {}
    original_prepare = model._prepare_memory_conditioned_features
    original_single = model._run_single_frame_inference

    def prepare(*args, **kwargs):
        out = original_prepare(*args, **kwargs)
        if not kwargs.get("is_init_cond_frame", False):
            conditioned[(context["frame"], context["obj"], context["phase"])] = out.clone()
        return out

    def single(inference_state, output_dict, frame_idx, batch_size, is_init_cond_frame, point_inputs,
               mask_inputs, reverse, run_mem_encoder, prev_sam_mask_logits=None):
        obj = next(i for i, d in inference_state["output_dict_per_obj"].items() if d is output_dict)
        context.update(frame=frame_idx, obj=inference_state["obj_idx_to_id"][obj],
                       phase="track" if run_mem_encoder else "prompt")
        return original_single(inference_state, output_dict, frame_idx, batch_size, is_init_cond_frame,
                               point_inputs, mask_inputs, reverse, run_mem_encoder, prev_sam_mask_logits)

    model._prepare_memory_conditioned_features = prepare
    model._run_single_frame_inference = single
    h, w = source_hw
    prompt_frames = sorted(prompts)
    for i, frame in enumerate(prompt_frames):
        for obj, p in sorted(prompts[frame].items()):
            if "mask" in p:
                mask = ellipse_mask(*p["mask"], height=h, width=w) if p["mask"] else np.zeros((h, w), bool)
                model.add_new_mask(state, frame, obj, mask)
            else:
                model.add_new_points_or_box(state, frame, obj, points=p.get("points"), labels=p.get("labels"),
                                            box=p.get("box"))
        start = frame if i == 0 else frame + 1
        end = prompt_frames[i + 1] if i + 1 < len(prompt_frames) else frames - 1
        if start <= end:
            for _ in model.propagate_in_video(state, start_frame_idx=start, max_frame_num_to_track=end - start):
                pass
    t = {}
    for obj_idx, out_dict in state["output_dict_per_obj"].items():
        obj = state["obj_idx_to_id"][obj_idx]
        for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
            for frame, out in out_dict[kind].items():
                key = f"{frame}.{obj}"
                t[f"{key}.low_res"] = out["pred_masks"][0, 0]
                t[f"{key}.object_score"] = out["object_score_logits"].reshape(1)
                t[f"{key}.pointer"] = out["obj_ptr"][0]
                t[f"{key}.memory"] = out["maskmem_features"][0].float()
                t[f"{key}.conditioning"] = torch.tensor([1.0 if kind == "cond_frame_outputs" else 0.0])
    for (frame, obj, phase), value in conditioned.items():
        t[f"{frame}.{obj}.conditioned_{phase}"] = value[0]
    return t


def run(name, script, images):
    model = micro_models.build("micro", script["seed"], version21=script["version21"], video=True)
    model.add_all_frames_to_correct_as_cond = True
    if "object_score_bias" in script:
        with torch.no_grad():
            model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(script["object_score_bias"])
    if name == "micro_sam20":
        ckpt = os.path.join(OUT, f"{name}.pt")
        micro_models.save_checkpoint(model, ckpt)
        cfg = os.path.join(OUT, f"{name}.json")
        with open(cfg, "w") as f:
            config = micro_models.swift_config("micro", script["version21"])
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")
        written.extend(os.path.relpath(p, FIXTURES) for p in (ckpt, cfg))
    n = script["frames"]
    t = track_official(model, images, script["prompts"], n)
    meta = {"frames": n, "source_height": SOURCE_H, "source_width": SOURCE_W,
            "prompts": json.dumps({str(k): v for k, v in script["prompts"].items()}),
            "checkpoint": f"video/{name}.pt" if name == "micro_sam20" else "models/micro.pt",
            "config": f"video/{name}.json" if name == "micro_sam20" else "models/micro.json",
            "object_score_bias": script.get("object_score_bias", ""),
            "torch": torch.__version__, "seed": script["seed"]}
    path = os.path.join(OUT, f"{name}_tracking.safetensors")
    write_safetensors(path, t, meta)
    written.append(os.path.relpath(path, FIXTURES))
    scores = [float(v) for k, v in t.items() if k.endswith("object_score")]
    print(name, "tensors", len(t), "scores min/max", min(scores), max(scores))


def hole_filling_fixture():
    """Random masks with holes; expected = background 8-connected components of area <= 8 filled
    with 0.1, computed with scipy.ndimage.label."""
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(6, 32, 32)).astype(np.float32) * 4
    # Mostly-foreground masks with scattered background specks and a few large holes.
    logits += np.where(rng.random((6, 32, 32)) < 0.8, 6.0, -6.0).astype(np.float32)
    logits[2, 5:15, 5:15] = -3.0   # a 100-pixel hole: stays
    logits[3, 10:13, 10:13] = -2.0  # a 9-pixel hole: stays (area > 8)
    logits[4, 20:22, 20:24] = -2.0  # an 8-pixel hole: filled
    expected = logits.copy()
    structure = np.ones((3, 3), dtype=int)
    for i in range(logits.shape[0]):
        labels, count = ndimage.label(logits[i] <= 0, structure=structure)
        areas = np.bincount(labels.ravel())
        hole = (labels > 0) & (areas[labels] <= 8)
        expected[i][hole] = 0.1
    path = os.path.join(OUT, "hole_filling.safetensors")
    write_safetensors(path, {"logits": logits, "filled": expected}, {"max_area": 8})
    written.append(os.path.relpath(path, FIXTURES))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    raw, frames = decode_frames(128, 24)
    frames_path = os.path.join(OUT, "bedroom_128x128_24.rgb")
    with open(frames_path, "wb") as f:
        f.write(raw)
    written.append(os.path.relpath(frames_path, FIXTURES))
    images = normalise(frames)
    for name, script in SCRIPTS.items():
        run(name, script, images)
    hole_filling_fixture()
    update_manifest(FIXTURES, written)
    print("wrote", ", ".join(written))


if __name__ == "__main__":
    main()
