#!/usr/bin/env python3
"""Trains samtrack's default model: the SAM 2.1 architecture at a small size ("synth" in
Tools/reference/micro_models.py: 256 px, Hiera 32-dim, 64-dim neck, 2 memory-attention layers),
from scratch, on synthetic clips generated on the fly by Tools/synth/synth.py.

The recipe is the official SAM 2 fine-tuning one, run with the official package's own training
modules (`training.model.sam2.SAM2Train`, `training.loss_fns.MultiStepMultiMasksAndIous`):
sequences of 1-8 frames, prompts on the first frame (box, points sampled from the mask, or the
mask itself) plus iterative correction clicks, loss on every frame (focal x20 + Dice on the best
of the multimask outputs, L1 on the predicted IoUs, object-score BCE), AdamW with one learning
rate for the image encoder and one for the rest, no weight decay on biases and LayerNorms,
warm-up then cosine decay, gradient clipping. Only the sizes and rates differ (from scratch on a
2-core CPU instead of fine-tuning on GPUs).

Training stops and resumes: every few minutes, on Ctrl-C / SIGTERM and at --minutes, the run
directory gets `last.pt` (model, optimizer, step, random states) and `curve.csv` grows by one row
per step. Running the same command again continues where it stopped. Clip seeds derive from the
step number, so a resumed run sees the same data a continuous one would.

usage:
  Tools/train/train.py --run Tools/train/runs/synth --minutes 60           # train (or resume)
  Tools/train/train.py --run Tools/train/runs/synth --export Fixtures/models/synth.pt
"""
import argparse
import csv
import math
import os
import signal
import sys
import time

import numpy as np
import torch
from hydra.utils import instantiate
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "Tools", "reference"))
sys.path.insert(0, os.path.join(REPO, "Tools", "synth"))

import micro_models  # noqa: E402
from make_video_fixtures import normalise  # noqa: E402  (the predictor's ImageNet normalisation)
from synth import generate_clip  # noqa: E402
from scenes import generate_scene  # noqa: E402
from sam2.modeling.sam2_utils import get_next_point  # noqa: E402
from sam2.utils.misc import concat_points  # noqa: E402
from training.loss_fns import MultiStepMultiMasksAndIous  # noqa: E402
from training.model.sam2 import SAM2Train  # noqa: E402
from training.utils.data_utils import BatchedVideoDatapoint, BatchedVideoMetaData  # noqa: E402

DEFAULT_MODEL = "synth"

# SAM2Train's own options, as the official sam2.1 fine-tuning config sets them, except for mostly
# mask prompts (p(points or box) 0.1 instead of 0.5: from scratch, the point/box path learns far
# more slowly than mask propagation through memory — a one-batch overfit test moved the Dice loss
# of point/box prompts by nothing in 60 steps while mask-prompted 4-frame tracking fell from 0.5
# to 0.04 in 55; the evaluation follows the DAVIS protocol of first-frame masks) and 3 correction
# clicks per corrected frame instead of 7 (each click is one more decoder pass; CPU budget).
TRAIN_OPTIONS = dict(
    prob_to_use_pt_input_for_train=0.1,
    prob_to_use_box_input_for_train=0.5,
    prob_to_sample_from_gt_for_train=0.1,
    num_frames_to_correct_for_train=2,
    rand_frames_to_correct_for_train=True,
    add_all_frames_to_correct_as_cond=True,
    num_init_cond_frames_for_train=2,
    rand_init_cond_frames_for_train=True,
    num_correction_pt_per_frame=3,
    use_act_ckpt_iterative_pt_sampling=False,
    num_init_cond_frames_for_eval=1,
    forward_backbone_per_frame_for_eval=True,
)

LOSS_WEIGHTS = {"loss_mask": 20.0, "loss_dice": 1.0, "loss_iou": 1.0, "loss_class": 1.0}


