"""Shared fixtures: tiny estimator configurations that fit in well under a second, and the
``--device`` option that runs the same suite on a GPU (``python -m pytest --device cuda``)."""

import numpy as np
import pytest
import torch
from torch import nn

from cdm_estimators import (
    ClassificationDensityEstimator,
    NoiseContrastiveEstimator,
    TelescopingDensityRatioEstimator,
)

#: The torch device the estimators of the suite run on (``--device``; CPU by default).
DEVICE = "cpu"


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="torch device for the estimators under test: cpu (default), cuda, "
                          "cuda:N")


def pytest_configure(config):
    global DEVICE
    DEVICE = config.getoption("--device")
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError(f"--device {DEVICE}: CUDA is not available on this machine.")


#: ``normalize=False``: most tests look at the raw model; test_contract covers ``"auto"``.
TINY = dict(n_timesteps=4, hidden_width=16, n_blocks=1, max_epochs=3, batch_size=64,
            normalize=False)

#: Every estimator of the library with a configuration that fits in well under a second, and
#: the number of outputs its network must have (for 3 features).
ESTIMATORS = {
    "CDM": (ClassificationDensityEstimator, TINY, TINY["n_timesteps"] + 2),
    "TRE": (TelescopingDensityRatioEstimator,
            dict(n_ratios=3, n_head_features=4, hidden_width=16, n_blocks=1, max_epochs=3,
                 batch_size=64, normalize=False), 3),
    "NCE": (NoiseContrastiveEstimator,
            dict(hidden_width=16, n_blocks=1, max_epochs=3, batch_size=64, normalize=False), 1),
}


def tiny_estimator(**params):
    """A CDM small enough for API tests, on the suite's device."""
    return ClassificationDensityEstimator(**{**TINY, "random_state": 0, "device": DEVICE,
                                             **params})


def tiny(name, **params):
    """The tiny configuration of estimator ``name`` ("CDM", "TRE" or "NCE"), on the suite's
    device."""
    cls, tiny_params, _ = ESTIMATORS[name]
    return cls(**{**tiny_params, "random_state": 0, "device": DEVICE, **params})


def two_clusters(n, seed=0):
    """2-D data in two far-apart clusters: far from Gaussian even after standardisation, so
    an estimator that learned nothing (its start is N(0, I)) scores clearly worse."""
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, 2)) * 0.3 + rng.choice([-2.0, 2.0], size=(n, 1))


@pytest.fixture(scope="session")
def blobs():
    rng = np.random.RandomState(0)
    return rng.normal(size=(300, 3)) * [1.0, 2.0, 0.5] + [0.0, 5.0, -1.0]


@pytest.fixture(scope="session")
def fitted(blobs):
    return tiny_estimator(max_epochs=20).fit(blobs)


class GaussianOracle(nn.Module):
    """Raw outputs whose cumulative sum is the Bayes-optimal logits for N(mean, std^2 I) data.

    For x_0 ~ N(m, s^2 I), x_t ~ N(alpha_t m, v_t I) with v_t = alpha_t^2 s^2 + sigma_t^2, so
    with a uniform class prior the optimal logits are f_t(x) = log N(x; alpha_t m, v_t I).
    Its only parameter is unused, so training leaves it exact: given to an estimator as
    ``module=``, it checks the estimator's plumbing (units, batching, EMA, samplers) against
    closed forms.
    """

    def __init__(self, alpha, sigma, mean, std):
        super().__init__()
        self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float64))
        var = torch.as_tensor(alpha, dtype=torch.float64) ** 2 * std**2 + torch.as_tensor(
            sigma, dtype=torch.float64) ** 2
        self.register_buffer("var", var)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.dummy = nn.Parameter(torch.zeros(()))

    def logits(self, x):
        x = x.double()
        d = x.shape[1]
        diff = x[:, None, :] - self.alpha[None, :, None] * self.mean
        return (-0.5 * diff.pow(2).sum(-1) / self.var
                - 0.5 * d * torch.log(2 * torch.pi * self.var))

    def forward(self, x):
        f = self.logits(x)
        return torch.cat([f[:, :1], f[:, 1:] - f[:, :-1]], dim=1)


#: Scripts that tests start in other processes (``accelerate launch``, ``torchrun``): not
#: test modules, and they import optional extras at the top.
collect_ignore_glob = ["scripts/*"]
