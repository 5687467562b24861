"""Detection's evaluation loop, shared by training (every scored epoch, on the EMA model) and ``focalyolo val``.

Per batch: uint8 images -> float in [0, 1] on the device, eval forward (with the raw head maps when a loss
is given), NMS with every (box, class) pair above ``conf`` as a candidate, detections and ground truth mapped
back to ORIGINAL image pixels, then :class:`DetectionMetrics` (the fast mAP logged each epoch). With
``coco=True`` the reported numbers come from pycocotools, on ground truth read from the dataset's own labels
(normalised to the original image), so they do not depend on the letterbox round trip of the loader.

The loop (:func:`validate`) is the same for every task built on detection; what it does with a batch's outputs
is an evaluator's (:class:`DetectionEvaluator`; segmentation's extends it with masks).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from ...metrics import DetectionMetrics, build_coco_gt, detections_to_coco, per_class_stats, run_cocoeval
from ...metrics.coco_json import coco_category_map, coco_image_id
from ...utils.boxes import xywh2xyxy, xyxy2xywh
from ...utils.nms import non_max_suppression, scale_boxes
from ...utils.plotting import plot_images
from ...utils.torch_utils import device_clock, select_device

__all__ = [
    "COCO_STATS", "DetectionEvaluator", "add_kind_columns", "build_val_loader", "coco_figures", "format_table",
    "validate",
]

LOGGER = logging.getLogger("focalyolo")

# COCO figure name -> index in COCOeval.stats
COCO_STATS: dict[str, int] = {
    "coco/AP50-95": 0, "coco/AP50": 1, "coco/AP75": 2, "coco/APs": 3, "coco/APm": 4, "coco/APl": 5, "coco/AR100": 8,
}
PLOTTED_BATCHES = 3
LossFn = Callable[[Any, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class _Tally:
    """What the loop accumulates besides the metric itself.

    Attributes:
        images_per_class: (nc,) number of images holding at least one box of each class.
        loss_sum: summed per-batch loss items (None without a loss function).
        seconds: total preprocess, inference and NMS seconds.
        detections: per image (path, (n, 6) detections in original pixels), kept for COCO / json.
        extras: per kept image what else the evaluator keeps (segmentation: the masks' RLE encodings).
    """

    images_per_class: torch.Tensor
    loss_sum: torch.Tensor | None = None
    n_batches: int = 0
    n_images: int = 0
    seconds: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    detections: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    extras: list[Any] = field(default_factory=list)



def targets_to_original(
    targets: torch.Tensor,
    img_hw: tuple[int, int],
    ori_shapes: Sequence[tuple[int, int]],
    ratio_pads: Sequence[tuple[tuple[float, float], tuple[float, float]]],
) -> torch.Tensor:
    """Loader targets -> xyxy boxes in original-image pixels.

    Args:
        targets: (N, 6) [batch_idx, cls, cx, cy, w, h] normalised to the (letterboxed) batch images.
        img_hw: (H, W) of the batch images.
        ori_shapes: per image (h0, w0).
        ratio_pads: per image ((gain_h, gain_w), (pad_w, pad_h)) of its letterbox.

    Returns:
        (N, 4) xyxy in original pixels, clipped to the image, row order of ``targets``.
    """
    h, w = img_hw
    boxes = xywh2xyxy(targets[:, 2:6] * targets.new_tensor([w, h, w, h]))
    idx = targets[:, 0].long()
    gain = targets.new_tensor([[g[1], g[0]] for g, _ in ratio_pads])[idx].repeat(1, 2)  # (N, 4) gw, gh, gw, gh
    pad = targets.new_tensor([p for _, p in ratio_pads])[idx].repeat(1, 2)
    size = targets.new_tensor([[s[1], s[0]] for s in ori_shapes])[idx].repeat(1, 2)
    return torch.minimum(((boxes - pad) / gain).clamp(min=0), size)


def detections_for_plot(detections: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image (n, 6) [x1, y1, x2, y2, score, cls] -> (N, 7) [batch_idx, cls, cx, cy, w, h, score] for plot_images."""
    rows = [
        torch.cat((torch.full_like(d[:, :1], i), d[:, 5:6], xyxy2xywh(d[:, :4]), d[:, 4:5]), 1)
        for i, d in enumerate(detections)
    ]
    return torch.cat(rows).cpu() if rows else torch.zeros((0, 7))


def dataset_ground_truth(dataset: Any, paths: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray], list]:
    """Per image of ``paths``: (m, 4) xyxy boxes and (m,) classes in original pixels, from ``dataset.labels``
    (normalised to the original image) and ``dataset.shapes`` (h, w); plus the (h, w) sizes."""
    if not all(hasattr(dataset, a) for a in ("im_files", "labels", "shapes")):
        raise ValueError("coco=True needs a loader over a YOLODataset (im_files, labels and shapes)")
    index = {p: i for i, p in enumerate(dataset.im_files)}
    boxes, classes, sizes = [], [], []
    for path in paths:
        i = index[path]
        h, w = (int(v) for v in dataset.shapes[i])
        lb = np.asarray(dataset.labels[i], np.float64).reshape(-1, 5)
        xy, wh = lb[:, 1:3] * (w, h), lb[:, 3:5] * (w, h)
        boxes.append(np.concatenate((xy - wh / 2, xy + wh / 2), 1))
        classes.append(lb[:, 0].astype(np.int64))
        sizes.append((h, w))
    return boxes, classes, sizes