def contact_clicks(gt, clip_of, coords, rng, prob, radius=4):
    """--contact-prob: single clicks moved to where the object meets another. gt [O, H, W] bool
    (frame t's objects), clip_of [O] (each object's clip), coords [O, 1, 2] (x, y) the sampled
    clicks. With probability `prob` per object, if another object of its clip (not a copy of it)
    comes within `radius` pixels, the click becomes a uniform draw from the object's pixels that
    are that close to it; the neighbour stays background in the object's loss. Returns new coords
    and how many clicks moved."""
    coords = coords.clone()
    moved = 0
    for o in range(gt.shape[0]):
        if rng.random() >= prob:
            continue
        others = torch.zeros_like(gt[o])
        for q in range(gt.shape[0]):
            if q != o and int(clip_of[q]) == int(clip_of[o]) and not torch.equal(gt[q], gt[o]):
                others |= gt[q]
        if not bool(others.any()):
            continue
        near = torch.nn.functional.max_pool2d(others[None, None].float(), 2 * radius + 1, stride=1,
                                              padding=radius)[0, 0] > 0
        pixels = (gt[o] & near).nonzero()
        if len(pixels) == 0:
            continue
        y, x = pixels[int(rng.integers(len(pixels)))].tolist()
        coords[o, 0, 0], coords[o, 0, 1] = float(x), float(y)
        moved += 1
    return coords, moved


class PromptTrain(SAM2Train):
    """SAM2Train with two additions to its prompt sampling. A single initial click (one point drawn
    uniformly from the object, as SAM2Train draws it) moves, with probability `contact_prob`, to
    where the object touches or overlaps another (`contact_clicks`: evalgen's failing clicks are
    there, and every candidate takes the neighbour). Then it becomes 1 + k positive clicks (k from
    1 to `extra_points`, drawn uniformly) with probability `prob_extra_points`. SAM2Train itself
    only ever gives several points *with* the previous mask logits (its correction rounds); a
    person who clicks three times before anything is predicted gives several points alone."""

    extra_points = 0
    prob_extra_points = 0.0
    contact_prob = 0.0

    def prepare_prompt_inputs(self, backbone_out, input, start_frame_idx=0):
        backbone_out = super().prepare_prompt_inputs(backbone_out, input, start_frame_idx)
        self.last_used_points = bool(backbone_out["use_pt_input"])
        if not self.training:
            return backbone_out
        for t, inputs in backbone_out["point_inputs_per_frame"].items():
            labels = inputs["point_labels"]
            if labels.shape[1] != 1 or not bool((labels == 1).all()):
                continue  # a box, or a point that is not a single positive click
            if self.contact_prob > 0:
                coords, _ = contact_clicks(backbone_out["gt_masks_per_frame"][t][:, 0].bool(),
                                           input.obj_to_frame_idx[t, :, 1], inputs["point_coords"], self.rng,
                                           self.contact_prob)
                inputs = {"point_coords": coords, "point_labels": labels}
            if self.extra_points >= 1 and self.rng.random() < self.prob_extra_points:
                for _ in range(int(self.rng.integers(1, self.extra_points, endpoint=True))):
                    points, new_labels = get_next_point(backbone_out["gt_masks_per_frame"][t], None, "uniform")
                    inputs = concat_points(inputs, points, new_labels)
            backbone_out["point_inputs_per_frame"][t] = inputs
        return backbone_out


def build_teacher(path, name):
    """The --teacher model: `name`'s architecture with `path`'s weights, in eval mode, so it tracks
    every sequence from a frame-0 mask (the official eval settings: mask prompts, one conditioning
    frame, no dropout) and needs no gradients."""
    teacher = build_model(name, 1)
    try:
        teacher.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
    except RuntimeError as error:
        raise SystemExit(f"--teacher {path} does not fit a {name} model: {str(error)[:300]}")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def teacher_loss(outputs, teacher_outputs):
    """Distillation of mask-prompted tracking: the mean over tracked frames (1..T-1), objects and
    pixels of the binary cross-entropy of the student's final high-resolution mask logits against
    the teacher's probabilities. Frame 0 is the prompt itself in both."""
    total = 0.0
    for student, teacher in zip(outputs[1:], teacher_outputs[1:]):
        s = student["multistep_pred_multimasks_high_res"][-1]
        t = teacher["multistep_pred_multimasks_high_res"][-1]
        if s.shape[1] != 1 or t.shape[1] != 1:
            raise ValueError(f"teacher loss expects one mask per tracked frame, got {tuple(s.shape)} / {tuple(t.shape)}")
        total = total + torch.nn.functional.binary_cross_entropy_with_logits(s, torch.sigmoid(t))
    return total / max(1, len(outputs) - 1)


