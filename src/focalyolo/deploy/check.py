"""The export check: an exported model's outputs against PyTorch's on the same input, within a stated tolerance.

Raw outputs (an export without NMS, OpenVINO, TensorRT, TorchScript) are compared element by element:
``|runtime - PyTorch| <= atol + rtol * |PyTorch|`` (as ``numpy.allclose``). An ``--nms`` graph's detections are
compared as detections, not as tensors: two runtimes that round a score differently may list near-equal detections
in another order, keep the other one of two overlapping near-equal boxes (and, down a chain of such boxes, others),
or cut a near-equal one at ``conf`` or ``max_det``. So, per image:

- every exported detection must be one of PyTorch's predictions: an anchor of the same best class whose box overlaps
  it by IoU >= ``iou`` and whose score is within ``score``;
- exported and PyTorch detections of the same class whose boxes overlap by IoU >= ``iou`` are the same detection:
  their scores must agree within ``score`` and the values they carry (mask coefficients, keypoints) within
  atol + rtol;
- a detection of either side without such a partner is a difference unless its score is within ``score`` of
  ``conf``, of the other side's lowest score when that side holds ``max_det`` rows, or of a same-class detection
  the other side kept that overlaps it above the NMS IoU threshold (a near-tie the two runtimes broke differently).

:func:`compare_outputs` and :func:`compare_detections` return a :class:`Comparison`: whether everything is within
the tolerance, and one line naming the largest difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FP16", "FP32", "Comparison", "NmsSettings", "Tolerance", "compare_detections", "compare_outputs"]

NmsSettings = tuple[float, float, int]
"""``(conf, iou, max_det)`` of an export that ends in NMS."""


@dataclass(frozen=True)
class Tolerance:
    """How far an export may be from PyTorch: element-wise ``atol + rtol * |value|`` for raw outputs and carried
    values; for detections also ``score`` (absolute) and ``iou`` (least box IoU of a matched pair)."""

    rtol: float
    atol: float
    score: float
    iou: float

    def describe(self) -> str:
        """The tolerance in words, for the check's warning."""
        return (f"|difference| <= {self.atol:g} + {self.rtol:g} x |value|; detections: same class, box IoU >= "
                f"{self.iou:g}, score within {self.score:g}")


FP32 = Tolerance(rtol=1e-3, atol=1e-3, score=1e-3, iou=0.99)
"""fp32 exports: onnxruntime and OpenVINO differ from PyTorch by about 1e-5 relative."""
FP16 = Tolerance(rtol=1e-2, atol=1e-2, score=1e-2, iou=0.98)
"""fp16 exports (``--half``): about 1e-3 relative; also TensorRT engines, which may compute fp32 layers in TF32."""


@dataclass(frozen=True)
class Comparison:
    """``ok``: every difference within the tolerance; ``line``: the largest difference, in words."""

    ok: bool
    line: str


