"""The typed configuration: every option of train / val / predict / export / compare and every hyper-parameter.

:mod:`~focalyolo.cfg.schema` defines the options and checks hyp YAMLs against them, :mod:`~focalyolo.cfg.hyp`
reads those files, :mod:`~focalyolo.cfg.render` prints a configuration as commented YAML, and
:mod:`~focalyolo.cfg.imgsz` holds the image-size defaults and the one rule for a size off the stride, and
:mod:`~focalyolo.cfg.recorded` fills inference defaults from a model's training run. The packaged hyp files
live next to them.
"""

from .hyp import LEGACY_KEYS, packaged_hyps
from .options import Config, OptionError, UnknownOptionError
from .render import format_config
from .schema import (
    GROUP_TITLES,
    HYP_GROUPS,
    SYNTHETIC,
    SYNTHETIC_DATA,
    CompareConfig,
    ExportConfig,
    PredictConfig,
    TrainConfig,
    ValConfig,
    default_hyperparameters,
    load_hyp,
)

__all__ = [
    "CompareConfig", "Config", "ExportConfig", "GROUP_TITLES", "HYP_GROUPS", "LEGACY_KEYS", "OptionError",
    "PredictConfig", "SYNTHETIC", "SYNTHETIC_DATA", "TrainConfig", "UnknownOptionError", "ValConfig",
    "default_hyperparameters", "format_config", "load_hyp", "packaged_hyps",
]