def build_model(name=DEFAULT_MODEL, init_cond_frames=TRAIN_OPTIONS["num_init_cond_frames_for_train"], args=None):
    """The official SAM2Train module (with PromptTrain's extra initial clicks) with the sizes `name`
    has in Tools/reference/micro_models.py ("synth", the default model's; same state-dict keys as
    SAM2Base).
    `init_cond_frames` is the most frames of a training sequence that get prompts (1 to it, at
    random): the official 2 puts a second ground-truth prompt at a random later frame of half the
    sequences; 1 prompts the first frame only, the semi-supervised protocol the evaluation uses.
    `args` (train.py's options) sets the prompt mix: --prompt-prob, --box-prob, --corrections,
    --correct-frames, --extra-points, --freeze-vision."""
    cfg = micro_models.model_config(name, version21=True, video=False)
    cfg["_target_"] = "training.model.sam2.SAM2Train"
    # Evaluation-time post-processing options are not training options.
    del cfg["sam_mask_decoder_extra_args"]
    del cfg["binarize_mask_from_pts_for_mem_enc"]
    for key, value in TRAIN_OPTIONS.items():
        cfg[key] = value
    cfg["num_init_cond_frames_for_train"] = init_cond_frames
    if args is not None:
        cfg["prob_to_use_pt_input_for_train"] = args.prompt_prob
        cfg["prob_to_use_box_input_for_train"] = args.box_prob
        cfg["num_correction_pt_per_frame"] = args.corrections
        cfg["num_frames_to_correct_for_train"] = args.correct_frames
        cfg["freeze_image_encoder"] = args.freeze_vision
    model = instantiate(cfg, _recursive_=True)
    model.__class__ = PromptTrain
    if args is not None:
        model.extra_points = args.extra_points
        model.prob_extra_points = args.extra_points_prob
        model.contact_prob = args.contact_prob
    return model


def param_groups(model, args):
    """AdamW groups: image encoder vs rest (own learning rates), decay vs no decay (biases and
    LayerNorm weights get none, as in the official config)."""
    no_decay = set()
    for module_name, module in model.named_modules():
        if isinstance(module, torch.nn.LayerNorm):
            for name, _ in module.named_parameters(recurse=False):
                no_decay.add(f"{module_name}.{name}" if module_name else name)
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        vision = name.startswith("image_encoder.")
        decay = not (name.endswith("bias") or name in no_decay)
        key = (vision, decay)
        if key not in groups:
            groups[key] = {"params": [], "names": [], "base_lr": args.vision_lr if vision else args.lr,
                           "weight_decay": args.weight_decay if decay else 0.0}
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return [dict(g, lr=g["base_lr"]) for g in groups.values()]


