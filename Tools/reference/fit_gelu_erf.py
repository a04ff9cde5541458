#!/usr/bin/env python3
"""The rational erf behind samtrack's exact GELU (Sources/Tensor/VectorMath.swift `vectorGelu` and
its AVX2 twin in Sources/CAVX2/swift_twins.c): erf(z) ~= z P(z^2) / Q(z^2) on 0 <= z <= 4, P of
degree 6 and Q of degree 5 with Q(0) = 1, fitted here by linearised least squares (Sanathanan-
Koerner: divide by the previous Q) with weights pushed towards the largest errors (Lawson), in
float64, then rounded to float32. It prints the coefficients (highest power first, as the Swift
code's Horner steps use them) and the worst error of GELU evaluated as the product code does (fp32,
fused multiply-adds, z clamped to [-4, 4], erf clamped to [-1, 1] and +-1 at the clamp) against erf in float64 over
x in [-12, 12] and +-1e6: absolute, relative above 1 (the measure `AVX512KernelTests` bounds by 1e-6).

    Tools/reference/.venv/bin/python Tools/reference/fit_gelu_erf.py
"""

import numpy as np
from scipy.special import erf

CLAMP = 4.0


def fit(p_degree=6, q_degree=5, iterations=40):
    x = np.linspace(0, CLAMP, 40001)
    s = x * x
    f = np.where(x > 0, erf(x) / np.where(x > 0, x, 1), 2 / np.sqrt(np.pi))  # erf(x) / x, a function of s
    q_previous, weight = np.ones_like(s), np.ones_like(s)
    powers_p = np.vstack([s ** k for k in range(p_degree + 1)]).T
    powers_q = np.vstack([s ** k for k in range(1, q_degree + 1)]).T
    for _ in range(iterations):
        rows = (weight / q_previous * (x + 1e-3))[:, None]  # erf's error is x times f's
        design = np.hstack([powers_p, -f[:, None] * powers_q]) * rows
        solution, *_ = np.linalg.lstsq(design, f * rows[:, 0], rcond=None)
        p = solution[:p_degree + 1]
        q = np.concatenate([[1.0], solution[p_degree + 1:]])
        q_previous = np.polyval(q[::-1], s)
        error = np.abs(x * np.polyval(p[::-1], s) / q_previous - erf(x))
        weight = weight * np.sqrt(error / error.max() + 0.05)
        weight /= weight.max()
    return p.astype(np.float32), q.astype(np.float32)


def fused(a, b, c):
    """fp32 a * b + c rounded once (the product of two fp32 values is exact in float64)."""
    return (a.astype(np.float64) * b + c).astype(np.float32)


def gelu(v, p, q):
    z = (v * np.float32(0.7071067811865476)).astype(np.float32)
    z = np.clip(z, -CLAMP, CLAMP).astype(np.float32)
    s = (z * z).astype(np.float32)
    num, den = np.full_like(s, p[-1]), np.full_like(s, q[-1])
    for c in p[-2::-1]:
        num = fused(num, s, c)
    for c in q[-2::-1]:
        den = fused(den, s, c)
    e = np.clip(((z * num).astype(np.float32) / den).astype(np.float32), -1, 1)
    e = np.where(np.abs(z) == CLAMP, np.sign(z), e).astype(np.float32)  # exactly +-1 at the clamp
    half = (np.float32(0.5) * v).astype(np.float32)
    return fused(half, e, half)


def main():
    p, q = fit()
    print("P (s^6 ... s^0, s = z^2):", ", ".join("%.9e" % c for c in p[::-1]))
    print("Q (s^5 ... s^0):         ", ", ".join("%.9e" % c for c in q[::-1]))
    v = np.concatenate([np.linspace(-12, 12, 2000001), [-1e6, 1e6]]).astype(np.float32)
    exact = 0.5 * v.astype(np.float64) * (1 + erf(v.astype(np.float64) / np.sqrt(2)))
    error = np.abs(gelu(v, p, q) - exact) / np.maximum(1, np.abs(exact))
    print("GELU worst error %.2e at x = %.4f" % (error.max(), v[error.argmax()]))


if __name__ == "__main__":
    main()
