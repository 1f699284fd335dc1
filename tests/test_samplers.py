"""Samplers driven by the exact Gaussian denoiser must reproduce the Gaussian."""

import numpy as np
import pytest
import torch
from conftest import GaussianOracle

from cdm_estimators.objective import predict_noise
from cdm_estimators.samplers import run_sampler, sample_steps
from cdm_estimators.schedules import make_schedule

MEAN = np.array([1.0, -2.0])
STD = 0.5


def _predictor(schedule):
    oracle = GaussianOracle(schedule.alpha, schedule.sigma, MEAN, STD)
    sigma = torch.tensor(schedule.sigma)

    def predict(x, t):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            eps, _ = predict_noise(oracle, x, torch.full((len(x),), t), sigma)
        return eps.detach()

    return predict


def _draw(schedule_name, sampler, n_steps, eta=0.0, n=3000, seed=0):
    s = make_schedule(schedule_name, 100)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    steps = sample_steps(s.n_classes, n_steps)
    return run_sampler(_predictor(s), x, s.alpha, s.sigma, steps, sampler=sampler, eta=eta,
                       x0_mean=torch.tensor(MEAN), generator=g).numpy()


@pytest.mark.parametrize(
    "schedule,sampler,n_steps,eta",
    [
        ("linear", "ddpm", None, 0.0),
        ("uniform", "ddpm", None, 0.0),
        ("cosine", "ddim", 25, 0.0),
        ("uniform", "ddim", 25, 0.5),
        ("linear", "dpm_solver_2", 30, 0.0),
        ("uniform", "dpm_solver_2", 15, 0.0),
        ("ot", "euler", 50, 0.0),
        ("ot", "ddpm", None, 0.0),
    ],
)
def test_samples_match_the_gaussian(schedule, sampler, n_steps, eta):
    X = _draw(schedule, sampler, n_steps, eta)
    assert np.all(np.isfinite(X))
    np.testing.assert_allclose(X.mean(0), MEAN, atol=0.04)
    np.testing.assert_allclose(X.std(0), STD, atol=0.04)


def test_second_order_beats_first_order():
    """With few steps DPM-Solver-2's error must be well below DDIM's (same step grid)."""
    err_ddim = abs(_draw("cosine", "ddim", 12, n=2000).std(0) - STD).mean()
    err_dpm = abs(_draw("cosine", "dpm_solver_2", 12, n=2000).std(0) - STD).mean()
    assert err_dpm < 0.5 * err_ddim, (err_dpm, err_ddim)


def test_euler_is_ddim_for_ot():
    np.testing.assert_allclose(_draw("ot", "euler", 20), _draw("ot", "ddim", 20), atol=1e-10)


def test_steps_grid():
    np.testing.assert_array_equal(sample_steps(6, None), [5, 4, 3, 2, 1, 0])
    steps = sample_steps(102, 10)
    assert steps[0] == 101 and steps[-1] == 0 and len(steps) == 11
    assert np.all(np.diff(steps) < 0)
    with pytest.raises(ValueError, match="n_steps"):
        sample_steps(10, 0)


def test_euler_needs_ot():
    with pytest.raises(ValueError, match="schedule='ot'"):
        _draw("uniform", "euler", 10, n=5)