def lr_factor(step, args):
    """Linear warm-up, then cosine decay to a tenth (the official schedule's end point)."""
    if step < args.warmup:
        return (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def step_shape(step, args):
    """(frames, clips, copies) of a step, the same for every worker. Frames: 1-8 (--max-frames),
    mostly full sequences (memory is what the tracker learns), sometimes shorter ones (single
    frames are pure SAM image steps with point or box prompts). With --image-prob, that share of
    the steps are image steps of --image-batch single frames, each object --image-copies times."""
    rng = np.random.default_rng(args.seed * 1_000_003 + step)
    if args.max_frames == 1:
        return 1, args.batch, args.copies
    if args.image_prob > 0 and rng.random() < args.image_prob:
        return 1, args.image_batch or args.batch, args.image_copies or args.copies
    if rng.random() < 0.6:
        return args.max_frames, args.batch, args.copies
    return int(rng.integers(1, args.max_frames)), args.batch, args.copies


# --difficulty wide: clips are generated at one of these frame shapes (long side x aspect, W/H),
# then scaled to the model's square input as the predictors scale every video.
WIDE_LONG_SIDES = ([256, 320, 384], [0.5, 0.3, 0.2])
WIDE_ASPECTS = ([1.0, 4 / 3, 16 / 9, 3 / 4, 9 / 16, 2.0], [0.25, 0.25, 0.25, 0.1, 0.1, 0.05])


def clip_difficulty(seed, args):
    """synth.py's difficulty for one clip: --difficulty, or with "mix" wide and train half and half
    (drawn from the clip seed)."""
    if args.difficulty != "mix":
        return args.difficulty
    return "wide" if np.random.default_rng([seed, 19]).random() < 0.5 else "train"


# --small-prob: that share of clips (drawn from the clip seed) has tracked objects of 0.8-8% of the frame
SMALL_AREA_RANGE = (0.008, 0.08)


def clip_area_range(seed, args):
    """The frame-0 area range of a clip's tracked objects: SMALL_AREA_RANGE for a --small-prob share of
    clips, else None (the difficulty's own range)."""
    if args.small_prob > 0 and np.random.default_rng([seed, 23]).random() < args.small_prob:
        return SMALL_AREA_RANGE
    return None


def uses_scenes(seed, args):
    """True for the --scenes-prob share of clips (drawn from the clip seed) that come from
    Tools/synth/scenes.py, the second training generator, instead of synth.py."""
    return args.scenes_prob > 0 and np.random.default_rng([seed, 29]).random() < args.scenes_prob


def is_lookalike(seed, args):
    """True for the --lookalike-prob share of synth.py clips (drawn from the clip seed): 2-3 tracked
    objects, 1 and 2 of nearly one colour and meeting (synth.generate_clip's `lookalike`)."""
    return args.lookalike_prob > 0 and np.random.default_rng([seed, 31]).random() < args.lookalike_prob


def make_clip(seed, frames, args):
    """One training clip of `frames` frames: a scenes.py clip (--scenes-prob) or a synth.py one."""
    if uses_scenes(seed, args):
        return generate_scene(seed, num_frames=frames, num_objects=(1, 3))
    lookalike = is_lookalike(seed, args)
    return generate_clip(seed, num_frames=frames, size=clip_shape(seed, args), num_objects=(2, 3) if lookalike else (1, 3),
                         difficulty=clip_difficulty(seed, args), area_range=clip_area_range(seed, args),
                         lookalike=lookalike)


def clip_shape(seed, args):
    """(H, W) a clip is generated at: the model's size, or for a wide clip one of several frame
    shapes (drawn from the clip seed)."""
    if clip_difficulty(seed, args) != "wide":
        return args.size, args.size
    rng = np.random.default_rng([seed, 17])
    long_side = rng.choice(WIDE_LONG_SIDES[0], p=WIDE_LONG_SIDES[1]) * args.size / 256
    aspect = rng.choice(WIDE_ASPECTS[0], p=WIDE_ASPECTS[1])
    w, h = (long_side, long_side / aspect) if aspect >= 1 else (long_side * aspect, long_side)
    return int(round(h / 2)) * 2, int(round(w / 2)) * 2


def to_model_size(clip, size):
    """The clip's frames [T, size, size, 3] (bicubic) and masks [T, size, size] (nearest)."""
    if clip.frames.shape[1:3] == (size, size):
        return clip.frames, clip.masks
    frames = np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BICUBIC))
                       for f in clip.frames])
    masks = np.stack([np.asarray(Image.fromarray(m).resize((size, size), Image.Resampling.NEAREST))
                      for m in clip.masks])
    return frames, masks


