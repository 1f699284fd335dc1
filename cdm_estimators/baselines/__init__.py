"""Baseline density-ratio estimators with the same API as the CDM: NCE and TRE."""

from .nce import NoiseContrastiveEstimator
from .tre import TelescopingDensityRatioEstimator

__all__ = ["NoiseContrastiveEstimator", "TelescopingDensityRatioEstimator"]
