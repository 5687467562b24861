"""What a context block sees, and how far a head cell looks: the pictures of ``focalyolo explain``.

- **Focal modulation** (:class:`~focalyolo.nn.focal.FocalModulation`): the gated context of each focal level,
  ``|G^l * Z^l|`` averaged over channels (l = 1..L, then the global level), and the whole modulator
  ``|h(sum_l G^l Z^l)|``, as FocalNet's figures show it. Forward hooks read ``f`` (the gates), each
  ``focal_layers[l]`` (Z^l) and ``h``; the block's computation is not touched.
- **Self-attention** (:class:`~focalyolo.nn.attention.MultiHeadSelfAttention2d`): the attention weights of one
  query location over every key, averaged over heads, recomputed from the block's normalised input (a forward
  pre-hook) with its own ``qkv`` projection.
- **Effective receptive field** (any model): ``|d y / d x|`` for y the centre cell of the map the head reads at a
  level (summed over channels), summed over the input's colour channels and averaged over the images, with the
  radii (Chebyshev distance from the cell's centre, in input pixels) that hold 50 % and 90 % of its mass.

Every map is (H, W), the shape of the network's input image (letterboxed to ``imgsz``); blocks' maps are upsampled
to it (bilinear). :func:`explain` writes them as PNG overlays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FocalYoloError
from ..models.parser import main_head_inputs
from ..nn.attention import MultiHeadSelfAttention2d
from ..nn.focal import FocalModulation

__all__ = [
    "ReceptiveField", "attention_maps", "effective_receptive_field", "explain", "focal_maps", "head_level_feature",
    "mass_radius", "overlay", "plot_receptive_field",
]


@dataclass(frozen=True)
class ReceptiveField:
    """The effective receptive field of one cell.

    Attributes:
        grad: (H, W) mean over images of |d cell / d input|, summed over the input's channels.
        cell: (row, column) of the cell in its (h, w) map.
        centre: (x, y) of the cell's centre in input pixel coordinates (pixel i's centre is at i).
        stride: input pixels per map cell.
        radius50, radius90: the smallest Chebyshev distance from ``centre`` within which 50 % / 90 % of ``grad``'s
            mass lies (distances to pixel centres).
        support: the largest such distance where ``grad`` is not zero.
    """

    grad: np.ndarray
    cell: tuple[int, int]
    centre: tuple[float, float]
    stride: float
    radius50: float
    radius90: float
    support: float


def _distances(shape: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """(H, W) Chebyshev distance of each pixel centre from ``centre`` (x, y)."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.maximum(np.abs(xs - centre[0]), np.abs(ys - centre[1]))


def mass_radius(grad: np.ndarray, centre: tuple[float, float], fraction: float) -> float:
    """The smallest Chebyshev distance r from ``centre`` (x, y) such that the pixels within r hold ``fraction`` of
    the (H, W) ``grad``'s mass."""
    distance = _distances(grad.shape, centre).ravel()
    order = np.argsort(distance, kind="stable")
    mass = np.cumsum(grad.ravel()[order].astype(np.float64))
    return float(distance[order][np.searchsorted(mass, fraction * mass[-1] * (1 - 1e-12))])


