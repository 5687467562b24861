"""A training step reads nothing back from the device but the assigner's list of candidate pairs: every host read
of a CUDA tensor waits for the device's queue. Counted on the CPU with torch.profiler, where the same reads are
the ops ``aten::_local_scalar_dense`` (``.item()``, ``bool()``, ``int()``) and ``aten::nonzero`` (``nonzero()``,
boolean-mask indexing)."""

from __future__ import annotations

from collections import Counter

from torch.profiler import ProfilerActivity, profile

from focalyolo.cfg import TrainConfig
from focalyolo.engine.trainer import Trainer

HOST_READS = ("aten::_local_scalar_dense", "aten::nonzero")
ON_THE_HOST = ("dataloader.py", "group_by_image")
"""Reads of host tensors: the data loader's seed, and the padding of the targets, which stay on the host."""


def callers(event) -> str:
    names = []
    while event is not None and len(names) < 6:
        names.append(event.name)
        event = event.cpu_parent
    return " < ".join(names)


def test_a_training_step_reads_from_the_device_only_in_the_assigner(tmp_path, tiny_model_yaml, tiny_data_yaml):
    cfg = TrainConfig(model=str(tiny_model_yaml), data=str(tiny_data_yaml), epochs=1, imgsz=64, batch=8, workers=0,
                      device="cpu", project=str(tmp_path), val=False, plots=False, verbose=False, nbs=16,
                      warmup_epochs=0)
    trainer = Trainer(cfg)
    target_devices = []
    loss_fn = trainer.loss_fn

    def recording_loss(preds, targets):
        target_devices.append(targets.device.type)
        return loss_fn(preds, targets)

    trainer.loss_fn = recording_loss
    with profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof:
        stats = trainer.train_epoch(0)
    reads = [callers(e) for e in prof.events() if e.name in HOST_READS]
    on_device = Counter(r.split(" < ")[0] for r in reads if not any(name in r for name in ON_THE_HOST))
    branches = 2  # the tiny model is a PGI (dual-head) one: each branch assigns its own targets
    assert stats.steps == 2 and stats.skipped == 0
    assert target_devices == ["cpu"] * stats.steps
    assert on_device == Counter({"aten::nonzero": branches * stats.steps}), "\n".join(reads)