def coco_figures(
    dataset: Any, detections: list[tuple[str, torch.Tensor]], names: Sequence[str]
) -> tuple[dict[str, float], np.ndarray]:
    """pycocotools figures of ``detections`` against the dataset's labels.

    Args:
        dataset: a :class:`YOLODataset` (labels normalised to each original image).
        detections: per image (path, (n, 6) [x1, y1, x2, y2, score, cls] in original pixels).
        names: class names; category id = class index.

    Returns:
        The ``COCO_STATS`` figures and (nc,) per-class AP50-95 (-1 for classes without ground truth).
    """
    paths = [p for p, _ in detections]
    boxes, classes, sizes = dataset_ground_truth(dataset, paths)
    gt = build_coco_gt(boxes, classes, image_sizes=sizes, file_names=[Path(p).name for p in paths],
                       categories=dict(enumerate(names)))
    rows = [
        row
        for i, (_, det) in enumerate(detections)
        for row in detections_to_coco(det[:, :4], det[:, 4], det[:, 5].long(), image_id=i, rounded=False)
    ]
    evaluator = run_cocoeval(gt, rows)
    ap_per_class, _ = per_class_stats(evaluator)
    return {k: float(evaluator.stats[i]) for k, i in COCO_STATS.items()}, ap_per_class


def predictions_json(detections: list[tuple[str, torch.Tensor]], names: Sequence[str]) -> list[dict]:
    """COCO results rows (3-decimal boxes, 5-decimal scores) with file-stem image ids; COCO's 80 classes get
    their official category ids, other datasets keep the class index."""
    mapping = coco_category_map(names)
    return [
        row
        for path, det in detections
        for row in detections_to_coco(det[:, :4], det[:, 4], det[:, 5].long(), coco_image_id(Path(path).stem), mapping)
    ]


def per_class_rows(metrics: DetectionMetrics, images_per_class: torch.Tensor, coco_ap: np.ndarray | None) -> list[dict]:
    """One dict per class with ground truth: class, name, images, instances, P, R, mAP50, mAP50-95
    (and ``coco/AP50-95`` when COCO figures were computed)."""
    res = metrics.compute()
    rows = []
    for k, c in enumerate(res.classes.tolist()):
        row = {
            "class": int(c), "name": metrics.names[c], "images": int(images_per_class[c]),
            "instances": int(res.n_labels[k]), "precision": float(res.precision[k]), "recall": float(res.recall[k]),
            "mAP50": float(res.ap[k, 0]), "mAP50-95": float(res.ap[k].mean()),
        }
        if coco_ap is not None:
            row["coco/AP50-95"] = float(coco_ap[c])
        rows.append(row)
    return rows


