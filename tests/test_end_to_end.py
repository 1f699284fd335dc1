"""The estimator end to end against exact answers: the closed-form Gaussian oracle of
``conftest.GaussianOracle`` given as ``module=`` makes ``score_samples``, ``denoise`` and
``sample`` of the *estimator* (units, batching, EMA, samplers) checkable to tight tolerances.

Training cannot move the oracle (its only parameter is unused), so any error here is in the
estimator's plumbing, not in learning.
"""

import numpy as np
import pytest
from conftest import GaussianOracle, tiny_estimator, two_clusters
from scipy.stats import multivariate_normal
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cdm_estimators.schedules import make_schedule

MEAN = np.array([1.0, -2.0, 0.5])
STD = 0.5
T = 50


def oracle_estimator(schedule="uniform", mean=MEAN, std=STD, **params):
    s = make_schedule(schedule, T)
    return tiny_estimator(schedule=schedule, n_timesteps=T, max_epochs=1,
                          module=GaussianOracle(s.alpha, s.sigma, mean, std), **params)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return MEAN + STD * rng.normal(size=(400, 3)), MEAN + STD * rng.normal(size=(300, 3))


@pytest.fixture(scope="module")
def raw(data):
    """The oracle on unstandardised data: model space = user space."""
    return oracle_estimator(standardize=False, inference_batch_size=64).fit(data[0])


@pytest.mark.parametrize("t", [0, 1, 10, T, T + 1])
def test_score_samples_is_the_exact_density(raw, data, t):
    s = raw.schedule_
    var = s.alpha[t] ** 2 * STD**2 + s.sigma[t] ** 2
    truth = multivariate_normal(s.alpha[t] * MEAN, var * np.eye(3)).logpdf(data[1])
    np.testing.assert_allclose(raw.score_samples(data[1], timestep=t), truth, rtol=1e-5,
                               atol=1e-5)


def test_standardised_units_are_undone(data):
    """With standardize=True the oracle describes the standardised space; the estimator
    must map densities and samples back to the user's units exactly."""
    units = ([1.0, 10.0, 0.1], [0.0, 100.0, -5.0])
    X, X_test = (data[0] * units[0] + units[1]), (data[1] * units[0] + units[1])
    m, s = np.array([0.5, -0.3, 0.2]), 0.7  # a model-space Gaussian for the densities
    est = oracle_estimator(mean=m, std=s).fit(X)
    z = (X_test - est.mean_) / est.scale_
    truth = multivariate_normal(m, s**2 * np.eye(3)).logpdf(z) - np.log(est.scale_).sum()
    np.testing.assert_allclose(est.score_samples(X_test), truth, rtol=1e-5, atol=1e-5)
    # Standardised data have mean 0 (the samplers rely on it at pure noise): sample from a
    # narrower centred Gaussian, which an untrained N(0, I) model would not reproduce.
    est = oracle_estimator(mean=np.zeros(3), std=s).fit(X)
    samples = est.sample(4000, random_state=0, sampler="ddim", n_steps=25)
    standardised = (samples - X.mean(0)) / X.std(0)
    np.testing.assert_allclose(standardised.mean(0), 0.0, atol=0.04)
    np.testing.assert_allclose(standardised.std(0), s, atol=0.04)


@pytest.mark.parametrize("t", [1, 10, T])
def test_denoise_is_the_posterior_mean(raw, data, t):
    s = raw.schedule_
    a, sg = s.alpha[t], s.sigma[t]
    noisy = raw.add_noise(data[1], t, random_state=0)
    var = a**2 * STD**2 + sg**2
    posterior_mean = MEAN + a * STD**2 / var * (noisy - a * MEAN)
    np.testing.assert_allclose(raw.denoise(noisy, t), posterior_mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(raw.denoise(noisy, t, return_noise=True),
                               sg * (noisy - a * MEAN) / var, rtol=1e-4, atol=1e-4)


def test_add_noise_has_the_schedule_moments(raw):
    t = 10
    a, sg = raw.schedule_.alpha[t], raw.schedule_.sigma[t]
    noisy = raw.add_noise(np.tile(MEAN, (20_000, 1)), t, random_state=1)
    np.testing.assert_allclose(noisy.mean(0), a * MEAN, atol=4 * sg / np.sqrt(20_000))
    np.testing.assert_allclose(noisy.std(0), sg, rtol=0.03)


@pytest.mark.parametrize("sampler,schedule,n_steps", [("ddpm", "uniform", None),
                                                      ("ddim", "cosine", 25),
                                                      ("dpm_solver_2", "cosine", 20),
                                                      ("euler", "ot", 40)])
def test_sample_draws_the_gaussian(data, sampler, schedule, n_steps):
    est = oracle_estimator(schedule, standardize=False).fit(data[0])
    X = est.sample(4000, random_state=0, sampler=sampler, n_steps=n_steps)
    np.testing.assert_allclose(X.mean(0), MEAN, atol=0.04)
    np.testing.assert_allclose(X.std(0), STD, atol=0.04)


def test_pipeline_density_and_samples_are_exact(data):
    """A Pipeline scores in the scaler's space; samples come back through inverse_transform."""
    m, s = np.zeros(3), 0.8
    pipe = make_pipeline(StandardScaler(), oracle_estimator(mean=m, std=s,
                                                            standardize=False)).fit(data[0])
    z = pipe[0].transform(data[1])
    np.testing.assert_allclose(pipe.score_samples(data[1]),
                               multivariate_normal(m, s**2 * np.eye(3)).logpdf(z),
                               rtol=1e-5, atol=1e-5)
    X = pipe[0].inverse_transform(pipe[-1].sample(4000, random_state=0))
    np.testing.assert_allclose(pipe[0].transform(X).mean(0), m, atol=0.04)
    np.testing.assert_allclose(pipe[0].transform(X).std(0), s, atol=0.04)


@pytest.mark.slow
def test_grid_search_over_schedules_rejects_a_hopeless_candidate():
    X = two_clusters(400)
    base = tiny_estimator(max_epochs=15, lr=1e-2, hidden_width=32)
    grid = GridSearchCV(base, [{"schedule": ["linear", "cosine", "uniform", "ot"]},
                               {"schedule": ["uniform"], "lr": [1e-12]}], cv=2).fit(X)
    scores = grid.cv_results_["mean_test_score"]
    hopeless = [i for i, p in enumerate(grid.cv_results_["params"]) if p.get("lr") == 1e-12]
    assert grid.best_params_.get("lr") != 1e-12
    assert grid.cv_results_["rank_test_score"][hopeless[0]] == len(scores)
    assert scores.max() > scores[hopeless[0]] + 0.2, scores