def effective_receptive_field(feature: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                              cell: tuple[int, int] | None = None) -> ReceptiveField:
    """The ERF of a cell of ``feature``'s map: ``feature`` maps (B, 3, H, W) float images to a (B, C, h, w) map;
    ``cell`` (row, column) defaults to the map's centre (h // 2, w // 2). One backward pass per image."""
    grads = []
    for image in images:
        x = image[None].detach().clone().requires_grad_(True)
        y = feature(x)
        h, w = y.shape[-2:]
        row, col = cell if cell is not None else (h // 2, w // 2)
        y[0, :, row, col].sum().backward()
        grads.append(x.grad[0].abs().sum(0))
    grad = torch.stack(grads).mean(0).detach().cpu().numpy().astype(np.float64)
    stride = images.shape[-1] / w
    centre = ((col + 0.5) * stride - 0.5, (row + 0.5) * stride - 0.5)
    nonzero = grad > 0
    support = float(_distances(grad.shape, centre)[nonzero].max()) if nonzero.any() else float("nan")
    return ReceptiveField(grad, (row, col), centre, stride, mass_radius(grad, centre, 0.5),
                          mass_radius(grad, centre, 0.9), support)


def head_level_feature(model: nn.Module, level: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function (B, 3, H, W) -> the (B, C, h, w) map ``model``'s head reads at ``level`` (0: the finest; the main
    branch's for a dual head), captured with a forward hook on the layer that makes it."""
    sources = main_head_inputs(model.rows)[: getattr(model.head, "nl", 1)]
    if not 0 <= level < len(sources):
        raise FocalYoloError(f"level {level} does not exist: the head reads {len(sources)} level(s), 0 to "
                             f"{len(sources) - 1}")
    layer = model.model[sources[level]]

    def feature(x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            model(x)
        finally:
            handle.remove()
        return captured[0]

    return feature


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(n, h, w) -> (n, H, W) float64, bilinear."""
    return F.interpolate(maps[None].float(), size=size, mode="bilinear", align_corners=False)[0].numpy().astype(
        np.float64)


@torch.no_grad()
def focal_maps(model: nn.Module, image: torch.Tensor) -> dict[str, np.ndarray]:
    """For each FocalModulation in ``model`` (named by its module path) and a (1, 3, H, W) ``image``: an
    (L + 2, H, W) array, rows ``|G^l Z^l|`` channel means for l = 1..L, the global level, then ``|h(Z_out)|``."""
    found: dict[str, np.ndarray] = {}
    modules = [(name, m) for name, m in model.named_modules() if isinstance(m, FocalModulation)]
    for name, module in modules:
        seen: dict[str, torch.Tensor] = {}
        hooks = [module.f.register_forward_hook(lambda _m, _i, out: seen.__setitem__("f", out.clone())),
                 module.h.register_forward_hook(lambda _m, _i, out: seen.__setitem__("h", out.clone()))]
        hooks += [layer.register_forward_hook(lambda _m, _i, out, level=level: seen.__setitem__(f"z{level}",
                                                                                                  out.clone()))
                  for level, layer in enumerate(module.focal_layers)]
        try:
            model(image)
        finally:
            for hook in hooks:
                hook.remove()
        gates = seen["f"][:, 2 * module.dim :]
        levels = [(seen[f"z{level}"] * gates[:, level : level + 1]).abs().mean(1)[0]
                  for level in range(module.focal_level)]
        last = seen[f"z{module.focal_level - 1}"]
        global_ctx = module.act(last.mean((2, 3), keepdim=True)) * gates[:, module.focal_level :]
        levels.append(global_ctx.abs().mean(1)[0])
        levels.append(seen["h"].abs().mean(1)[0])
        found[name] = _upsample(torch.stack(levels), tuple(image.shape[-2:]))
    return found


@torch.no_grad()
def attention_maps(model: nn.Module, image: torch.Tensor, location: tuple[float, float]) -> dict[str, np.ndarray]:
    """For each MultiHeadSelfAttention2d in ``model`` and a (1, 3, H, W) ``image``: the (H, W) attention weights,
    averaged over heads, of the query at ``location`` (x, y input pixels) over every key position."""
    found: dict[str, np.ndarray] = {}
    for name, module in ((n, m) for n, m in model.named_modules() if isinstance(m, MultiHeadSelfAttention2d)):
        seen: list[torch.Tensor] = []
        hook = module.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
        try:
            model(image)
        finally:
            hook.remove()
        x = seen[0]
        b, c, h, w = x.shape
        heads = module.num_heads
        q, k, _ = module.qkv(x).view(b, 3, heads, c // heads, h * w).unbind(1)  # each (B, heads, d, h*w)
        stride_y, stride_x = image.shape[-2] / h, image.shape[-1] / w
        row = min(max(int(location[1] // stride_y), 0), h - 1)
        col = min(max(int(location[0] // stride_x), 0), w - 1)
        query = q[0, :, :, row * w + col]  # (heads, d)
        weights = torch.softmax(torch.einsum("nd,ndk->nk", query, k[0]) / (c // heads) ** 0.5, -1)
        found[name] = _upsample(weights.mean(0).view(1, h, w), tuple(image.shape[-2:]))[0]
    return found


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8 BGR ``image`` with the (H, W) ``heat`` map (scaled to its own range) blended over it in
    OpenCV's JET colour map."""
    span = float(heat.max() - heat.min())
    scaled = ((heat - heat.min()) / span * 255 if span > 0 else np.zeros_like(heat)).astype(np.uint8)
    return cv2.addWeighted(image, 1 - alpha, cv2.applyColorMap(scaled, cv2.COLORMAP_JET), alpha, 0)


def plot_receptive_field(field: ReceptiveField, image: np.ndarray, path: Path) -> Path:
    """``path`` (PNG): ``field.grad`` over ``image`` (H, W, 3 BGR) with the 50 % and 90 % squares drawn around the
    cell's centre."""
    picture = overlay(image, np.sqrt(field.grad), 0.6)  # the square root shows the tails
    cx, cy = field.centre
    for radius, colour in ((field.radius50, (255, 255, 255)), (field.radius90, (0, 0, 0))):
        cv2.rectangle(picture, (round(cx - radius), round(cy - radius)), (round(cx + radius), round(cy + radius)),
                      colour, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), picture)
    return path


def _load_images(source: str | Path) -> tuple[list[Path], list[np.ndarray]]:
    """The image files a source names (a file, folder or glob, as ``predict`` reads them) and their BGR pixels."""
    from ..data.image_io import ImageReadError, read_image
    from ..data.paths import is_image_file
    from ..engine.predictor import expand_source

    files = [p for p in expand_source(source) if is_image_file(p)]
    if not files:
        raise FocalYoloError(f"{source}: no images (explain reads images, not videos)")
    try:
        return files, [read_image(p) for p in files]
    except ImageReadError as exc:
        raise FocalYoloError(f"{source}: an image cannot be read ({exc})") from None


def explain(model_source: str | Path, source: str | Path, output: str | Path, imgsz: int | None = None,
            location: tuple[float, float] | None = None, level: int = 0, device: str = "cpu",
            log: Callable[[str], None] = print) -> dict:
    """Write the pictures of this module for a model (config or checkpoint) and images into ``output``:
    ``<image>_focal<k>_level<l>.png`` / ``_global`` / ``_modulator`` per focal block k, ``<image>_attn<k>.png``
    per attention block (the query at ``location``, x y input pixels, default the centre, marked), and
    ``erf_level<level>.png`` (the ERF over all images, drawn on the first). Returns ``{"files": [...],
    "erf": ReceptiveField}``; logs the ERF radii."""
    from ..cfg.imgsz import INFERENCE_IMGSZ, stride_multiple
    from ..tasks.detect.inputs import letterbox_batch
    from ..utils.torch_utils import select_device
    from ..weights.sources import load_source

    model = load_source(model_source, select_device(device))
    feature = head_level_feature(model, level)  # a level the head lacks fails before anything is written
    stride = int(model.stride.max())
    imgsz = stride_multiple(imgsz or int(model.train_args.get("imgsz") or INFERENCE_IMGSZ), stride)
    files, images = _load_images(source)
    batch, _ = letterbox_batch(images, imgsz, stride)
    x = batch.float().div(255).to(next(model.parameters()).device)
    views = [np.ascontiguousarray(b.permute(1, 2, 0).numpy()[..., ::-1]) for b in batch]  # what the network sees
    height, width = batch.shape[-2:]
    location = location or (width / 2, height / 2)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path, image, view in zip(files, x, views):
        for k, maps in enumerate(focal_maps(model, image[None]).values()):
            names = [f"level{lv + 1}" for lv in range(len(maps) - 2)] + ["global", "modulator"]
            for name, heat in zip(names, maps):
                written.append(output / f"{path.stem}_focal{k}_{name}.png")
                cv2.imwrite(str(written[-1]), overlay(view, heat))
        for k, heat in enumerate(attention_maps(model, image[None], location).values()):
            picture = overlay(view, heat)
            cv2.drawMarker(picture, (round(location[0]), round(location[1])), (255, 255, 255), cv2.MARKER_CROSS,
                           12, 2)
            written.append(output / f"{path.stem}_attn{k}.png")
            cv2.imwrite(str(written[-1]), picture)
    field = effective_receptive_field(feature, x)
    written.append(plot_receptive_field(field, views[0], output / f"erf_level{level}.png"))
    log(f"effective receptive field of the centre cell {field.cell} of head level {level} (stride "
        f"{field.stride:g}) over {len(files)} image(s) at {width}x{height}: 50 % of the gradient within "
        f"{field.radius50:g} px, 90 % within {field.radius90:g} px (Chebyshev radius around the cell's centre)")
    log(f"wrote {len(written)} picture(s) to {output}")
    return {"files": written, "erf": field}
