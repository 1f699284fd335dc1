"""What only the CDM has: schedules, the noisy densities, the denoiser and diffusion samplers.

The API contract shared with the baselines is in test_contract.py.
"""

import numpy as np
import pytest
from conftest import TINY, tiny_estimator
from sklearn.exceptions import NotFittedError
from torch import nn

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.schedules import make_schedule

REQUIRED = ["schedule", "n_timesteps", "max_epochs", "batch_size", "lr", "device",
            "random_state", "verbose"]


def test_required_parameters_and_defaults():
    params = ClassificationDensityEstimator().get_params()
    for name in REQUIRED:
        assert name in params
    assert params["device"] == "auto"


def test_fit_sets_the_schedule(blobs):
    est = tiny_estimator().fit(blobs)
    assert est.schedule_.n_classes == TINY["n_timesteps"] + 2
    assert est.net_.alpha is est.schedule_.alpha


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm_solver_2"])
def test_sample_shapes_and_units(fitted, sampler):
    X = fitted.sample(50, random_state=1, sampler=sampler, n_steps=5)
    assert X.shape == (50, 3) and np.all(np.isfinite(X))
    # in the user's units (the second feature lives around 5); exact units: test_end_to_end
    assert abs(X[:, 1].mean() - 5) < 3


def test_sample_falls_back_to_random_state(fitted):
    np.testing.assert_array_equal(fitted.sample(10), fitted.sample(10))
    np.testing.assert_array_equal(fitted.sample(10, random_state=3),
                                  fitted.sample(10, random_state=3))


def test_custom_schedule_array(blobs):
    est = tiny_estimator(schedule=np.array([0.2, 0.5, 0.8])).fit(blobs)
    assert est.schedule_.n_timesteps == 3


def test_module_with_wrong_output_is_rejected(blobs):
    with pytest.raises(ValueError, match=r"n_timesteps \+ 2"):
        tiny_estimator(module=nn.Linear(3, 4)).fit(blobs)
    with pytest.raises(TypeError, match="module"):
        tiny_estimator(module="resnet").fit(blobs)


def test_noisy_density_and_denoiser(fitted, blobs):
    last = fitted.schedule_.n_classes - 1
    noisy = fitted.score_samples(blobs, timestep=2)
    assert noisy.shape == (len(blobs),) and np.all(np.isfinite(noisy))
    # at pure noise the density is exactly N(0, I) in standardised units
    z = (blobs - fitted.mean_) / fitted.scale_
    expected = -0.5 * (z**2).sum(1) - 1.5 * np.log(2 * np.pi) - np.log(fitted.scale_).sum()
    np.testing.assert_allclose(fitted.score_samples(blobs, timestep=last), expected, rtol=1e-5)
    Xn = fitted.add_noise(blobs, 2, random_state=0)
    assert fitted.denoise(Xn, 2).shape == blobs.shape
    assert fitted.denoise(Xn, 2, return_noise=True).shape == blobs.shape
    with pytest.raises(ValueError, match="timestep"):
        fitted.score_samples(blobs, timestep=last + 1)


# --------------------------------------------------------------------------- bad input
def test_wrong_number_of_features(fitted, blobs):
    with pytest.raises(ValueError, match="features"):
        fitted.score_samples(blobs[:, :2])
    with pytest.raises(ValueError, match="features"):
        fitted.denoise(blobs[:, :2], 1)


def test_unfitted_denoise(blobs):
    with pytest.raises(NotFittedError):
        tiny_estimator().denoise(blobs, 1)


@pytest.mark.parametrize(
    "param,value,error",
    [("schedule", "quadratic", ValueError), ("n_timesteps", 0, ValueError),
     ("ce_weight", -1.0, ValueError), ("quadratic_rank", -1, ValueError),
     ("quadratic_rank", "full", ValueError), ("quadratic_rank", 2.5, TypeError),
     ("quadratic_rank", True, TypeError)],
)
def test_bad_parameters_name_themselves(blobs, param, value, error):
    with pytest.raises(error, match=param):
        tiny_estimator(**{param: value}).fit(blobs)


def test_bad_sample_arguments(fitted):
    with pytest.raises(ValueError, match="sampler"):
        fitted.sample(3, sampler="heun")
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)
    with pytest.raises(ValueError, match="schedule='ot'"):
        fitted.sample(3, sampler="euler")


def test_ot_schedule_with_euler(blobs):
    est = tiny_estimator(schedule="ot").fit(blobs)
    assert est.sample(4, sampler="euler", n_steps=3).shape == (4, 3)


@pytest.mark.parametrize("value,n_features,rank", [("auto", 3, 3), ("auto", 100, 64), (0, 3, 0),
                                                    (2, 3, 2)])
def test_quadratic_rank_of_the_default_network(value, n_features, rank):
    est = tiny_estimator(quadratic_rank=value)
    est.schedule_ = make_schedule(est.schedule, est.n_timesteps)
    module = est._default_module(n_features)
    if rank == 0:
        assert module.projection is None and module.quadratic is None
    else:
        assert module.projection.weight.shape == (rank, n_features)
