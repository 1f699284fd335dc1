"""The CDM formulas against the closed-form optimum for Gaussian data."""

import numpy as np
import pytest
import torch
from conftest import GaussianOracle, tiny_estimator
from scipy.stats import multivariate_normal

from cdm_estimators.objective import (
    cdm_loss,
    classifier_logits,
    log_density_from_logits,
    predict_noise,
)
from cdm_estimators.schedules import SCHEDULES, make_schedule

MEAN = np.array([0.7, -0.4, 1.2])
STD = 0.6


def _setup(name, T=8):
    s = make_schedule(name, T)
    oracle = GaussianOracle(s.alpha, s.sigma, MEAN, STD)
    a = torch.tensor(s.alpha, dtype=torch.float64)
    sg = torch.tensor(s.sigma, dtype=torch.float64)
    return s, oracle, a, sg


@pytest.mark.parametrize("name", SCHEDULES)
def test_likelihood_formula_recovers_every_marginal(name):
    s, oracle, _, _ = _setup(name)
    x = torch.tensor(np.random.RandomState(0).normal(size=(50, 3)))
    logits = classifier_logits(oracle, x)
    for t in range(s.n_classes):
        var = s.alpha[t] ** 2 * STD**2 + s.sigma[t] ** 2
        expected = multivariate_normal(s.alpha[t] * MEAN, var * np.eye(3)).logpdf(x.numpy())
        got = log_density_from_logits(logits, x, t).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", SCHEDULES)
def test_denoiser_formula_is_tweedie(name):
    s, oracle, _, sigma = _setup(name)
    x = torch.tensor(np.random.RandomState(1).normal(size=(40, 3)), requires_grad=True)
    for t in range(1, s.n_classes):
        tt = torch.full((40,), t)
        eps_hat, _ = predict_noise(oracle, x, tt, sigma)
        var = s.alpha[t] ** 2 * STD**2 + s.sigma[t] ** 2
        expected = s.sigma[t] * (x.detach().numpy() - s.alpha[t] * MEAN) / var
        np.testing.assert_allclose(eps_hat.detach().numpy(), expected, rtol=1e-9, atol=1e-12)


def test_objective_at_the_optimum():
    """The oracle's MSE equals the analytic minimum, and perturbing it raises the loss."""
    s, oracle, alpha, sigma = _setup("uniform", T=6)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor(MEAN + STD * np.random.RandomState(2).normal(size=(200_000, 3)))
    out = cdm_loss(oracle, x0, alpha, sigma, ce_weight=1.0, generator=g)
    var = s.alpha**2 * STD**2 + s.sigma**2
    mmse = np.mean(np.where(s.sigma > 0, 1 - s.sigma**2 / var, 0.0))  # per-dim, t uniform
    assert out.mse.item() == pytest.approx(mmse, rel=0.02)

    class Perturbed(torch.nn.Module):
        def forward(self, x):
            raw = oracle(x)
            return raw + 0.3 * torch.sin(3 * x.sum(1, keepdim=True) + torch.arange(8.0))

    worse = cdm_loss(Perturbed(), x0, alpha, sigma, 1.0, generator=torch.Generator().manual_seed(0))
    assert worse.cross_entropy.item() > out.cross_entropy.item()
    assert worse.mse.item() > out.mse.item()


def test_short_training_moves_toward_the_optimum():
    """Without standardisation the untrained model is N(0, I); training must approach the truth."""
    rng = np.random.RandomState(0)
    X = MEAN + STD * rng.normal(size=(2000, 3))
    X_test = MEAN + STD * rng.normal(size=(500, 3))
    truth = multivariate_normal(MEAN, STD**2 * np.eye(3)).logpdf(X_test)
    errors = []
    for epochs in (1, 40):
        est = tiny_estimator(standardize=False, hidden_width=64, n_timesteps=10,
                             max_epochs=epochs, batch_size=256, lr=3e-3).fit(X)
        errors.append(np.mean(np.abs(est.score_samples(X_test) - truth)))
    assert errors[1] < 0.5 * errors[0], errors
