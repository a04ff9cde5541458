"""Writes Fixtures/kernels/*.safetensors: inputs and outputs of every Tensor kernel as PyTorch
(and the official sam2 package, for its encodings) computes them. Swift tests compare against them.

Run:  Tools/reference/venv.sh python Tools/reference/make_kernel_fixtures.py
Each file holds float32 tensors and string metadata for the kernel's parameters."""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture_io import update_manifest, write_safetensors  # noqa: E402

from sam2.modeling.position_encoding import PositionEmbeddingSine, apply_rotary_enc, compute_axial_cis
from sam2.modeling.sam2_utils import LayerNorm2d, get_1d_sine_pe

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
OUT = os.path.join(FIXTURES, "kernels")
SEED = 20261121
written = []


def save(name, tensors, **metadata):
    path = os.path.join(OUT, name + ".safetensors")
    write_safetensors(path, tensors, metadata)
    written.append(os.path.relpath(path, FIXTURES))


def randn(*shape, scale=1.0):
    return torch.randn(*shape, dtype=torch.float32) * scale


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)

    # Matrix products and Linear (weight [out, in]).
    a, b, bt = randn(3, 5, 7), randn(7, 4), randn(4, 7)
    save("matmul", {"a": a, "b": b, "bt": bt, "ab": a @ b, "abt": a @ bt.T})
    x, y = randn(2, 3, 5, 6), randn(2, 3, 6, 4)
    xt, yt = randn(2, 3, 6, 5), randn(2, 3, 4, 6)
    save("batched_matmul", {"x": x, "y": y, "xt": xt, "yt": yt, "xy": x @ y,
                            "xt_t_y": xt.transpose(-1, -2) @ y, "x_yt_t": 0.5 * (x @ yt.transpose(-1, -2))},
         alpha_x_yt_t="0.5")
    x, w, bias = randn(2, 5, 12), randn(7, 12), randn(7)
    save("linear", {"x": x, "weight": w, "bias": bias, "out": F.linear(x, w, bias), "out_nobias": F.linear(x, w)})

    # conv2d cases: (name, input shape, weight shape, stride, padding, groups)
    cases = [
        ("conv3x3", (2, 6, 11, 13), (8, 6, 3, 3), 1, 1, 1),
        ("conv3x3_s2", (1, 4, 16, 15), (8, 4, 3, 3), 2, 1, 1),
        ("patch_embed", (1, 3, 32, 32), (16, 3, 7, 7), 4, 3, 1),
        ("grouped", (1, 4, 9, 9), (6, 2, 3, 3), 1, 1, 2),
        ("depthwise7", (1, 8, 12, 10), (8, 1, 7, 7), 1, 3, 8),
        ("depthwise3_s2", (2, 5, 9, 8), (5, 1, 3, 3), 2, 1, 5),
        ("pointwise", (2, 6, 5, 5), (4, 6, 1, 1), 1, 0, 1),
        ("k2s2", (1, 1, 16, 16), (4, 1, 2, 2), 2, 0, 1),
    ]
    for name, xs, ws, stride, pad, groups in cases:
        x, w, bias = randn(*xs), randn(*ws, scale=0.3), randn(ws[0])
        save("conv2d_" + name, {"x": x, "weight": w, "bias": bias,
                                "out": F.conv2d(x, w, bias, stride=stride, padding=pad, groups=groups)},
             stride=stride, padding=pad, groups=groups)
    x, w, bias = randn(2, 8, 5, 6), randn(8, 4, 2, 2), randn(4)
    save("conv_transpose2d", {"x": x, "weight": w, "bias": bias,
                              "out": F.conv_transpose2d(x, w, bias, stride=2)})

    # Norms.
    x, w, bias = randn(4, 7, 96, scale=3) + 1.5, randn(96), randn(96)
    save("layer_norm", {"x": x, "weight": w, "bias": bias,
                        "out": F.layer_norm(x, (96,), w, bias, eps=1e-6)}, eps="1e-6")
    x = randn(3, 10) * 5
    save("layer_norm_plain", {"x": x, "out": F.layer_norm(x, (10,), eps=1e-5)}, eps="1e-5")
    norm = LayerNorm2d(16, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(randn(16))
        norm.bias.copy_(randn(16))
    x = randn(2, 16, 5, 7, scale=2) - 0.7
    save("layer_norm2d", {"x": x, "weight": norm.weight, "bias": norm.bias, "out": norm(x)}, eps="1e-6")

    # Activations and softmax.
    x = torch.linspace(-8, 8, 4099) + randn(4099, scale=0.01)
    save("activations", {"x": x, "gelu": F.gelu(x), "gelu_tanh": F.gelu(x, approximate="tanh"),
                         "relu": F.relu(x), "sigmoid": torch.sigmoid(x * 4)})
    s1, s2 = randn(5, 37, scale=4), randn(3, 1000, scale=30)
    s2[1, 5] = -1024.0
    save("softmax", {"small": s1, "large": s2, "small_out": s1.softmax(-1), "large_out": s2.softmax(-1)})

    # Attention with heads, and a long single-head case.
    q, k, v = randn(2, 3, 17, 8), randn(2, 3, 29, 8), randn(2, 3, 29, 5)
    q2, k2, v2 = randn(1, 1, 300, 32), randn(1, 1, 1000, 32), randn(1, 1, 1000, 32)
    save("attention", {"q": q, "k": k, "v": v, "out": F.scaled_dot_product_attention(q, k, v),
                       "q2": q2, "k2": k2, "v2": v2, "out2": F.scaled_dot_product_attention(q2, k2, v2),
                       "out_scaled": F.scaled_dot_product_attention(q, k, v, scale=0.05)}, scale="0.05")

    # Max-pool 2x2 (even and odd extents).
    x, x_odd = randn(2, 3, 8, 10), randn(1, 2, 7, 9)
    save("max_pool", {"x": x, "out": F.max_pool2d(x, 2, 2), "x_odd": x_odd, "out_odd": F.max_pool2d(x_odd, 2, 2)})

    # Interpolation with size targets, align_corners=False.
    src = randn(1, 2, 5, 7)
    big = randn(1, 2, 20, 30)
    huge = randn(1, 2, 40, 36)
    pos = randn(1, 3, 7, 7)
    save("interpolate", {
        "src": src, "big": big, "huge": huge, "pos": pos,
        "bilinear_up": F.interpolate(src, size=(13, 17), mode="bilinear", align_corners=False),
        "bilinear_down": F.interpolate(big, size=(7, 9), mode="bilinear", align_corners=False),
        "bilinear_aa_down": F.interpolate(huge, size=(10, 9), mode="bilinear", align_corners=False, antialias=True),
        "bilinear_aa_mixed": F.interpolate(big, size=(7, 45), mode="bilinear", align_corners=False, antialias=True),
        "bicubic_up": F.interpolate(pos, size=(16, 16), mode="bicubic", align_corners=False),
        "bicubic_down": F.interpolate(big, size=(9, 11), mode="bicubic", align_corners=False),
        "nearest_up": F.interpolate(src, size=(12, 9), mode="nearest"),
        "nearest_down": F.interpolate(big, size=(3, 4), mode="nearest"),
        "nearest_double": F.interpolate(src, size=(10, 14), mode="nearest"),
    })

    # Position encodings from the official sam2 code.
    pe = PositionEmbeddingSine(num_pos_feats=64)
    pe_raw = PositionEmbeddingSine(num_pos_feats=32, normalize=False)
    feat = torch.zeros(1, 64, 8, 6)
    positions = torch.tensor([0.0, 1.0, 2.0, 5.0, 15.0, 0.25, -3.0]) / 15.0
    save("position_encoding", {
        "sine2d": pe(feat)[0], "sine2d_raw": pe_raw(torch.zeros(1, 32, 5, 4))[0],
        "positions": positions, "sine1d": get_1d_sine_pe(positions, dim=64)})
    cis = compute_axial_cis(dim=32, end_x=8, end_y=6)
    xq, xk = randn(2, 1, 48, 32), randn(2, 1, 100, 32)
    # Keys: 96 rotated with repeated tables (two memory frames), the last 4 (object pointers) not.
    rq, rk = apply_rotary_enc(xq, xk[:, :, :96], cis, repeat_freqs_k=True)
    rk = torch.cat([rk, xk[:, :, 96:]], dim=2)
    save("rope", {"q": xq, "k": xk, "q_out": rq, "k_out": rk,
                  "cos": cis.real.contiguous(), "sin": cis.imag.contiguous()},
         dim=32, end_x=8, end_y=6, rotated_keys=96)

    # Shape operations and broadcasting arithmetic.
    x = randn(2, 3, 4, 5)
    a, b = randn(2, 3, 4), randn(3, 1)
    c = randn(4)
    save("shape_ops", {"x": x, "perm_0231": x.permute(0, 2, 3, 1), "perm_3102": x.permute(3, 1, 0, 2),
                       "cat1": torch.cat([x, x[:, :2] * 2], dim=1), "slice2": x[:, :, 1:3],
                       "a": a, "b": b, "c": c, "a_plus_b": a + b, "a_times_c": a * c, "a_minus_b": a - b})

    update_manifest(FIXTURES, written)
    print(f"wrote {len(written)} files to {OUT} (torch {torch.__version__}, seed {SEED})")


if __name__ == "__main__":
    main()
