"""The GPU options of a training run: ``--compile``, ``--amp-dtype`` and cuDNN's benchmark mode (checked on the CPU:
what each sets up, not its speed)."""

from __future__ import annotations

import torch

from focalyolo.cfg import TrainConfig
from focalyolo.cli import main
from focalyolo.engine.trainer import Trainer


def tiny_config(tmp_path, model, data, **changes) -> TrainConfig:
    return TrainConfig(model=str(model), data=str(data), epochs=1, imgsz=64, batch=8, workers=0, device="cpu",
                       project=str(tmp_path), val=False, plots=False, verbose=False, **changes)


def test_compile_wraps_the_training_network_only(tmp_path, tiny_model_yaml, tiny_data_yaml):
    trainer = Trainer(tiny_config(tmp_path, tiny_model_yaml, tiny_data_yaml, compile=True))
    assert isinstance(trainer.net, torch._dynamo.eval_frame.OptimizedModule)  # compiles at its first call
    assert trainer.net._orig_mod is trainer.model and not isinstance(trainer.model, type(trainer.net))
    assert not torch.backends.cudnn.benchmark  # CUDA only, and only when not deterministic


def test_amp_dtype_picks_the_autocast_type_and_loss_scaling(tmp_path, tiny_model_yaml, tiny_data_yaml):
    bf16 = Trainer(tiny_config(tmp_path, tiny_model_yaml, tiny_data_yaml, amp_dtype="bf16"))
    fp16 = Trainer(tiny_config(tmp_path, tiny_model_yaml, tiny_data_yaml))
    assert (bf16.amp_dtype, fp16.amp_dtype) == (torch.bfloat16, torch.float16)
    assert not bf16.amp and not bf16.scaler.is_enabled()  # mixed precision is for CUDA


def test_an_unknown_amp_dtype_is_one_line_and_exit_2(tmp_path, tiny_model_yaml, capsys):
    code = main(["train", "--model", str(tiny_model_yaml), "--amp-dtype", "fp8", "--project", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["focalyolo train: error: --amp-dtype fp8: must be one of fp16, bf16"]
