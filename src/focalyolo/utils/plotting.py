"""Run plots: image grids with boxes (``train_batch*.jpg``, ``val_batch*``), label statistics
(``labels.jpg``) and training curves (``results.png``); the pieces predictions are drawn with (labelled boxes,
masks, keypoints) at sizes that follow the image's (:func:`annotation_sizes`).

Image grids are drawn with OpenCV's built-in Hershey font and charts with matplotlib's Agg canvas
(no global backend switch, no font or file downloads).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import cv2
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "AnnotationSizes", "annotation_sizes", "class_colour", "draw_keypoints", "draw_labelled_box", "overlay_masks",
    "plot_class_counts", "plot_images", "plot_labels", "plot_results",
]

_PALETTE = np.array([
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
    (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0),
    (147, 69, 52), (255, 115, 100), (236, 24, 0), (255, 56, 132), (133, 0, 82), (255, 56, 203),
    (200, 149, 255), (199, 55, 255),
], np.uint8)  # BGR


def class_colour(cls: int) -> tuple[int, int, int]:
    """A stable BGR colour for class ``cls``."""
    return tuple(int(v) for v in _PALETTE[int(cls) % len(_PALETTE)])


class AnnotationSizes(NamedTuple):
    """Pixel sizes of what is drawn on one image."""

    line_width: int  # box outlines
    font_scale: float  # OpenCV Hershey simplex scale of the labels
    font_thickness: int
    radius: int  # keypoint discs (skeleton lines are half as wide)


def annotation_sizes(h: int, w: int) -> AnnotationSizes:
    """The sizes for an (h, w) image, proportional to its mean side ``s = (h + w) / 2`` so that a label takes the
    same share of a 160 px picture as of a 1280 px one: lines ``s * 0.003`` px (at least 1), text scale ``s / 1000``
    (a label about 3.5 % of the image high; at least 0.35, 9 px letters, for legibility: a label 12 px high, 7.5 %
    of a 160 px image), keypoints ``s * 0.004`` px (at least 2)."""
    s = (h + w) / 2
    line_width = max(round(s * 0.003), 1)
    return AnnotationSizes(line_width, max(s / 1000, 0.35), max(line_width - 1, 1), max(round(s * 0.004), 2))


def draw_labelled_box(img: np.ndarray, box: Sequence[int], text: str, colour: tuple[int, int, int],
                      sizes: AnnotationSizes) -> np.ndarray:
    """Draw one x1, y1, x2, y2 pixel ``box`` into (h, w, 3) uint8 BGR ``img`` in place, with ``text`` on a
    filled label above it (inside its top when there is no room above); returns ``img``."""
    x1, y1, x2, y2 = (int(v) for v in box)
    cv2.rectangle(img, (x1, y1), (x2, y2), colour, sizes.line_width, cv2.LINE_AA)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, sizes.font_scale, sizes.font_thickness)
    top = y1 - th - base if y1 - th - base >= 0 else y1
    cv2.rectangle(img, (x1, top), (x1 + tw, top + th + base), colour, -1, cv2.LINE_AA)
    luminance = 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2]
    cv2.putText(img, text, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, sizes.font_scale,
                (0, 0, 0) if luminance > 140 else (255, 255, 255), sizes.font_thickness, cv2.LINE_AA)
    return img


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def overlay_masks(img: np.ndarray, masks: np.ndarray | torch.Tensor, classes: Sequence[int],
                  alpha: float = 0.5) -> np.ndarray:
    """Blend (n, h', w') binary masks into (h, w, 3) uint8 BGR ``img`` in place, each in its class's colour
    (masks at another size are resized to the image, nearest); returns ``img``."""
    masks = _as_numpy(masks).astype(np.uint8)
    h, w = img.shape[:2]
    for mask, cls in zip(masks, classes):
        if mask.shape != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        inside = mask.astype(bool)
        img[inside] = (img[inside] * (1 - alpha) + np.array(class_colour(int(cls))) * alpha).astype(np.uint8)
    return img


def draw_keypoints(img: np.ndarray, keypoints: np.ndarray | torch.Tensor, classes: Sequence[int],
                   skeleton: Sequence[Sequence[int]] | None = None, threshold: float = 0.5,
                   radius: int | None = None) -> np.ndarray:
    """Draw poses into (h, w, 3) uint8 BGR ``img`` in place, in their class's colour; returns ``img``.

    Args:
        keypoints: (n, nk, 3) x, y in ``img`` pixels and visibility (a label's v or a predicted probability).
        classes: (n,) each pose's class.
        skeleton: pairs of keypoint indices joined by a line; None draws the points only.
        threshold: keypoints whose visibility is below it are not drawn (labels: v 0 is below, 1 and 2 are not).
        radius: of the points (skeleton lines are half as wide); default from the image size
            (:func:`annotation_sizes`).
    """
    points = _as_numpy(keypoints).astype(np.float64)
    if not points.size:
        return img
    radius = radius or annotation_sizes(*img.shape[:2]).radius
    for pose, cls in zip(points, classes):
        colour = class_colour(int(cls))
        shown = pose[:, 2] >= threshold
        for a, b in skeleton or ():
            if a < len(pose) and b < len(pose) and shown[a] and shown[b]:
                cv2.line(img, tuple(int(v) for v in pose[a, :2]), tuple(int(v) for v in pose[b, :2]), colour,
                         max(radius // 2, 1), cv2.LINE_AA)
        for k, (x, y, _) in enumerate(pose):
            if shown[k]:
                cv2.circle(img, (int(x), int(y)), radius, colour, -1, cv2.LINE_AA)
                cv2.circle(img, (int(x), int(y)), radius, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def _save_figure(fig: Figure, path: Path, dpi: int = 150) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)


def plot_images(
    images: torch.Tensor | np.ndarray,
    targets: torch.Tensor | np.ndarray,
    paths: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    fname: str | Path = "images.jpg",
    max_subplots: int = 16,
    conf: float = 0.25,
    masks: torch.Tensor | np.ndarray | None = None,
    titles: Sequence[str] | None = None,
    keypoints: torch.Tensor | np.ndarray | None = None,
    skeleton: Sequence[Sequence[int]] | None = None,
) -> Path:
    """Save a grid of up to ``max_subplots`` images with their boxes and class names.

    Args:
        images: (B, 3, H, W) uint8 RGB (floats in [0, 1] are accepted too).
        targets: (N, 6) [batch_idx, cls, cx, cy, w, h] labels, or (N, 7) with a confidence last
            (predictions; those below ``conf`` are not drawn). Boxes are normalised to the image
            or in its pixels (detected from their range).
        paths: file paths, whose names are written on the tiles.
        names: class names (ids are written when missing).
        fname: output file (``.jpg``).
        masks: (N, h', w') binary instance masks, one per row of ``targets`` (any resolution), drawn under the boxes.
        titles: one line written at the top of each tile (a classifier's label or prediction).
        keypoints: (N, nk, 3) x, y, visibility per row of ``targets``, in the boxes' frame (normalised or pixels),
            drawn (with ``skeleton``, pairs of keypoint indices) where visibility >= 0.5.

    Returns:
        The written path.
    """
    imgs = _as_numpy(images)
    if imgs.dtype != np.uint8:
        imgs = (imgs * (255 if imgs.max() <= 1.0 else 1)).clip(0, 255).astype(np.uint8)
    t = _as_numpy(targets).astype(np.float64)
    if t.ndim != 2 or not len(t):
        t = np.zeros((0, 6))
    bs = min(len(imgs), max_subplots)
    masks = None if masks is None else _as_numpy(masks)
    keypoints = None if keypoints is None or not len(t) else _as_numpy(keypoints).astype(np.float64)
    _, _, h, w = imgs.shape
    cols = math.ceil(math.sqrt(bs))
    rows = math.ceil(bs / cols)
    scale = min(1.0, 1920 / (max(h, w) * cols))
    th, tw = round(h * scale), round(w * scale)
    grid = np.full((rows * th, cols * tw, 3), 255, np.uint8)
    font_scale = max(0.3, min(th, tw) / 640)
    for i in range(bs):
        y0, x0 = (i // cols) * th, (i % cols) * tw
        tile = cv2.resize(np.ascontiguousarray(imgs[i].transpose(1, 2, 0)[..., ::-1]), (tw, th))
        mine = t[:, 0] == i
        if t.shape[1] == 7:
            mine &= t[:, 6] >= conf
        rows_i = t[mine]
        if masks is not None:
            overlay_masks(tile, masks[mine], rows_i[:, 1].astype(int).tolist())
        boxes = rows_i[:, 2:6].copy()
        normalised = len(boxes) and boxes.max() <= 1.01
        if normalised:
            boxes *= (w, h, w, h)
        boxes *= scale
        if keypoints is not None:
            points = keypoints[mine].copy()
            points[..., :2] *= (np.array([w, h]) if normalised else 1) * scale
            draw_keypoints(tile, points, rows_i[:, 1].astype(int).tolist(), skeleton, radius=2)
        for row, (cx, cy, bw, bh) in zip(rows_i, boxes):
            cls = int(row[1])
            colour = class_colour(cls)
            p1, p2 = (int(cx - bw / 2), int(cy - bh / 2)), (int(cx + bw / 2), int(cy + bh / 2))
            cv2.rectangle(tile, p1, p2, colour, 1 if min(th, tw) < 400 else 2, cv2.LINE_AA)
            text = names[cls] if names is not None and cls < len(names) else str(cls)
            if rows_i.shape[1] == 7:
                text += f" {row[6]:.2f}"
            cv2.putText(tile, text, (p1[0], max(p1[1] - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, 1,
                        cv2.LINE_AA)
        if titles is not None and i < len(titles):
            (_, text_h), _ = cv2.getTextSize(titles[i], cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
            cv2.rectangle(tile, (0, 0), (tw, text_h + 6), (255, 255, 255), -1)
            cv2.putText(tile, titles[i][:40], (3, text_h + 3), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1,
                        cv2.LINE_AA)
        if paths is not None and i < len(paths):
            cv2.putText(tile, Path(paths[i]).name[:40], (3, th - 4), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                        (220, 220, 220), 1, cv2.LINE_AA)
        cv2.rectangle(tile, (0, 0), (tw - 1, th - 1), (255, 255, 255), 1)
        grid[y0 : y0 + th, x0 : x0 + tw] = tile
    out = Path(fname)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), grid)
    return out


def _class_bars(ax: Any, counts: np.ndarray, names: Sequence[str], ylabel: str) -> None:
    """Bar chart of per-class counts in the class colours, with the names as ticks (up to 30 classes)."""
    nc = len(names)
    ax.bar(range(nc), counts, color=[np.array(class_colour(i)[::-1]) / 255 for i in range(nc)])
    ax.set_ylabel(ylabel)
    if nc <= 30:
        ax.set_xticks(range(nc), list(names), rotation=90, fontsize=8)
    else:
        ax.set_xlabel("class id")


def plot_class_counts(classes: torch.Tensor | np.ndarray, names: Sequence[str], save_dir: str | Path) -> Path:
    """Save ``labels.jpg`` of a classification set: images per class.

    Args:
        classes: (N,) class index of every image.
        names: class names.
        save_dir: the run folder.
    """
    fig = Figure(figsize=(8, 5), tight_layout=True)
    counts = np.bincount(_as_numpy(classes).astype(int).reshape(-1), minlength=len(names))[: len(names)]
    _class_bars(fig.subplots(), counts, names, "images")
    out = Path(save_dir) / "labels.jpg"
    _save_figure(fig, out, dpi=100)
    return out


def plot_labels(labels: torch.Tensor | np.ndarray, names: Sequence[str], save_dir: str | Path) -> Path:
    """Save ``labels.jpg``: instances per class, box centres, box widths vs heights, and box outlines.

    Args:
        labels: (N, 5) [cls, cx, cy, w, h] normalised, all boxes of a dataset.
        names: class names.
        save_dir: the run folder.
    """
    lb = _as_numpy(labels).reshape(-1, 5)
    nc = len(names)
    fig = Figure(figsize=(10, 10), tight_layout=True)
    ax = fig.subplots(2, 2).ravel()
    _class_bars(ax[0], np.bincount(lb[:, 0].astype(int), minlength=nc)[:nc], names, "instances")
    ax[1].hist2d(lb[:, 1], lb[:, 2], bins=50, range=[[0, 1], [0, 1]], cmap="Blues")
    ax[1].set(xlabel="x", ylabel="y", title="box centres")
    ax[2].hist2d(lb[:, 3], lb[:, 4], bins=50, range=[[0, 1], [0, 1]], cmap="Blues")
    ax[2].set(xlabel="width", ylabel="height", title="box sizes")
    canvas = np.full((500, 500, 3), 255, np.uint8)
    for cls, _, _, bw, bh in lb[:1000]:
        cv2.rectangle(canvas, (int(250 - bw * 250), int(250 - bh * 250)), (int(250 + bw * 250), int(250 + bh * 250)),
                      class_colour(int(cls))[::-1], 1)
    ax[3].imshow(canvas)
    ax[3].set_title("box outlines (first 1000, centred)")
    ax[3].axis("off")
    out = Path(save_dir) / "labels.jpg"
    _save_figure(fig, out, dpi=100)
    return out


def plot_results(csv_path: str | Path) -> Path:
    """Save ``results.png`` beside ``results.csv``: one panel per column after ``epoch``, against epoch."""
    path = Path(csv_path)
    with path.open(newline="") as f:
        rows = [[c.strip() for c in r] for r in csv.reader(f) if r]
    header, body = rows[0], rows[1:]
    data = np.array([[float(v) if v else np.nan for v in r] for r in body], np.float64).reshape(-1, len(header))
    x = data[:, header.index("epoch")] if "epoch" in header else np.arange(len(data))
    columns = header[header.index("epoch") + 1 :] if "epoch" in header else header
    cols = min(5, max(1, len(columns)))
    n_rows = max(1, math.ceil(len(columns) / cols))
    fig = Figure(figsize=(3 * cols, 2.6 * n_rows), tight_layout=True)
    axes = np.atleast_1d(fig.subplots(n_rows, cols)).ravel()
    for ax, name in zip(axes, columns):
        ax.plot(x, data[:, header.index(name)], marker=".", linewidth=1.5, markersize=5)
        ax.set_title(name, fontsize=10)
    for ax in axes[len(columns) :]:
        ax.axis("off")
    out = path.with_name("results.png")
    _save_figure(fig, out, dpi=120)
    return out