KIND_TITLES = {"B": "", "M": ", masks", "P": ", keypoints"}
"""Metric kind -> what its pycocotools line of the printed table says it scores."""


def add_kind_columns(rows: list[dict], metrics: DetectionMetrics, coco_ap: dict[str, np.ndarray] | None) -> None:
    """Add a second metric kind's per-class columns (``precision(M)`` ... ``mAP50-95(M)``, and ``coco/AP50-95(M)``
    when COCO figures were computed; the kind is ``metrics.kind``) to the box rows of :func:`per_class_rows`."""
    k = metrics.kind
    res = metrics.compute()
    by_class = {int(c): i for i, c in enumerate(res.classes.tolist())}
    for row in rows:
        i = by_class[row["class"]]
        row.update({f"precision({k})": float(res.precision[i]), f"recall({k})": float(res.recall[i]),
                    f"mAP50({k})": float(res.ap[i, 0]), f"mAP50-95({k})": float(res.ap[i].mean())})
        if coco_ap is not None:
            row[f"coco/AP50-95({k})"] = float(coco_ap[k][row["class"]])


def format_table(results: dict[str, Any], n_images: int, kinds: Sequence[str] = ("B",)) -> str:
    """The printed summary: an ``all`` row, one row per class (when several), the COCO lines and the speeds; one
    group of P, R, mAP50, mAP50-95 columns per metric kind (``B`` boxes, ``M`` masks, ``P`` poses), whose keys carry
    the suffix ``(kind)`` (none for boxes in the per-class rows and the COCO figures)."""
    per_class = results["per_class"]
    columns = ("P", "R", "mAP50", "mAP50-95")
    keys = ("precision", "recall", "mAP50", "mAP50-95")
    header = [c if len(kinds) == 1 else f"{c}({k})" for k in kinds for c in columns]
    width = max(11, 2 + max(map(len, header)))  # "mAP50-95(B)" is 11 characters: it would touch its neighbour
    fmt = "{:>20}{:>11}{:>11}" + f"{{:>{width}.3f}}" * len(header)
    lines = [("{:>20}{:>11}{:>11}" + f"{{:>{width}}}" * len(header)).format("class", "images", "instances", *header)]
    lines.append(fmt.format("all", n_images, sum(r["instances"] for r in per_class),
                            *(results[f"metrics/{key}({k})"] for k in kinds for key in keys)))
    if len(per_class) > 1:
        lines += [fmt.format(r["name"][:20], r["images"], r["instances"],
                             *(r[key if k == "B" else f"{key}({k})"] for k in kinds for key in keys))
                  for r in per_class]
    for k in kinds:
        suffix = "" if k == "B" else f"({k})"
        figures = [n for n in results if n.startswith("coco/") and (n.endswith(suffix) if suffix else "(" not in n)]
        if figures:
            lines.append(f"COCO (pycocotools){KIND_TITLES[k]}: "
                         + "  ".join(f"{n[5:len(n) - len(suffix)]} {results[n]:.3f}" for n in figures))
    s = results["speed"]
    lines.append(f"Speed: {s['preprocess']:.1f} ms preprocess, {s['inference']:.1f} ms inference, "
                 f"{s['postprocess']:.1f} ms NMS per image")
    return "\n".join(lines)


