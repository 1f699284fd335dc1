"""The estimator as a scikit-learn user meets it: composition, persistence, seeds, bad input."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import TINY, tiny_estimator
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Checkpoint
from torch import nn

from cdm_estimators import ClassificationDensityEstimator, estimate_log_normalizer

REQUIRED = ["schedule", "n_timesteps", "max_epochs", "batch_size", "lr", "device",
            "random_state", "verbose"]


def test_required_parameters_and_defaults():
    params = ClassificationDensityEstimator().get_params()
    for name in REQUIRED:
        assert name in params
    assert params["device"] == "auto"


def test_fit_returns_self_and_sets_attributes(blobs):
    est = tiny_estimator()
    assert est.fit(blobs) is est
    assert est.n_features_in_ == 3
    assert est.n_iter_ == TINY["max_epochs"]
    assert est.schedule_.n_classes == TINY["n_timesteps"] + 2
    assert est.device_ == "cpu"
    np.testing.assert_allclose(est.mean_, blobs.mean(0))


def test_score_is_mean_of_score_samples(fitted, blobs):
    scores = fitted.score_samples(blobs)
    assert scores.shape == (len(blobs),) and scores.dtype == np.float64
    assert fitted.score(blobs) == pytest.approx(scores.mean())


def test_inference_batch_size_does_not_change_results(fitted, blobs):
    small = clone(fitted).set_params(inference_batch_size=7)
    small.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    np.testing.assert_allclose(small.score_samples(blobs), fitted.score_samples(blobs),
                               rtol=1e-6)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm_solver_2"])
def test_sample_shapes_and_units(fitted, sampler):
    X = fitted.sample(50, random_state=1, sampler=sampler, n_steps=5)
    assert X.shape == (50, 3) and np.all(np.isfinite(X))
    # samples are in the user's units: the second feature lives around 5
    assert abs(X[:, 1].mean() - 5) < 3


def test_same_seed_same_everything(blobs):
    a, b = tiny_estimator(random_state=7).fit(blobs), tiny_estimator(random_state=7).fit(blobs)
    np.testing.assert_array_equal(a.score_samples(blobs), b.score_samples(blobs))
    np.testing.assert_array_equal(a.sample(10, random_state=3), b.sample(10, random_state=3))
    np.testing.assert_array_equal(a.sample(10), b.sample(10))  # falls back to random_state
    c = tiny_estimator(random_state=8).fit(blobs)
    assert not np.allclose(a.score_samples(blobs), c.score_samples(blobs))


def test_clone_resets(fitted):
    fresh = clone(fitted)
    assert not hasattr(fresh, "net_")
    with pytest.raises(NotFittedError):
        fresh.score_samples(np.zeros((2, 3)))


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_persistence(fitted, blobs, dump, tmp_path):
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(fitted))
    else:
        joblib.dump(fitted, tmp_path / "est.joblib")
        loaded = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(loaded.score_samples(blobs), fitted.score_samples(blobs))
    np.testing.assert_array_equal(loaded.sample(5, random_state=0),
                                  fitted.sample(5, random_state=0))
    loaded.partial_fit(blobs)  # a loaded model can keep training
    assert loaded.n_iter_ == 2 * fitted.n_iter_


def test_pipeline_and_kde_side_by_side(blobs):
    pipe = make_pipeline(StandardScaler(), tiny_estimator()).fit(blobs)
    kde = make_pipeline(StandardScaler(), KernelDensity()).fit(blobs)
    assert pipe.score_samples(blobs).shape == kde.score_samples(blobs).shape
    assert np.isfinite(pipe.score(blobs))


def test_grid_search_over_schedules(blobs):
    grid = GridSearchCV(tiny_estimator(max_epochs=2),
                        {"schedule": ["linear", "cosine", "uniform", "ot"]}, cv=2)
    grid.fit(blobs)
    assert grid.best_params_["schedule"] in {"linear", "cosine", "uniform", "ot"}
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_custom_schedule_array(blobs):
    est = tiny_estimator(schedule=np.array([0.2, 0.5, 0.8])).fit(blobs)
    assert est.schedule_.n_timesteps == 3


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_pandas_float64_float32(blobs):
    df = pd.DataFrame(blobs, columns=["a", "b", "c"])
    est = tiny_estimator().fit(df)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    np.testing.assert_allclose(est.score_samples(df), est.score_samples(blobs))
    np.testing.assert_allclose(est.score_samples(blobs.astype(np.float32)),
                               est.score_samples(blobs), rtol=1e-5, atol=1e-5)


def test_constant_feature_does_not_crash(blobs):
    X = np.column_stack([blobs, np.full(len(blobs), 3.0)])
    est = tiny_estimator().fit(X)
    assert np.all(np.isfinite(est.score_samples(X)))
    assert np.all(np.isfinite(est.sample(5, random_state=0)))


def test_custom_module_instance_and_callable(blobs):
    module = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 6))
    est = tiny_estimator(module=module).fit(blobs)
    assert np.all(np.isfinite(est.score_samples(blobs)))
    assert module is not est.net_.module_  # the user's module is not trained in place
    est2 = tiny_estimator(module=lambda d, k: nn.Sequential(nn.Linear(d, 8), nn.Tanh(),
                                                            nn.Linear(8, k))).fit(blobs)
    assert np.all(np.isfinite(est2.score_samples(blobs)))


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


def test_warm_start_and_partial_fit(blobs):
    est = tiny_estimator(warm_start=True).fit(blobs)
    weights = [p.detach().clone() for p in est.net_.module_.parameters()]
    est.fit(blobs)
    assert est.n_iter_ == 2 * TINY["max_epochs"]
    assert any(not torch.equal(w, p) for w, p in zip(weights, est.net_.module_.parameters()))
    cold = tiny_estimator().fit(blobs).fit(blobs)
    assert cold.n_iter_ == TINY["max_epochs"]


def test_early_stopping_uses_a_validation_split(blobs):
    est = tiny_estimator(max_epochs=200, early_stopping=True, n_iter_no_change=2,
                         lr=1e-2).fit(blobs)
    assert "valid_loss" in est.net_.history[-1]
    assert est.n_iter_ < 200


def test_user_callback_checkpoint(blobs, tmp_path):
    est = tiny_estimator(callbacks=[Checkpoint(monitor="train_loss_best",
                                               dirname=str(tmp_path))]).fit(blobs)
    assert (tmp_path / "params.pt").exists()
    assert est.callbacks[0].dirname == str(tmp_path)


def test_verbose_shows_progress(blobs, capsys):
    tiny_estimator(verbose=1).fit(blobs)
    assert "CDM fit" in capsys.readouterr().err


def test_non_finite_training_loss_stops_with_clear_error(blobs):
    with pytest.raises(FloatingPointError, match="non-finite"):
        tiny_estimator(lr=1e30, max_epochs=5, standardize=False).fit(blobs * 1e30)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input(blobs, fitted, bad):
    X = blobs.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        tiny_estimator().fit(X)
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.score_samples(X)


def test_empty_single_row_and_1d(blobs):
    with pytest.raises(ValueError, match="0 sample"):
        tiny_estimator().fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        tiny_estimator().fit(blobs[:1])
    with pytest.raises(ValueError, match="2D array"):
        tiny_estimator().fit(blobs[:, 0])


def test_wrong_number_of_features(fitted, blobs):
    with pytest.raises(ValueError, match="features"):
        fitted.score_samples(blobs[:, :2])
    with pytest.raises(ValueError, match="features"):
        fitted.denoise(blobs[:, :2], 1)


def test_sparse_input_rejected(blobs):
    with pytest.raises(TypeError, match="[Ss]parse"):
        tiny_estimator().fit(sp.csr_matrix(blobs))


@pytest.mark.parametrize("method", ["score_samples", "score", "denoise", "sample"])
def test_unfitted_use(method, blobs):
    est = tiny_estimator()
    args = {"score_samples": (blobs,), "score": (blobs,), "denoise": (blobs, 1),
            "sample": (3,)}[method]
    with pytest.raises(NotFittedError):
        getattr(est, method)(*args)


@pytest.mark.parametrize(
    "param,value,error",
    [("max_epochs", 0, ValueError), ("max_epochs", "many", TypeError),
     ("batch_size", 0, ValueError), ("lr", -1.0, ValueError), ("lr", 0, ValueError),
     ("schedule", "quadratic", ValueError), ("n_timesteps", 0, ValueError),
     ("device", "tpu", ValueError), ("ema_decay", 1.5, ValueError),
     ("validation_fraction", 1.5, ValueError), ("callbacks", "progress", TypeError)],
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_loads_on_cpu(blobs, monkeypatch):
    est = tiny_estimator(device="cuda").fit(blobs)
    assert next(est.net_.ema_module_.parameters()).is_cuda
    scores = est.score_samples(blobs)
    state = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(Warning, match="CUDA"):
        loaded = pickle.loads(state)
    assert loaded.net_.device == "cpu"
    assert not next(loaded.net_.ema_module_.parameters()).is_cuda
    np.testing.assert_allclose(loaded.score_samples(blobs), scores, rtol=1e-4, atol=1e-4)
    assert loaded.sample(3, random_state=0).shape == (3, 3)


def test_normalize_removes_the_log_normaliser():
    X = np.random.RandomState(0).normal(size=(400, 2)) * [1.0, 0.3]
    raw = tiny_estimator(max_epochs=5).fit(X)
    assert raw.log_normalizer_ == 0.0
    normed = tiny_estimator(max_epochs=5, normalize=True).fit(X)
    assert normed.log_normalizer_ != 0.0
    np.testing.assert_allclose(normed.score_samples(X),
                               raw.score_samples(X) - normed.log_normalizer_, rtol=1e-6)
    before = estimate_log_normalizer(raw, X, n_samples=50_000, random_state=1)
    after = estimate_log_normalizer(normed, X, n_samples=50_000, random_state=1)
    assert abs(after.log_normalizer) < 0.01 < abs(before.log_normalizer)
    # the noisy densities (timestep > 0) are left as they are
    np.testing.assert_allclose(normed.score_samples(X, timestep=2),
                               raw.score_samples(X, timestep=2), rtol=1e-6)
