"""Classification Diffusion Models as scikit-learn density estimators."""

from .baselines import NoiseContrastiveEstimator, TelescopingDensityRatioEstimator
from .estimator import ClassificationDensityEstimator
from .networks import ResidualMLP
from .normalizer import LogNormalizerEstimate, estimate_log_normalizer
from .outlier import CDMOutlierDetector, DensityOutlierDetector
from .schedules import NoiseSchedule, make_schedule

__all__ = [
    "ClassificationDensityEstimator",
    "CDMOutlierDetector",
    "DensityOutlierDetector",
    "LogNormalizerEstimate",
    "NoiseContrastiveEstimator",
    "NoiseSchedule",
    "ResidualMLP",
    "TelescopingDensityRatioEstimator",
    "estimate_log_normalizer",
    "make_schedule",
]

__version__ = "0.1.0"