class DetectionEvaluator:
    """What the validation loop does with a batch's outputs, for detection: NMS, box matching, box metrics, COCO
    box figures, plots. Subclasses (segmentation) extend each step.

    Args:
        names: class names.
        nms_args: ``conf``, ``iou``, ``max_det`` of the NMS.
        keep: keep every image's detections (for pycocotools and ``predictions.json``).
    """

    kinds: tuple[str, ...] = ("B",)
    loss_names: tuple[str, ...] = ("box", "cls", "dfl")

    def __init__(self, names: Sequence[str], nms_args: dict[str, Any], keep: bool) -> None:
        self.names, self.nms_args, self.keep = names, nms_args, keep
        self.metrics = DetectionMetrics(len(names), names)
        self.tally = _Tally(images_per_class=torch.zeros(len(names), dtype=torch.int64))

    def split(self, out: Any) -> tuple[torch.Tensor, Any]:
        """The eval forward's output -> (predictions (B, 4 + nc [+ extra], A), what else it holds)."""
        return out, None

    def nms(self, preds: torch.Tensor) -> list[torch.Tensor]:
        """Per-image detections; every (box, class) pair above ``conf`` is a candidate."""
        return non_max_suppression(preds, multi_label=True, **self.nms_args)

    def loss_targets(self, batch: dict[str, Any], device: torch.device) -> Any:
        """The batch's targets as the task's loss takes them."""
        return batch["targets"].to(device)

    def score(self, batch: dict[str, Any], detections: list[torch.Tensor], extra: Any) -> None:
        """Map detections and ground truth of a batch to original pixels and add them to the metrics."""
        targets = batch["targets"].to(detections[0].device) if detections else batch["targets"]
        input_hw = tuple(batch["img"].shape[2:])
        gt_boxes = targets_to_original(targets, input_hw, batch["ori_shapes"], batch["ratio_pads"])
        for i, det in enumerate(detections):
            mine = targets[:, 0] == i
            gt_cls = targets[mine, 1].long()
            original = det[:, :6].clone()
            scale_boxes(input_hw, original[:, :4], batch["ori_shapes"][i], batch["ratio_pads"][i])
            self.metrics.update(original, gt_boxes[mine], gt_cls)
            self.score_image(batch, i, det, gt_cls, extra)
            self.tally.images_per_class[gt_cls.unique().cpu()] += 1
            if self.keep:
                self.tally.detections.append((batch["paths"][i], original.cpu()))

    def score_image(self, batch: dict[str, Any], i: int, det: torch.Tensor, gt_cls: torch.Tensor, extra: Any) -> None:
        """Task-specific scoring of image ``i``: its detections ``det`` (batch-image pixels), its ground-truth
        classes in target-row order, the rest of the model's output; nothing for detection."""

    def results(self) -> dict[str, Any]:
        """The metric columns and ``fitness``."""
        return dict(self.metrics.results_dict())

    def coco(self, dataset: Any) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """pycocotools figures of the kept detections and the per-class AP50-95 of each kind."""
        figures, ap = coco_figures(dataset, self.tally.detections, self.names)
        return figures, {"B": ap}

    def per_class(self, coco_ap: dict[str, np.ndarray] | None) -> list[dict]:
        """One row per class with ground truth (see :func:`per_class_rows`)."""
        return per_class_rows(self.metrics, self.tally.images_per_class, None if coco_ap is None else coco_ap["B"])

    def plot_batch(self, batch: dict[str, Any], detections: list[torch.Tensor], extra: Any, save_dir: Path,
                   i: int) -> None:
        """Write ``val_batch{i}_labels.jpg`` and ``val_batch{i}_pred.jpg`` (boxes in batch-image pixels)."""
        img, paths = batch["img"], batch["paths"]
        plot_images(img, batch["targets"], paths, self.names, save_dir / f"val_batch{i}_labels.jpg")
        plot_images(img, detections_for_plot(detections), paths, self.names, save_dir / f"val_batch{i}_pred.jpg")

    def plot(self, save_dir: Path) -> None:
        """Curves and confusion matrices."""
        self.metrics.plot(save_dir)

    def predictions_json(self) -> list[dict]:
        """COCO results rows of the kept detections (see :func:`predictions_json`)."""
        return predictions_json(self.tally.detections, self.names)


