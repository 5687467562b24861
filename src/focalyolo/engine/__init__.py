"""Training, validation and prediction jobs: trainer, validator, predictor, EMA, optimiser and multi-process launch."""

__all__: list[str] = []
