"""Run plots are written without a display or downloads."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from focalyolo.utils.plotting import plot_images, plot_labels, plot_results


def test_plot_images_labels_and_predictions(tmp_path):
    imgs = torch.randint(0, 255, (5, 3, 64, 96), dtype=torch.uint8)
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.2, 0.3], [3, 0, 0.2, 0.2, 0.1, 0.1]])
    out = plot_images(imgs, targets, [f"im{i}.jpg" for i in range(5)], ["a", "b"], tmp_path / "train_batch0.jpg")
    grid = cv2.imread(str(out))
    assert grid.shape == (2 * 64, 3 * 96, 3)
    preds = np.array([[0, 1, 48, 32, 20, 10, 0.9], [1, 0, 10, 10, 5, 5, 0.1]])  # pixels, with confidence
    assert cv2.imread(str(plot_images(imgs.numpy(), preds, None, None, tmp_path / "val_batch0_pred.jpg"))) is not None
    assert plot_images(imgs[:1], torch.zeros((0, 6)), fname=tmp_path / "empty.jpg").is_file()


def test_plot_labels_and_results(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.concatenate((rng.integers(0, 3, (50, 1)), rng.uniform(0.05, 0.95, (50, 4)) * 0.5), 1)
    assert cv2.imread(str(plot_labels(labels, ["a", "b", "c"], tmp_path))) is not None
    csv = tmp_path / "results.csv"
    csv.write_text("epoch, time, train/box_loss, metrics/mAP50(B)\n1, 2.0, 1.5, 0.1\n2, 4.1, 1.2, 0.3\n")
    out = plot_results(csv)
    assert out == tmp_path / "results.png" and cv2.imread(str(out)) is not None