def _step(model: torch.nn.Module, batch: dict[str, Any], device: torch.device, half: bool, loss_fn: LossFn | None,
          evaluator: DetectionEvaluator) -> tuple[list[torch.Tensor], Any]:
    """Forward + NMS of one batch; adds losses and timings to the evaluator's tally; returns per-image
    detections in batch-image pixels and the rest of the model's output (``evaluator.split``)."""
    tally = evaluator.tally
    t0 = device_clock(device)
    img = batch["img"].to(device, non_blocking=True).float() / 255
    t1 = device_clock(device)
    amp = torch.autocast("cuda", dtype=torch.float16) if half and device.type == "cuda" else contextlib.nullcontext()
    with amp:
        out = model(img, return_raw=True) if loss_fn is not None else model(img)
    preds, extra = evaluator.split(out[0] if loss_fn is not None else out)
    t2 = device_clock(device)
    detections = evaluator.nms(preds)
    t3 = device_clock(device)
    if loss_fn is not None:  # not timed
        items = loss_fn(out[1], evaluator.loss_targets(batch, device))[1].float()
        tally.loss_sum = items if tally.loss_sum is None else tally.loss_sum + items
    for k, dt in enumerate((t1 - t0, t2 - t1, t3 - t2)):
        tally.seconds[k] += dt
    tally.n_batches += 1
    tally.n_images += len(img)
    return detections, extra


def build_val_loader(model: torch.nn.Module, files: Sequence[str | Path], imgsz: int, batch: int, workers: int,
                     nc: int, prefix: str = "val: ", **dataset_options: Any) -> torch.utils.data.DataLoader:
    """The evaluation loader for ``model``: rect batches, each letterboxed to the smallest stride-multiple shape
    around ``imgsz`` (long side) that fits it, the same for a checkpoint and its export. An exported file with a
    fixed input size (``model.input_shape``) is evaluated at that size: its rect batches fit inside it and the
    model pads them at the bottom / right (:class:`~focalyolo.deploy.onnx_model.ExportedModel`), which moves no
    box, so an export of the trained size sees the checkpoint's inputs. ``dataset_options`` go to
    :class:`YOLODataset` (segmentation: ``kinds=[Polygons()]``); a split without a usable label row is a
    :class:`DataError`."""
    from ...data import YOLODataset, build_dataloader

    fixed = getattr(model, "input_shape", (None,) * 4)[2:]
    if all(fixed) and max(fixed) != imgsz:
        LOGGER.info(f"{prefix}the model takes {fixed[0]}x{fixed[1]} inputs: evaluating at imgsz {max(fixed)}")
        imgsz = max(fixed)
    dataset = YOLODataset(files, imgsz, rect=True, batch_size=batch, stride=int(model.stride.max()), nc=nc,
                          prefix=prefix, need_labels=True, **dataset_options)
    return build_dataloader(dataset, batch, workers, shuffle=False)


