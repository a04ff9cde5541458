"""Writes the fine-tuning fixtures (Fixtures/training/): torch.autograd gradients of every operation
on the prompt-encoder + mask-decoder path, the official training loss and its gradients, the whole
decoder's parameter gradients on the micro model over a chain of correction steps, and AdamW steps.

Run:  Tools/reference/venv.sh python Tools/reference/make_training_fixtures.py
Outputs: Fixtures/training/{ops,loss,decoder_micro,adamw}.safetensors (seed 20261130)."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import micro_models  # noqa: E402
from fixture_io import update_manifest, write_safetensors  # noqa: E402

from sam2.modeling.sam2_utils import MLP, LayerNorm2d  # noqa: E402
from sam2.modeling.sam.transformer import Attention  # noqa: E402
from training.loss_fns import MultiStepMultiMasksAndIous  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
OUT = os.path.join(FIXTURES, "training")
SEED = 20261130
written = []


def grads(outputs, inputs, upstream):
    """torch.autograd gradients of sum(outputs * upstream) with respect to `inputs`."""
    return torch.autograd.grad(outputs, inputs, upstream)


def ops_fixture(g):
    t = {}

    def rand(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g)).requires_grad_(True)

    # Linear: x [2, 5, 12], W [7, 12].
    x, w, b = rand(2, 5, 12), rand(7, 12, scale=0.3), rand(7)
    y = F.linear(x, w, b)
    dy = torch.randn(y.shape, generator=g)
    dx, dw, db = grads(y, (x, w, b), dy)
    t.update({"linear.x": x, "linear.weight": w, "linear.bias": b, "linear.y": y, "linear.dy": dy,
              "linear.dx": dx, "linear.dweight": dw, "linear.dbias": db})

    # LayerNorm over the last axis (eps 1e-5).
    x, w, b = rand(3, 4, 16), rand(16), rand(16)
    y = F.layer_norm(x, (16,), w, b, 1e-5)
    dy = torch.randn(y.shape, generator=g)
    dx, dw, db = grads(y, (x, w, b), dy)
    t.update({"layer_norm.x": x, "layer_norm.weight": w, "layer_norm.bias": b, "layer_norm.y": y,
              "layer_norm.dy": dy, "layer_norm.dx": dx, "layer_norm.dweight": dw, "layer_norm.dbias": db})

    # SAM's LayerNorm2d (eps 1e-6).
    ln = LayerNorm2d(8)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(8, generator=g))
        ln.bias.copy_(torch.randn(8, generator=g))
    x = rand(2, 8, 5, 6, scale=2.0)
    y = ln(x)
    dy = torch.randn(y.shape, generator=g)
    dx, dw, db = grads(y, (x, ln.weight, ln.bias), dy)
    t.update({"layer_norm2d.x": x, "layer_norm2d.weight": ln.weight, "layer_norm2d.bias": ln.bias,
              "layer_norm2d.y": y, "layer_norm2d.dy": dy, "layer_norm2d.dx": dx,
              "layer_norm2d.dweight": dw, "layer_norm2d.dbias": db})

    # Element-wise: exact GELU, ReLU, sigmoid, on values spread over [-6, 6] plus exact zeros.
    base = torch.cat([torch.linspace(-6, 6, 997), torch.zeros(3)])
    for name, fn in (("gelu", F.gelu), ("relu", F.relu), ("sigmoid", torch.sigmoid)):
        x = base.clone().requires_grad_(True)
        y = fn(x)
        dy = torch.randn(y.shape, generator=g)
        (dx,) = grads(y, (x,), dy)
        t.update({f"{name}.x": x, f"{name}.y": y, f"{name}.dy": dy, f"{name}.dx": dx})

    # SAM's Attention: 32 wide, 4 heads, downsample 2 (as the decoder's cross-attention).
    attn = Attention(32, 4, downsample_rate=2)
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    q, k, v = rand(2, 5, 32), rand(2, 7, 32), rand(2, 7, 32)
    y = attn(q, k, v)
    dy = torch.randn(y.shape, generator=g)
    names = [n for n, _ in attn.named_parameters()]
    gs = grads(y, (q, k, v) + tuple(attn.parameters()), dy)
    t.update({"attention.q": q, "attention.k": k, "attention.v": v, "attention.y": y, "attention.dy": dy,
              "attention.dq": gs[0], "attention.dk": gs[1], "attention.dv": gs[2]})
    for n, p, d in zip(names, attn.parameters(), gs[3:]):
        t[f"attention.{n}"] = p
        t[f"attention.d.{n}"] = d

    # ConvTranspose2d kernel = stride = 2 (the output upscaling).
    x, w, b = rand(2, 8, 5, 4), rand(8, 6, 2, 2, scale=0.4), rand(6)
    y = F.conv_transpose2d(x, w, b, stride=2)
    dy = torch.randn(y.shape, generator=g)
    dx, dw, db = grads(y, (x, w, b), dy)
    t.update({"conv_transpose2d.x": x, "conv_transpose2d.weight": w, "conv_transpose2d.bias": b,
              "conv_transpose2d.y": y, "conv_transpose2d.dy": dy, "conv_transpose2d.dx": dx,
              "conv_transpose2d.dweight": dw, "conv_transpose2d.dbias": db})

    # Conv2d 2x2 stride 2 (mask downscaling) and 1x1 (conv_s0 / conv_s1, the last downscaling layer).
    for name, (ci, co, k, h, wd) in (("conv2d_k2s2", (4, 6, 2, 8, 6)), ("conv2d_1x1", (16, 4, 1, 6, 5))):
        x, w, b = rand(2, ci, h, wd), rand(co, ci, k, k, scale=0.4), rand(co)
        y = F.conv2d(x, w, b, stride=k)
        dy = torch.randn(y.shape, generator=g)
        dx, dw, db = grads(y, (x, w, b), dy)
        t.update({f"{name}.x": x, f"{name}.weight": w, f"{name}.bias": b, f"{name}.y": y, f"{name}.dy": dy,
                  f"{name}.dx": dx, f"{name}.dweight": dw, f"{name}.dbias": db})

    # SAM's MLP: 3 layers with ReLU and a sigmoid output (the IoU head's form).
    mlp = MLP(24, 32, 5, 3, sigmoid_output=True)
    with torch.no_grad():
        for p in mlp.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    x = rand(2, 1, 24)
    y = mlp(x)
    dy = torch.randn(y.shape, generator=g)
    names = [n for n, _ in mlp.named_parameters()]
    gs = grads(y, (x,) + tuple(mlp.parameters()), dy)
    t.update({"mlp.x": x, "mlp.y": y, "mlp.dy": dy, "mlp.dx": gs[0]})
    for n, p, d in zip(names, mlp.parameters(), gs[1:]):
        t[f"mlp.{n}"] = p
        t[f"mlp.d.{n}"] = d

    # The mask product hyper_in @ upscaled.
    a, bm = rand(2, 4, 6), rand(2, 6, 40)
    y = a @ bm
    dy = torch.randn(y.shape, generator=g)
    da, dbm = grads(y, (a, bm), dy)
    t.update({"product.a": a, "product.b": bm, "product.y": y, "product.dy": dy, "product.da": da, "product.db": dbm})

    # Bilinear resize (align_corners False): x4 (low-res to image size) and an uneven ratio.
    for name, (hin, win, hout, wout) in (("bilinear_x4", (8, 8, 32, 32)), ("bilinear_uneven", (5, 7, 13, 17))):
        x = rand(2, 3, hin, win)
        y = F.interpolate(x, size=(hout, wout), mode="bilinear", align_corners=False)
        dy = torch.randn(y.shape, generator=g)
        (dx,) = grads(y, (x,), dy)
        t.update({f"{name}.x": x, f"{name}.y": y, f"{name}.dy": dy, f"{name}.dx": dx})

    path = os.path.join(OUT, "ops.safetensors")
    write_safetensors(path, t, {"seed": SEED, "torch": torch.__version__})
    written.append(os.path.relpath(path, FIXTURES))


def ellipse(size, cx, cy, rx, ry):
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    return (((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1).float()


def loss_fixture(g):
    """The official loss of one step on 3 candidate masks and of a step whose target is empty."""
    t = {}
    loss_fn = MultiStepMultiMasksAndIous(weight_dict={"loss_mask": 20, "loss_dice": 1, "loss_iou": 1, "loss_class": 1},
                                         supervise_all_iou=True, iou_use_l1_loss=True, pred_obj_scores=True,
                                         focal_gamma_obj_score=0.0, focal_alpha_obj_score=-1.0)
    cases = {"multi": (3, ellipse(32, 14, 17, 8, 5)), "single": (1, ellipse(32, 20, 9, 6, 7)),
             "empty": (3, torch.zeros(32, 32))}
    for name, (m, target) in cases.items():
        logits = (3 * torch.randn(1, m, 32, 32, generator=g)).requires_grad_(True)
        ious = torch.rand(1, m, generator=g).requires_grad_(True)
        score = torch.randn(1, 1, generator=g).requires_grad_(True)
        outs = {"multistep_pred_multimasks_high_res": [logits], "multistep_pred_ious": [ious],
                "multistep_object_score_logits": [score]}
        losses = loss_fn([outs], target[None, None])  # targets [T=1, N=1, H, W]
        total = losses["core_loss"]
        dl, di, ds = torch.autograd.grad(total, (logits, ious, score))
        t.update({f"{name}.logits": logits, f"{name}.iou": ious, f"{name}.score": score, f"{name}.target": target,
                  f"{name}.focal": losses["loss_mask"], f"{name}.dice": losses["loss_dice"],
                  f"{name}.iou_loss": losses["loss_iou"], f"{name}.class": losses["loss_class"],
                  f"{name}.total": total, f"{name}.dlogits": dl, f"{name}.diou": di, f"{name}.dscore": ds})
    path = os.path.join(OUT, "loss.safetensors")
    write_safetensors(path, t, {"seed": SEED, "torch": torch.__version__})
    written.append(os.path.relpath(path, FIXTURES))


def decoder_fixture(g):
    """The micro model's heads (`_forward_sam_heads`, conv_s0 / conv_s1 on the neck features) over
    scripted cases, the official loss summed over their steps, and every trainable gradient."""
    model = micro_models.build("micro", 1, video=False)
    state = torch.load(os.path.join(FIXTURES, "models", "micro.pt"), map_location="cpu", weights_only=True)["model"]
    model.load_state_dict(state)
    model.eval()
    model.sam_mask_decoder.dynamic_multimask_via_stability = False  # as in training
    c, size = 32, 128
    e = size // 16
    trainable = [(n, p) for n, p in model.named_parameters()
                 if n.startswith("sam_prompt_encoder.") or n.startswith("sam_mask_decoder.")]
    loss_fn = MultiStepMultiMasksAndIous(weight_dict={"loss_mask": 20, "loss_dice": 1, "loss_iou": 1, "loss_class": 1},
                                         supervise_all_iou=True, iou_use_l1_loss=True, pred_obj_scores=True,
                                         focal_gamma_obj_score=0.0, focal_alpha_obj_score=-1.0)
    t = {}
    target = ellipse(size, 60, 70, 30, 22)
    target2 = ellipse(size, 40, 50, 18, 26)
    embed = torch.randn(1, c, e, e, generator=g)
    s0 = torch.randn(1, c, 4 * e, 4 * e, generator=g)
    s1 = torch.randn(1, c, 2 * e, 2 * e, generator=g)
    t.update({"image_embedding": embed, "neck0": s0, "neck1": s1, "target": target, "target2": target2})

    def heads(points, labels, mask_input, multimask, features=embed):
        hr = [model.sam_mask_decoder.conv_s0(s0), model.sam_mask_decoder.conv_s1(s1)]
        pi = None
        if points is not None:
            pi = {"point_coords": torch.tensor([points], dtype=torch.float32),
                  "point_labels": torch.tensor([labels], dtype=torch.int32)}
        return model._forward_sam_heads(features, point_inputs=pi, mask_inputs=mask_input, high_res_features=hr,
                                        multimask_output=multimask)

    # Cases: (name, steps, target, object-score bias). Each step: points so far, labels, mask input
    # ("prev" = the previous step's low-res mask), multimask. The chain carries gradients through
    # the mask inputs, as SAM2Train's correction clicks do.
    cases = [
        ("clicks", [([[61.0, 70.0]], [1], None, True),
                    ([[61.0, 70.0], [88.0, 71.0]], [1, 0], "prev", False),
                    ([[61.0, 70.0], [88.0, 71.0], [40.0, 60.0]], [1, 0, 1], "prev", False)], target, None),
        ("box", [([[28.0, 46.0], [93.0, 95.0]], [2, 3], None, False)], target, None),
        ("tracked", [(None, None, None, False)], target2, None),
        ("mask", [(None, None, "gt", False)], target2, None),
        ("empty_target", [([[20.0, 20.0]], [1], None, True)], torch.zeros(size, size), None),
        ("absent", [([[61.0, 70.0]], [1], None, True),
                    ([[61.0, 70.0], [80.0, 40.0]], [1, 1], "prev", False)], target, -10.0),
    ]
    # Gradients are kept for two groups (to keep the fixture small): the three-step click chain
    # alone, and the sum of the other cases' losses.
    groups = {"clicks": ["clicks"], "others": ["box", "tracked", "mask", "empty_target", "absent"]}
    bias_key = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
    by_name = {case[0]: case for case in cases}
    for group, names in groups.items():
        model.zero_grad()
        for name in names:
            _, steps, tgt, bias = by_name[name]
            head_bias = model.sam_mask_decoder.pred_obj_score_head.layers[2].bias
            saved_bias = head_bias.detach().clone()
            if bias is not None:
                with torch.no_grad():
                    head_bias.fill_(bias)
            multimasks, ious, scores = [], [], []
            prev = None
            for i, (points, labels, mask_kind, multimask) in enumerate(steps):
                mask_input = None
                if mask_kind == "prev":
                    mask_input = prev
                elif mask_kind == "gt":
                    mask_input = model.mask_downsample(tgt[None, None])
                low_multi, high_multi, iou, low, high, _, score = heads(points, labels, mask_input, multimask)
                multimasks.append(high_multi)
                ious.append(iou)
                scores.append(score)
                prev = low
                t[f"{name}.{i}.low_res_multimasks"] = low_multi
                t[f"{name}.{i}.iou"] = iou
                t[f"{name}.{i}.object_score"] = score
            outs = {"multistep_pred_multimasks_high_res": multimasks, "multistep_pred_ious": ious,
                    "multistep_object_score_logits": scores}
            losses = loss_fn([outs], tgt[None, None])
            for k in ("loss_mask", "loss_dice", "loss_iou", "loss_class", "core_loss"):
                t[f"{name}.{k}"] = losses[k].reshape(1)
            # The backward pass runs with the case's bias in place (gating depends on it).
            losses["core_loss"].backward()
            with torch.no_grad():
                head_bias.copy_(saved_bias)
        for n, p in trainable:
            t[f"{group}.grad.{n}"] = p.grad if p.grad is not None else torch.zeros_like(p)
    script = [{"name": n, "bias": b, "steps": [{"points": s[0], "labels": s[1], "mask": s[2], "multimask": s[3]}
                                               for s in steps]} for n, steps, _, b in cases]
    path = os.path.join(OUT, "decoder_micro.safetensors")
    write_safetensors(path, t, {"seed": SEED, "torch": torch.__version__, "cases": json.dumps(script),
                                "trainable": json.dumps([n for n, _ in trainable]), "bias_key": bias_key,
                                "groups": json.dumps(groups),
                                "model": "Fixtures/models/micro.pt"})
    written.append(os.path.relpath(path, FIXTURES))


def adamw_fixture(g):
    """torch.optim.AdamW over two parameter groups (decoder-like: lr 1e-3, weight decay 0.1;
    biases: lr 5e-4, no decay) for four steps with given gradients."""
    t = {}
    w1 = torch.randn(6, 5, generator=g).requires_grad_(True)
    w2 = torch.randn(7, generator=g).requires_grad_(True)
    b1 = torch.randn(5, generator=g).requires_grad_(True)
    t.update({"w1.initial": w1.detach().clone(), "w2.initial": w2.detach().clone(), "b1.initial": b1.detach().clone()})
    opt = torch.optim.AdamW([{"params": [w1, w2], "lr": 1e-3, "weight_decay": 0.1},
                             {"params": [b1], "lr": 5e-4, "weight_decay": 0.0}], betas=(0.9, 0.999), eps=1e-8)
    lrs = [(1e-3, 5e-4), (2e-3, 1e-3), (1.5e-3, 7e-4), (3e-4, 1e-4)]  # a changing schedule
    for step, (lr0, lr1) in enumerate(lrs):
        opt.param_groups[0]["lr"] = lr0
        opt.param_groups[1]["lr"] = lr1
        for name, p in (("w1", w1), ("w2", w2), ("b1", b1)):
            grad = torch.randn(p.shape, generator=g) * (10.0 if step == 2 else 1.0)
            if step == 1 and name == "w2":
                grad = torch.zeros_like(grad)
            p.grad = grad
            t[f"{name}.grad.{step}"] = grad
        opt.step()
        for name, p in (("w1", w1), ("w2", w2), ("b1", b1)):
            t[f"{name}.after.{step}"] = p.detach().clone()
    path = os.path.join(OUT, "adamw.safetensors")
    write_safetensors(path, t, {"seed": SEED, "torch": torch.__version__, "lrs": json.dumps(lrs),
                                "weight_decay": "0.1,0.0", "betas": "0.9,0.999", "eps": "1e-8"})
    written.append(os.path.relpath(path, FIXTURES))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(SEED)
    ops_fixture(g)
    loss_fixture(g)
    decoder_fixture(g)
    adamw_fixture(g)
    update_manifest(FIXTURES, written)
    print("wrote", ", ".join(written))


if __name__ == "__main__":
    main()
