"""Writes the interactive-session fixtures: the official SAM2VideoPredictor (CPU, no hole filling,
add_all_frames_to_correct_as_cond=True) driven through scripted sessions with random access to
the frames (prompts on any frame, propagation forward and in reverse from any frame, corrections
on tracked frames, an object removed), dumping what every call returns.

For each step i of a script:
  prompt steps ("points", "mask"): the low-res logits, object score and object pointer of every
    object on the prompted frame, as add_new_points_or_box / add_new_mask consolidate them
    ("{i}.{object}.low_res" [S/4, S/4], ".score" [1], ".pointer" [C], ".present" [1]: 0 when the
    object has no output on that frame and gets the NO_OBJ_SCORE placeholder), "{i}.objects";
  "propagate": "{i}.frames" (frames in the order yielded) and per frame and object
    "{i}.{frame}.{object}.low_res|score|pointer";
  "remove": "{i}.objects" (the ids left).
At the end, the state of every object ("final.{object}.{frame}.memory" [Cm, h, w] stored in
bfloat16 as the official predictor stores it, ".conditioning" 1/0 for cond/non-cond outputs).

Scripts (source coordinates are bedroom.mp4's 960x540):
  micro_session      issue 25: prompts on frames 0 and 10 (box, single click then a second click
                     keeping the first, mask), forward propagation, a correction click on tracked
                     frame 15, propagation forward then reverse from 15, object 2 removed, a mask
                     on tracked frame 20, reverse propagation of 8 frames from 20.
  micro_session_cli  issue 26: prompts on frames 0 and 10, propagate forward from the first
                     prompted frame, then reverse=True (which, from frame 0, yields nothing).
  micro_session_cli_late  the same with the first prompt on frame 6, so the reverse pass runs.
  micro_session_nocond    the session with add_all_frames_to_correct_as_cond=False (the official
                     build's default): corrections stay non-conditioning outputs, which a
                     propagation starting on their frame would track again, so the propagations
                     start next to them (16 forward, 14 and 19 in reverse) and use them as memory.

  micro_session_cli_png   CLI_LATE's run with a 128x128 source (prompts scaled), for the
                     end-to-end test of `samtrack track` on the frames written as PNGs.

Run:  Tools/reference/venv.sh python Tools/reference/make_session_fixtures.py [NAME...]
      (micro, writes Fixtures/video/micro_session*.safetensors, or only the NAMEs given)
      Tools/reference/venv.sh python Tools/reference/make_session_fixtures.py --full-size OUT_DIR
      (Tools/parity.sh session: SAM 2.1 tiny at 1024 px, 24 real frames, never committed)"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import make_video_fixtures as video  # noqa: E402
import micro_models  # noqa: E402
from fixture_io import update_manifest, write_safetensors  # noqa: E402

import sam2.sam2_video_predictor as video_module
from sam2.modeling.sam2_base import NO_OBJ_SCORE

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
OUT = os.path.join(FIXTURES, "video")
FRAMES = 24

SESSION = [
    {"op": "points", "frame": 0, "object": 1, "box": [300, 150, 520, 500]},
    {"op": "points", "frame": 0, "object": 2, "points": [[700, 300]], "labels": [1]},  # one click: multimask
    {"op": "points", "frame": 0, "object": 2, "points": [[650, 200]], "labels": [0], "clear": False},
    {"op": "mask", "frame": 10, "object": 3, "ellipse": [200, 380, 90, 120]},
    {"op": "points", "frame": 10, "object": 2, "points": [[690, 320]], "labels": [1]},
    {"op": "propagate", "start": None, "max": None, "reverse": False},
    {"op": "points", "frame": 15, "object": 1, "points": [[400, 300], [480, 200]], "labels": [1, 0]},
    {"op": "propagate", "start": 15, "max": None, "reverse": False},
    {"op": "propagate", "start": 15, "max": None, "reverse": True},
    {"op": "remove", "object": 2},
    {"op": "mask", "frame": 20, "object": 3, "ellipse": [260, 360, 110, 100]},
    {"op": "propagate", "start": 20, "max": 8, "reverse": True},
]

CLI = [
    {"op": "points", "frame": 0, "object": 1, "box": [300, 150, 520, 500]},
    {"op": "points", "frame": 10, "object": 2, "points": [[700, 300]], "labels": [1]},
    {"op": "mask", "frame": 10, "object": 3, "ellipse": [200, 380, 90, 120]},
    {"op": "points", "frame": 10, "object": 1, "points": [[400, 300], [480, 200]], "labels": [1, 0]},
    {"op": "propagate", "start": None, "max": None, "reverse": False},
    {"op": "propagate", "start": None, "max": None, "reverse": True},
]

CLI_LATE = [dict(step, frame=6) if step.get("frame") == 0 else step for step in CLI]

# The CLI's end-to-end parity run (`samtrack track` on the 24 frames written as 128x128 PNGs, so
# that the model sees exactly these frames): CLI_LATE's prompts in 128x128 source pixels.
CLI_PNG = [
    {"op": "points", "frame": 6, "object": 1, "box": [40, 20, 69, 67]},
    {"op": "points", "frame": 10, "object": 2, "points": [[93, 40]], "labels": [1]},
    {"op": "mask", "frame": 10, "object": 3, "ellipse": [27, 51, 12, 16]},
    {"op": "points", "frame": 10, "object": 1, "points": [[53, 40], [64, 27]], "labels": [1, 0]},
    {"op": "propagate", "start": None, "max": None, "reverse": False},
    {"op": "propagate", "start": None, "max": None, "reverse": True},
]

NOCOND = [dict(step, start={15: 16 if not step.get("reverse") else 14, 20: 19}[step["start"]])
          if step["op"] == "propagate" and step["start"] is not None else step for step in SESSION]

# name -> (script, add_all_frames_to_correct_as_cond[, source (height, width)])
SCRIPTS = {"micro_session": (SESSION, True), "micro_session_cli": (CLI, True), "micro_session_cli_late": (CLI_LATE, True),
           "micro_session_nocond": (NOCOND, False), "micro_session_cli_png": (CLI_PNG, True, (128, 128))}


def object_output(state, obj_idx, frame, is_cond):
    """The output add_new_* consolidates for one object on `frame` (the temporary output of the
    same kind first, then the conditioning, then the non-conditioning output), or None."""
    kind = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
    out = state["temp_output_dict_per_obj"][obj_idx][kind].get(frame)
    if out is None:
        out = state["output_dict_per_obj"][obj_idx]["cond_frame_outputs"].get(frame)
    if out is None:
        out = state["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"].get(frame)
    return out


def stored_output(state, obj_idx, frame):
    d = state["output_dict_per_obj"][obj_idx]
    return d["cond_frame_outputs"].get(frame, d["non_cond_frame_outputs"].get(frame))


def run_script(model, images, script, source_hw):
    """Runs `script` on the official predictor; returns {name: tensor}."""
    h, w = source_hw
    video_module.load_video_frames = lambda **kw: (images, h, w)
    state = model.init_state(video_path="(preloaded)")
    side = model.image_size // 4
    t = {}
    for i, step in enumerate(script):
        op = step["op"]
        if op in ("points", "mask"):
            frame, obj = step["frame"], step["object"]
            if op == "mask":
                e = step["ellipse"]
                mask = video.ellipse_mask(*e, height=h, width=w) if e else np.zeros((h, w), bool)
                _, ids, video_res = model.add_new_mask(state, frame, obj, mask)
            else:
                _, ids, video_res = model.add_new_points_or_box(
                    state, frame, obj, points=step.get("points"), labels=step.get("labels"),
                    box=step.get("box"), clear_old_points=step.get("clear", True))
            obj_idx = state["obj_id_to_idx"][obj]
            tracked = frame in state["frames_tracked_per_obj"][obj_idx]
            is_cond = (not tracked) or model.add_all_frames_to_correct_as_cond
            consolidated = model._consolidate_temp_output_across_obj(state, frame, is_cond=is_cond)["pred_masks"]
            lows = []
            for k, oid in enumerate(ids):
                out = object_output(state, k, frame, is_cond)
                present = out is not None
                low = out["pred_masks"][0, 0] if present else torch.full((side, side), NO_OBJ_SCORE)
                assert torch.equal(low, consolidated[k, 0]), f"step {i}: consolidation differs for {oid}"
                lows.append(low)
                t[f"{i}.{oid}.low_res"] = low
                t[f"{i}.{oid}.present"] = torch.tensor([1.0 if present else 0.0])
                t[f"{i}.{oid}.score"] = (out["object_score_logits"].reshape(1) if present
                                         else torch.tensor([NO_OBJ_SCORE]))
                if present:
                    t[f"{i}.{oid}.pointer"] = out["obj_ptr"][0]
            check_video_res(torch.stack(lows)[:, None], video_res, h, w, i)
            t[f"{i}.objects"] = torch.tensor(ids, dtype=torch.float32)
        elif op == "propagate":
            frames = []
            for frame, ids, video_res in model.propagate_in_video(
                    state, start_frame_idx=step["start"], max_frame_num_to_track=step["max"],
                    reverse=step["reverse"]):
                frames.append(frame)
                lows = []
                for k, oid in enumerate(ids):
                    out = stored_output(state, k, frame)
                    lows.append(out["pred_masks"][0, 0])
                    t[f"{i}.{frame}.{oid}.low_res"] = out["pred_masks"][0, 0]
                    t[f"{i}.{frame}.{oid}.score"] = out["object_score_logits"].reshape(1)
                    t[f"{i}.{frame}.{oid}.pointer"] = out["obj_ptr"][0]
                check_video_res(torch.stack(lows)[:, None], video_res, h, w, i)
            t[f"{i}.frames"] = torch.tensor(frames, dtype=torch.float32)
            print(f"  step {i}: propagated {len(frames)} frames {frames[:1]}..{frames[-1:]}")
        elif op == "remove":
            ids, _ = model.remove_object(state, step["object"], strict=True)
            t[f"{i}.objects"] = torch.tensor(ids, dtype=torch.float32)
        else:
            raise ValueError(op)
    for obj_idx, out_dict in state["output_dict_per_obj"].items():
        oid = state["obj_idx_to_id"][obj_idx]
        for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
            for frame, out in out_dict[kind].items():
                t[f"final.{oid}.{frame}.memory"] = out["maskmem_features"][0].float()
                t[f"final.{oid}.{frame}.conditioning"] = torch.tensor(
                    [1.0 if kind == "cond_frame_outputs" else 0.0])
    return t


def check_video_res(low_res, video_res, h, w, step):
    """The official video-resolution masks are the low-res logits resized (sanity check of the dump)."""
    resized = F.interpolate(low_res, size=(h, w), mode="bilinear", align_corners=False)
    assert torch.allclose(resized, video_res.float(), atol=1e-4), f"step {step}: video-res masks differ"


def float_memory(model):
    """The official predictor stores memories in bfloat16 and relies on torch.cat promoting them to
    float32 next to the (float32) object pointers. An object tracked on a frame before its first
    prompted frame has no pointer yet (only pointers of past conditioning frames are used), so on CPU
    the bfloat16 memory reaches the float32 memory attention alone and fails ("mat1 and mat2 must
    have the same dtype"; CUDA runs it under autocast). Upcast there, exactly as the promotion does."""
    attend = model.memory_attention.forward

    def forward(curr, memory, curr_pos=None, memory_pos=None, num_obj_ptr_tokens=0):
        return attend(curr=curr, memory=memory.float(), curr_pos=curr_pos, memory_pos=memory_pos.float(),
                      num_obj_ptr_tokens=num_obj_ptr_tokens)

    model.memory_attention.forward = forward
    return model


def micro_model(corrections_as_cond=True):
    model = micro_models.build("micro", 1, version21=True, video=True)
    weights = torch.load(os.path.join(FIXTURES, "models", "micro.pt"), map_location="cpu", weights_only=True)
    model.load_state_dict(weights["model"], strict=True)
    model.add_all_frames_to_correct_as_cond = corrections_as_cond
    model.clear_non_cond_mem_around_input = False  # sam2 1.1.0 crashes with it on (undefined helper)
    return float_memory(model.eval())


def write(path, tensors, script, source_hw, extra, corrections_as_cond=True):
    meta = {"frames": FRAMES, "source_height": source_hw[0], "source_width": source_hw[1],
            "script": json.dumps(script), "torch": torch.__version__,
            "add_all_frames_to_correct_as_cond": int(corrections_as_cond), **extra}
    write_safetensors(path, tensors, meta)
    print("wrote", path, f"({os.path.getsize(path) / 1e6:.2f} MB, {len(tensors)} tensors)")


def main_micro():
    torch.set_num_threads(1)
    with open(os.path.join(OUT, "bedroom_128x128_24.rgb"), "rb") as f:
        frames = np.frombuffer(f.read(), dtype=np.uint8).reshape(FRAMES, 128, 128, 3)
    images = video.normalise(frames)
    written = []
    only = sys.argv[1:]
    for name, (script, as_cond, *size) in SCRIPTS.items():
        if only and name not in only:
            continue
        print(name)
        source_hw = size[0] if size else (video.SOURCE_H, video.SOURCE_W)
        with torch.no_grad():
            t = run_script(micro_model(as_cond), images, script, source_hw)
        path = os.path.join(OUT, f"{name}.safetensors")
        write(path, t, script, source_hw,
              {"checkpoint": "models/micro.pt", "config": "models/micro.json", "seed": 1}, as_cond)
        written.append(os.path.relpath(path, FIXTURES))
    update_manifest(FIXTURES, written)


def main_full(out):
    """Tools/parity.sh session: the tiny config with seeded random weights (make_full_parity's
    tiny_model, checkpoint tiny.pt), 24 real frames at 1024 px (frames.rgb), the session script."""
    import make_full_parity
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(int(os.environ.get("SAMTRACK_THREADS", os.cpu_count() or 1)))
    model = float_memory(make_full_parity.tiny_model(out))
    raw, decoded = video.decode_frames(1024, FRAMES)
    with open(os.path.join(out, "frames.rgb"), "wb") as f:
        f.write(raw)
    with torch.no_grad():
        t = run_script(model, video.normalise(decoded), SESSION, (video.SOURCE_H, video.SOURCE_W))
    write(os.path.join(out, "session.safetensors"), t, SESSION, (video.SOURCE_H, video.SOURCE_W),
          {"checkpoint": "tiny.pt"})


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--full-size":
        main_full(sys.argv[2])
    else:
        main_micro()