def make_batch(step, args, rank=0):
    """A BatchedVideoDatapoint of the step's generated clips (`args.batch`, or `--image-batch` on an
    image step; seeds derive from the step and the worker's rank, spaced by the larger of the two so
    no clip repeats; every worker of a step gets the same shape)."""
    frames, count, copies = step_shape(step, args)
    size = (args.size, args.size)
    stride = max(args.batch, args.image_batch or 0)  # clip seeds never repeat across steps
    first = (step * args.workers + rank) * stride
    seeds = [args.seed * 1_000_000 + first + b for b in range(count)]
    clips = [make_clip(seed, frames, args) for seed in seeds]
    scaled = [to_model_size(c, args.size) for c in clips]
    stacked = np.stack([f for f, _ in scaled], axis=1)  # T B H W 3
    images = normalise(stacked.reshape(-1, *stacked.shape[2:])).reshape(frames, count, 3, *size)
    masks, obj_to_frame = [], []
    for b, clip in enumerate(clips):
        labels = scaled[b][1]
        for obj in range(1, clip.num_objects + 1):
            if not (labels[0] == obj).any():
                continue  # a small object lost on frame 0 by the scaling: nothing to prompt
            for _ in range(copies):  # each copy gets its own prompts and correction clicks
                masks.append(torch.from_numpy(labels == obj))
                obj_to_frame.append(torch.stack([torch.arange(frames), torch.full((frames,), b)], dim=1))
    masks = torch.stack(masks, dim=1)  # T O H W
    obj_to_frame = torch.stack(obj_to_frame, dim=1).int()  # T O 2
    objects = masks.shape[1]
    metadata = BatchedVideoMetaData(
        unique_objects_identifier=torch.zeros(frames, objects, 3, dtype=torch.long),
        frame_orig_size=torch.tensor(size).repeat(frames, objects, 1), batch_size=[frames])
    batch = BatchedVideoDatapoint(img_batch=images, obj_to_frame_idx=obj_to_frame, masks=masks,
                                  metadata=metadata, dict_key="all", batch_size=[frames])
    return batch, frames, objects


def save_state(path, model, optimizer, step, elapsed, args):
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed,
             "model_rng": model.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
             "args": vars(args)}
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def trained_model_name(state):
    """The sizes a run's `last.pt` was trained with: its --model (runs from before --model trained
    "synth" and recorded none)."""
    return state.get("args", {}).get("model") or DEFAULT_MODEL