def validate(
    model: torch.nn.Module,
    loader: Iterable[dict[str, Any]],
    *,
    names: Sequence[str],
    device: str | torch.device = "cpu",
    half: bool = False,
    loss_fn: LossFn | None = None,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    save_dir: str | Path | None = None,
    plots: bool = False,
    coco: bool = False,
    save_json: bool = False,
    verbose: bool = True,
    progress: bool | None = None,
    evaluator: type[DetectionEvaluator] = DetectionEvaluator,
) -> dict[str, Any]:
    """Evaluate a detector (or a model of a task built on detection) on a validation loader.

    Args:
        model: a :class:`Model` (or any module with the same eval forward: (B, 3, H, W) float ->
            (B, 4 + nc, A) xywh pixels + class scores; ``return_raw=True`` -> (that, raw head maps)).
            Run in eval mode under ``torch.inference_mode``; its training flag is restored afterwards.
        loader: yields collated :class:`YOLODataset` batches (``img`` (B, 3, H, W) uint8, ``targets``
            (N, 6), ``paths``, ``ori_shapes``, ``ratio_pads``); usually rect batches, unshuffled.
        names: class names (``len(names)`` classes).
        device: where to run (``"cpu"``, ``"0"``, ``"cuda:1"``, a torch.device); the model is moved there.
        half: FP16 autocast on CUDA (the model's weights are not changed; ignored on CPU).
        loss_fn: e.g. the trainer's ``DetectionLoss``; adds ``val/box_loss``, ``val/cls_loss``, ``val/dfl_loss``.
        conf, iou, max_det: NMS settings (every (box, class) pair above ``conf`` is a candidate).
        save_dir: where ``metrics.json`` (every figure), plots and ``predictions.json`` go.
        plots: with ``save_dir``: PR / F1 / P / R curves, confusion matrices, ``val_batch{0,1,2}_*.jpg``.
        coco: add pycocotools figures (``coco/AP50-95`` ... ``coco/AR100``) computed against the labels of
            ``loader.dataset``.
        save_json: write ``predictions.json`` (COCO results format) into ``save_dir``.
        verbose: progress bar, and the per-class table and speeds printed at the end.
        progress: show the progress bar (default: ``verbose``); the trainer shows it without the table.
        evaluator: what is done with each batch's outputs (:class:`DetectionEvaluator` or a task's subclass).

    Returns:
        Floats under ``metrics/precision(B)``, ``metrics/recall(B)``, ``metrics/mAP50(B)``,
        ``metrics/mAP50-95(B)``, ``fitness`` (+ the ``val/*_loss`` and ``coco/*`` keys when asked for), plus
        ``per_class`` (list of dicts, see :func:`per_class_rows`) and ``speed`` ({preprocess, inference,
        postprocess} ms per image; postprocess is the NMS).
    """
    if save_json and save_dir is None:
        raise ValueError("save_json=True needs a save_dir")
    device = device if isinstance(device, torch.device) else select_device(device)
    save_dir = Path(save_dir) if save_dir is not None else None
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.inference_mode():
            scorer = evaluator(names, {"conf": conf, "iou": iou, "max_det": max_det}, keep=coco or save_json)
            results = _run(model, loader, device, half, loss_fn, scorer, save_dir if plots else None, coco,
                           verbose if progress is None else progress)
    finally:
        model.train(was_training)
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / "metrics.json").write_text(json.dumps(results, indent=2))
        if save_json:
            (save_dir / "predictions.json").write_text(json.dumps(scorer.predictions_json()))
    if verbose:
        LOGGER.info(format_table(results, scorer.tally.n_images, scorer.kinds))
    return results


def _run(
    model: torch.nn.Module,
    loader: Iterable[dict[str, Any]],
    device: torch.device,
    half: bool,
    loss_fn: LossFn | None,
    evaluator: DetectionEvaluator,
    plot_dir: Path | None,
    coco: bool,
    progress: bool,
) -> dict[str, Any]:
    """The loop of :func:`validate` (already in eval mode and inference mode); returns the results dict."""
    tally = evaluator.tally
    bar = tqdm(loader, desc="val", total=len(loader) if hasattr(loader, "__len__") else None,
               disable=not progress, leave=False, dynamic_ncols=True)
    for i, batch in enumerate(bar):
        detections, extra = _step(model, batch, device, half, loss_fn, evaluator)
        if plot_dir is not None and i < PLOTTED_BATCHES:
            evaluator.plot_batch(batch, detections, extra, plot_dir, i)
        evaluator.score(batch, detections, extra)
    results = evaluator.results()
    if tally.loss_sum is not None:
        results.update({f"val/{n}_loss": v for n, v in zip(evaluator.loss_names,
                                                            (tally.loss_sum / tally.n_batches).tolist())})
    coco_ap = None
    if coco:
        figures, coco_ap = evaluator.coco(getattr(loader, "dataset", None))
        results.update(figures)
    results["per_class"] = evaluator.per_class(coco_ap)
    n = max(tally.n_images, 1)
    results["speed"] = {k: 1000 * s / n for k, s in zip(("preprocess", "inference", "postprocess"), tally.seconds)}
    if plot_dir is not None:
        evaluator.plot(plot_dir)
    return results