def compare_outputs(got: Sequence[np.ndarray], want: Sequence[np.ndarray], names: Sequence[str],
                    tolerance: Tolerance) -> Comparison:
    """Raw outputs ``got`` (the runtime's) against ``want`` (PyTorch's), same shapes, named ``names``."""
    largest, worst = 0.0, (0.0, "", 0.0, 0.0)  # |difference| overall; (excess, output, difference, value) there
    for g, w, name in zip(got, want, names):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if not g.size:
            continue
        diff = np.abs(g - w)
        excess = diff - (tolerance.atol + tolerance.rtol * np.abs(w))
        k = int(np.argmax(excess))
        largest = max(largest, float(diff.max()))
        if excess.flat[k] > worst[0]:
            worst = (float(excess.flat[k]), name, float(diff.flat[k]), float(w.flat[k]))
    excess, name, diff, value = worst
    line = f"max abs difference to PyTorch {largest:.3g}"
    if excess <= 0:
        return Comparison(True, line)
    return Comparison(False, f"{line}; {name} differs by {diff:.3g} where PyTorch gives {value:.4g}")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 4) x (m, 4) corner boxes -> (n, m) IoU."""
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a, area_b = (a[:, 2:] - a[:, :2]).prod(1), (b[:, 2:] - b[:, :2]).prod(1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)


def _unexplained_absence(row: np.ndarray, others: np.ndarray, nms: NmsSettings, tolerance: Tolerance) -> bool:
    """True when detection ``row`` [x1 y1 x2 y2 score class ...] missing from ``others`` (the other runtime's rows
    of the image) is a real difference rather than a near-tie at ``conf``, at the ``max_det`` cut or in NMS."""
    conf, nms_iou, max_det = nms
    score = row[4]
    if score <= conf + tolerance.score:
        return False
    if len(others) >= max_det and score <= others[:, 4].min() + tolerance.score:
        return False
    same = others[others[:, 5] == row[5]]
    if len(same):
        overlap = _iou(row[None, :4], same[:, :4])[0]
        if ((overlap > nms_iou) & (same[:, 4] >= score - tolerance.score)).any():
            return False
    return True


def _image_differences(got: np.ndarray, want: np.ndarray, nms: NmsSettings,
                       tolerance: Tolerance) -> list[tuple[float, str]]:
    """(size, description) of each difference between one image's rows ``got`` (the export's) and ``want``
    (PyTorch's), rows [x1 y1 x2 y2 score class carried...]."""
    iou = _iou(got[:, :4], want[:, :4]) * (got[:, None, 5] == want[None, :, 5])
    pairs = sorted(((iou[j, k], j, k) for j, k in zip(*np.nonzero(iou >= tolerance.iou))), reverse=True)
    used_got, used_want, found = set(), set(), []
    for _, j, k in pairs:
        if j in used_got or k in used_want:
            continue
        used_got.add(j)
        used_want.add(k)
        g, w = got[j], want[k]
        name = f"class {int(w[5])} detection"
        if abs(g[4] - w[4]) > tolerance.score:
            found.append((abs(g[4] - w[4]), f"{name}: score {g[4]:.4g} vs PyTorch's {w[4]:.4g}"))
        carried = np.abs(g[6:] - w[6:])
        if carried.size and (carried > tolerance.atol + tolerance.rtol * np.abs(w[6:])).any():
            found.append((float(carried.max()), f"{name}: carried values differ by up to {carried.max():.3g}"))
    for rows, others, used, side in ((got, want, used_got, "PyTorch does not give"),
                                     (want, got, used_want, "the export does not give")):
        for j, row in enumerate(rows):
            if j not in used and _unexplained_absence(row, others, nms, tolerance):
                found.append((float(row[4]), f"a class {int(row[5])} detection scoring {row[4]:.4g} that {side}"))
    return found


def _not_predicted(rows: np.ndarray, predictions: np.ndarray, nc: int, tolerance: Tolerance) -> list[tuple[float, str]]:
    """Exported detections ``rows`` that are none of PyTorch's raw ``predictions`` (4 + nc + E, A) of the image
    (xywh, class scores): no anchor with the same best class, box IoU >= ``iou`` and score within ``score``."""
    xy, wh = predictions[:2].T, predictions[2:4].T
    boxes = np.concatenate((xy - wh / 2, xy + wh / 2), 1)
    scores = predictions[4: 4 + nc]
    best, cls = scores.max(0), scores.argmax(0)
    found = []
    for row in rows:
        near = (cls == row[5]) & (np.abs(best - row[4]) <= tolerance.score)
        if not near.any() or _iou(row[None, :4], boxes[near]).max() < tolerance.iou:
            found.append((float(row[4]), f"a class {int(row[5])} detection scoring {row[4]:.4g} that is none of "
                                         "PyTorch's predictions"))
    return found


def compare_detections(got: Sequence[np.ndarray], want: Sequence[np.ndarray], predictions: np.ndarray, nc: int,
                       nms: NmsSettings, tolerance: Tolerance) -> Comparison:
    """An NMS graph's outputs ``got`` (the runtime's: detections (B, max_det, 6 + E), count (B,), then any raw
    outputs such as prototypes) against PyTorch's ``want`` (the same, from the module that was traced) and its raw
    ``predictions`` (B, 4 + nc + E, A) before NMS; ``nms`` is the graph's (conf, iou, max_det)."""
    (dets, counts, *rest_got), (want_dets, want_counts, *rest_want) = got, want
    found: list[tuple[float, str]] = []
    total = 0
    for image in range(len(counts)):
        rows = np.asarray(dets[image][: int(counts[image])], np.float64)
        want_rows = np.asarray(want_dets[image][: int(want_counts[image])], np.float64)
        found += _not_predicted(rows, np.asarray(predictions[image], np.float64), nc, tolerance)
        found += _image_differences(rows, want_rows, nms, tolerance)
        total += len(want_rows)
    raw = compare_outputs(rest_got, rest_want, [f"output{1 + k}" for k in range(len(rest_got))], tolerance)
    if found:
        return Comparison(False, f"{len(found)} difference(s) among PyTorch's {total} detections; largest: "
                                 f"{max(found)[1]}")
    if not raw.ok:
        return raw
    return Comparison(True, f"{total} detection(s) match PyTorch's" + (f"; {raw.line}" if rest_got else ""))