def export(run_dir, out_path, fp16=False):
    """Writes the trained weights in the official checkpoint format ({"model": state_dict}, the
    layout of sam2.1_hiera_*.pt) plus the Swift-side config sidecar `<name>.json`. `fp16` stores the
    floating-point tensors as float16 (half the size; load_state_dict and samtrack read them and
    compute in fp32)."""
    state = torch.load(os.path.join(run_dir, "last.pt"), map_location="cpu", weights_only=False)
    name = trained_model_name(state)
    reference = instantiate(micro_models.model_config(name, video=False), _recursive_=True)
    weights = state["model"]
    missing = set(reference.state_dict()) ^ set(weights)
    if missing:
        raise SystemExit(f"state dict keys differ from SAM2Base: {sorted(missing)[:5]}")
    tmp = out_path + ".tmp"
    def stored(v):
        return v.half().contiguous() if fp16 and v.is_floating_point() else v.contiguous().clone()
    torch.save({"model": {k: stored(v) for k, v in weights.items()}}, tmp)
    os.replace(tmp, out_path)
    micro_models.write_swift_config(name, os.path.splitext(out_path)[0] + ".json")
    params = sum(v.numel() for v in weights.values())
    print(f"exported step {state['step']} ({params / 1e6:.2f} M parameters{', fp16' if fp16 else ''}) to {out_path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run directory (checkpoint last.pt and curve.csv)")
    ap.add_argument("--minutes", type=float, default=60.0, help="stop (and save) after this much wall time")
    ap.add_argument("--steps", type=int, default=6000, help="schedule length (cosine decay ends here)")
    ap.add_argument("--batch", type=int, default=1, help="clips per step (1-3 objects each)")
    ap.add_argument("--model", choices=sorted(micro_models.MICRO), default=None,
                    help=f"model sizes (Tools/reference/micro_models.py; default {DEFAULT_MODEL}); a resumed "
                    "run keeps the sizes it was started with")
    ap.add_argument("--max-frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--difficulty", choices=["train", "wide", "mix"], default="train",
                    help="synth.py's training clips; wide: more shapes, sizes, backgrounds, blur and lighting, "
                    "and frame shapes other than square (scaled to --size); mix: half train, half wide")
    ap.add_argument("--init-cond-frames", type=int, default=TRAIN_OPTIONS["num_init_cond_frames_for_train"],
                    help="prompted frames per training sequence, 1 to this many at random (official 2: "
                    "frame 0 and a random later one; 1: frame 0 only, as the evaluation does)")
    ap.add_argument("--prompt-prob", type=float, default=TRAIN_OPTIONS["prob_to_use_pt_input_for_train"],
                    help="probability that a sequence is prompted with points or a box rather than masks "
                    "(official 0.5; single frames always get points or a box)")
    ap.add_argument("--box-prob", type=float, default=TRAIN_OPTIONS["prob_to_use_box_input_for_train"],
                    help="given points or a box: probability of a (jittered) box")
    ap.add_argument("--corrections", type=int, default=TRAIN_OPTIONS["num_correction_pt_per_frame"],
                    help="correction clicks per corrected frame (official 7)")
    ap.add_argument("--correct-frames", type=int, default=TRAIN_OPTIONS["num_frames_to_correct_for_train"],
                    help="frames of a point-prompted sequence that get correction clicks, up to this many")
    ap.add_argument("--extra-points", type=int, default=0,
                    help="a single initial click becomes 1 + (1..N) positive clicks with --extra-points-prob")
    ap.add_argument("--extra-points-prob", type=float, default=0.0)
    ap.add_argument("--lookalike-prob", type=float, default=0.0,
                    help="share of synth.py clips (drawn from the clip seed) whose tracked objects 1 and 2 have "
                    "nearly one colour and meet: the neighbour a tracker must not spread onto")
    ap.add_argument("--contact-prob", type=float, default=0.0,
                    help="a single initial click moves, with this probability, to where the object meets another")
    ap.add_argument("--small-prob", type=float, default=0.0,
                    help="share of clips whose tracked objects are small: 0.8-8%% of the frame (log-uniform)")
    ap.add_argument("--scenes-prob", type=float, default=0.0,
                    help="share of clips from Tools/synth/scenes.py (the second training generator) instead of synth.py")
    ap.add_argument("--copies", type=int, default=1,
                    help="each object appears this many times per step, each copy with its own prompts "
                    "(more prompts per image-encoder pass)")
    ap.add_argument("--image-prob", type=float, default=0.0,
                    help="share of steps that are image steps (single frames, points or boxes) in a video run")
    ap.add_argument("--image-batch", type=int, help="frames per image step (default --batch)")
    ap.add_argument("--image-copies", type=int, help="copies per object in image steps (default --copies)")
    ap.add_argument("--freeze-vision", action="store_true", help="do not train the image encoder")
    ap.add_argument("--teacher", help="checkpoint of the same architecture whose mask-prompted tracking the model "
                    "is pulled towards on mask-prompted video steps (keeps what a mask-trained model does well while "
                    "the prompt path is trained)")
    ap.add_argument("--teacher-weight", type=float, default=20.0,
                    help="weight of the teacher loss (per tracked frame; the focal loss has 20)")
    ap.add_argument("--lr", type=float, default=4e-4, help="learning rate outside the image encoder")
    ap.add_argument("--vision-lr", type=float, default=3e-4, help="image encoder learning rate")
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--clip-norm", type=float, default=1.0)
    ap.add_argument("--dice-weight", type=float, default=LOSS_WEIGHTS["loss_dice"],
                    help="weight of the Dice loss (official 1; focal is 20)")
    ap.add_argument("--iou-weight", type=float, default=LOSS_WEIGHTS["loss_iou"],
                    help="weight of the IoU-prediction loss (official 1), which ranks a click's candidates")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per worker")
    ap.add_argument("--workers", type=int, default=1,
                    help="data-parallel worker processes (gradients averaged every step; "
                    "the effective batch is workers x batch)")
    ap.add_argument("--save-every", type=float, default=5.0, help="minutes between checkpoints")
    ap.add_argument("--init", metavar="PT", help="start a new run from these weights (a run's last.pt or an "
                    "exported checkpoint), e.g. the image-pretraining stage's")
    ap.add_argument("--export", metavar="PT", help="export the run's weights to PT and exit")
    ap.add_argument("--fp16", action="store_true", help="with --export: store the weights as float16")
    args = ap.parse_args()
    if args.init_cond_frames < 1 or args.max_frames < 1:
        ap.error("--init-cond-frames and --max-frames must be at least 1")

    if args.export:
        export(args.run, args.export, args.fp16)
        return
    if args.workers > 1:
        port = 29500 + os.getpid() % 1000
        workers = torch.multiprocessing.spawn(train, args=(args, port), nprocs=args.workers, join=False)

        def forward_signal(signum, frame):  # Ctrl-C / SIGTERM stop the workers the same way
            for process in workers.processes:
                if process.is_alive():
                    os.kill(process.pid, signum)
        signal.signal(signal.SIGINT, forward_signal)
        signal.signal(signal.SIGTERM, forward_signal)
        while not workers.join():
            pass
    else:
        train(0, args, None)


