"""DAVIS-style video object segmentation measures, written from the definitions in Perazzi et al.,
"A Benchmark Dataset and Evaluation Methodology for Video Object Segmentation" (CVPR 2016) and
the DAVIS 2017 evaluation conventions:

- region similarity J: intersection over union of the predicted and ground-truth masks; a frame
  where both are empty scores 1;
- contour accuracy F: F-measure of boundary precision and recall, where a boundary pixel counts as
  matched when the other boundary lies within a tolerance of 0.008 x the image diagonal (rounded
  up to whole pixels); both boundaries empty scores 1, one empty scores 0;
- per object, J and F are averaged over the evaluated frames (DAVIS 2017 leaves out the first
  frame, which carries the prompt, and the last); the dataset figure averages over all objects,
  and J&F is the mean of the two.
"""
import math

import numpy as np

try:  # F needs scipy's dilation; J does not, so score_palette.py works without it
    from scipy import ndimage
except ImportError:
    ndimage = None

BOUNDARY_TOLERANCE = 0.008


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J for one frame: IoU of two boolean masks (1 when both are empty)."""
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def boundary(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide inner boundary of a boolean mask: mask pixels with a 4-neighbour outside the
    mask (pixels beyond the image count as background, as in DAVIS)."""
    m = np.pad(mask, 1)
    inner = m[1:-1, 1:-1]
    interior = inner & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return inner & ~interior


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return xx * xx + yy * yy <= radius * radius


def contour_accuracy(pred: np.ndarray, gt: np.ndarray) -> float:
    """F for one frame (boundary F-measure with the DAVIS tolerance). Needs scipy."""
    if ndimage is None:
        raise ImportError("contour accuracy (F) needs scipy")
    h, w = gt.shape
    radius = max(1, math.ceil(BOUNDARY_TOLERANCE * math.hypot(h, w)))
    pb, gb = boundary(pred), boundary(gt)
    n_pred, n_gt = int(pb.sum()), int(gb.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    disk = _disk(radius)
    gt_near = ndimage.binary_dilation(gb, structure=disk)
    pred_near = ndimage.binary_dilation(pb, structure=disk)
    precision = float((pb & gt_near).sum()) / n_pred
    recall = float((gb & pred_near).sum()) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def evaluate_object(pred: np.ndarray, gt: np.ndarray, skip_first_last: bool = True):
    """Mean J and F of one object over a clip: pred and gt are boolean [T, H, W]."""
    frames = range(1, len(gt) - 1) if skip_first_last and len(gt) > 2 else range(len(gt))
    j = [region_similarity(pred[t], gt[t]) for t in frames]
    f = [contour_accuracy(pred[t], gt[t]) for t in frames]
    return float(np.mean(j)), float(np.mean(f)), j, f


def self_test():
    """Known cases, computed by hand."""
    z = np.zeros((100, 100), bool)
    a = z.copy()
    a[20:60, 20:60] = True
    assert region_similarity(a, a) == 1.0 and contour_accuracy(a, a) == 1.0
    assert region_similarity(z, z) == 1.0 and contour_accuracy(z, z) == 1.0
    assert region_similarity(a, z) == 0.0 and contour_accuracy(a, z) == 0.0
    b = z.copy()
    b[20:60, 30:70] = True  # shifted by 10 px: IoU = 1200 / 2000
    assert abs(region_similarity(a, b) - 0.6) < 1e-12
    # A 1-px shift is within the tolerance (ceil(0.008 * 141.4) = 2 px): F = 1.
    c = z.copy()
    c[21:61, 20:60] = True
    assert contour_accuracy(a, c) == 1.0
    # 10 px apart: only the shared parts of the top and bottom edges match.
    f = contour_accuracy(a, b)
    assert 0.2 < f < 0.8, f
    # Boundary of a filled square: its outermost ring of pixels.
    assert boundary(a).sum() == 4 * 40 - 4
    print("davis_metrics self-test passed")


if __name__ == "__main__":
    self_test()
