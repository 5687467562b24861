"""Exceptions the command line turns into one clear line instead of a traceback."""

__all__ = ["CheckpointError", "ConfigError", "DataError", "FocalYoloError", "OfficialCheckpointError"]


class FocalYoloError(Exception):
    """Base class of every error caused by the user's input (config, data, checkpoint, arguments)."""


class ConfigError(FocalYoloError):
    """A model YAML is wrong; the message names the file, the layer index and the fault."""


class DataError(FocalYoloError):
    """A dataset is missing, empty or unreadable as a whole (single bad files are skipped, not raised)."""


class CheckpointError(FocalYoloError):
    """A checkpoint cannot be read, is unsafe to read, or does not fit the model."""


class OfficialCheckpointError(CheckpointError):
    """The file is an official YOLOv9 checkpoint (pickled model classes): it is read with the restricted importer
    (:func:`focalyolo.weights.official.import_official`), not as a focalyolo checkpoint."""