def average_gradients(model, world):
    """Sums every parameter's gradient over the workers (a missing gradient counts as zero) and
    divides by their number, so each worker takes the same optimizer step."""
    params = [p for p in model.parameters() if p.requires_grad]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def train(rank, args, port):
    """One worker's training loop (rank 0 writes the curve and the checkpoints)."""
    world = args.workers
    if world > 1:
        torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                             world_size=world)
    lead = rank == 0
    torch.set_num_threads(args.threads)
    os.makedirs(args.run, exist_ok=True)
    ckpt_path = os.path.join(args.run, "last.pt")
    curve_path = os.path.join(args.run, "curve.csv")

    state = None
    if os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        trained = trained_model_name(state)
        if args.model not in (None, trained):
            raise SystemExit(f"{ckpt_path} holds a {trained} model; --model {args.model} cannot resume it "
                             "(start a new --run directory)")
        args.model = trained
    args.model = args.model or DEFAULT_MODEL

    torch.manual_seed(args.seed)
    model = build_model(args.model, args.init_cond_frames, args)
    model.train()
    optimizer = torch.optim.AdamW(param_groups(model, args), betas=(0.9, 0.999))
    weights = dict(LOSS_WEIGHTS, loss_dice=args.dice_weight, loss_iou=args.iou_weight)
    loss_fn = MultiStepMultiMasksAndIous(weights, supervise_all_iou=True, iou_use_l1_loss=True,
                                         pred_obj_scores=True, focal_gamma_obj_score=0.0,
                                         focal_alpha_obj_score=-1.0)
    step, elapsed_before = 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        model.rng.bit_generator.state = state["model_rng"]
        torch.set_rng_state(state["torch_rng"])
        step = state["step"]
        elapsed_before = state.get("elapsed", 0.0)
        if lead:
            print(f"resumed at step {step}")
    elif args.init:
        try:
            model.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=False)["model"])
        except RuntimeError as error:
            raise SystemExit(f"--init {args.init} does not fit a {args.model} model: {str(error)[:300]}")
        if lead:
            print(f"initialised from {args.init}")
    if world > 1:
        # Workers share weights and optimizer state but draw their own prompts and dropout.
        model.rng = np.random.default_rng([args.seed, step, rank])
        torch.manual_seed(args.seed * 1000 + step * world + rank)
    teacher = build_teacher(args.teacher, args.model) if args.teacher else None
    if teacher is not None and lead:
        print(f"teacher {args.teacher} (weight {args.teacher_weight}) on mask-prompted video steps")
    params = sum(p.numel() for p in model.parameters())
    if lead:
        print(f"model {args.model}: {params / 1e6:.2f} M parameters, {world} worker(s) x "
              f"{torch.get_num_threads()} thread(s)")

    stop = {"now": False}

    def request_stop(signum, frame):
        stop["now"] = True
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    if lead and os.path.exists(curve_path):
        # Rows after the checkpoint's step (a run that stopped without saving) are redone.
        with open(curve_path, newline="") as fh:
            rows = list(csv.reader(fh))
        kept = rows[:1] + [r for r in rows[1:] if int(r[0]) <= step]
        with open(curve_path + ".tmp", "w", newline="") as fh:
            csv.writer(fh).writerows(kept)
        os.replace(curve_path + ".tmp", curve_path)
    if world > 1:
        torch.distributed.barrier()  # the curve is trimmed before anyone appends
    new_curve = not os.path.exists(curve_path)
    curve = open(curve_path, "a", newline="") if lead else open(os.devnull, "w")
    writer = csv.writer(curve)
    if new_curve:
        writer.writerow(["step", "wall_s", "frames", "objects", "loss", "loss_mask", "loss_dice", "loss_iou",
                         "loss_class", "lr", "step_s", "loss_teacher"])
    start = time.time()
    last_save = start
    smoothed = None
    def keep_going():
        """Every worker stops at the same step: when any of them was asked to or time is up."""
        done = step >= args.steps or stop["now"] or time.time() - start >= args.minutes * 60
        if world > 1:
            flag = torch.tensor([1.0 if done else 0.0])
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            done = flag.item() > 0
        return not done

    while keep_going():
        t0 = time.time()
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * lr_factor(step, args)
        batch, frames, objects = make_batch(step, args, rank)
        outputs = model(batch)
        losses = loss_fn(outputs, batch.masks)
        loss = losses["core_loss"]
        distilled = torch.zeros(())
        if teacher is not None and frames > 1 and not model.last_used_points:
            with torch.no_grad():
                teacher_outputs = teacher(batch)
            distilled = teacher_loss(outputs, teacher_outputs)
            # core_loss sums its per-frame losses; so does this (tracked frames only).
            loss = loss + args.teacher_weight * (frames - 1) * distilled
        distilled = float(distilled.detach())
        optimizer.zero_grad(set_to_none=True)
        # Mask prompts on every frame of a short sequence (mask inputs are passed through as the
        # output, without the network) leave nothing to learn: such a step updates nothing.
        learned = torch.tensor([1.0 if loss.requires_grad else 0.0])
        if loss.requires_grad:
            loss.backward()
        if world > 1:
            torch.distributed.all_reduce(learned)
            if learned.item() > 0:
                average_gradients(model, world)
            # The curve shows the mean over the workers.
            logged = torch.tensor([loss.item()] + [losses[k].item() for k in LOSS_WEIGHTS]
                                  + [distilled, objects])
            torch.distributed.all_reduce(logged)
            logged /= world
            losses = dict(losses, **{k: logged[i + 1] for i, k in enumerate(LOSS_WEIGHTS)})
            loss, distilled, objects = logged[0], logged[-2].item(), int(round(logged[-1].item() * world))
        if learned.item() > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)
            optimizer.step()
        step += 1
        step_s = time.time() - t0
        value = loss.item() / frames  # per frame, comparable across sequence lengths
        smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
        writer.writerow([step, f"{elapsed_before + time.time() - start:.1f}", frames, objects, f"{value:.5f}",
                         *(f"{losses[k].item() / frames:.5f}" for k in LOSS_WEIGHTS),
                         f"{optimizer.param_groups[0]['lr']:.3e}", f"{step_s:.2f}", f"{distilled:.5f}"])
        if step % 10 == 0 and lead:
            curve.flush()
            print(f"step {step}  loss/frame {value:.4f} (smoothed {smoothed:.4f})  T={frames} O={objects}  "
                  f"{step_s:.2f} s/step", flush=True)
        if lead and time.time() - last_save > args.save_every * 60:
            save_state(ckpt_path, model, optimizer, step, elapsed_before + time.time() - start, args)
            last_save = time.time()
    curve.close()
    if not lead:
        return
    elapsed = elapsed_before + time.time() - start
    save_state(ckpt_path, model, optimizer, step, elapsed, args)
    print(f"saved step {step} to {ckpt_path} ({elapsed / 60:.1f} min of training in all)")


if __name__ == "__main__":
    main()
