"""One contract for every estimator of the library (CDM, TRE, NCE): the scikit-learn API as a
user meets it, persistence, seeds, sampling and bad input."""

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import DEVICE, ESTIMATORS, tiny, two_clusters
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import Checkpoint
from torch import nn

from cdm_estimators import base, estimate_log_normalizer

NAMES = list(ESTIMATORS)
COMMON = ["max_epochs", "batch_size", "lr", "device", "random_state", "verbose", "module",
          "hidden_width", "n_blocks", "standardize", "normalize", "early_stopping"]


@pytest.fixture(scope="module", params=NAMES)
def name(request):
    return request.param


@pytest.fixture(scope="module")
def fitted_any(name, blobs):
    return tiny(name, max_epochs=20).fit(blobs)


@parametrize_with_checks(
    [tiny(n, max_epochs=2) for n in NAMES] + [tiny("CDM", max_epochs=2, normalize="auto")],
    expected_failed_checks=lambda est: {},
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_shared_parameters_and_defaults(name):
    params = ESTIMATORS[name][0]().get_params()
    for param in COMMON:
        assert param in params
    assert params["device"] == "auto" and params["max_epochs"] == "auto"
    assert params["normalize"] == "auto" and params["early_stopping"] == "auto"


def test_fit_returns_self_and_sets_attributes(name, blobs):
    est = tiny(name)
    assert est.fit(blobs) is est
    assert est.n_features_in_ == 3
    assert est.n_iter_ == ESTIMATORS[name][1]["max_epochs"]
    assert est.device_ == DEVICE and est.log_normalizer_ == 0.0
    np.testing.assert_allclose(est.mean_, blobs.mean(0))


def test_untrained_model_is_the_standard_normal(name, blobs):
    """Zero-initialised heads: before training every model is N(0, I) in standardised units."""
    est = tiny(name, max_epochs=1, lr=1e-12, warmup_fraction=0.0).fit(blobs)
    z = (blobs - est.mean_) / est.scale_
    expected = -0.5 * (z**2).sum(1) - 1.5 * np.log(2 * np.pi) - np.log(est.scale_).sum()
    np.testing.assert_allclose(est.score_samples(blobs), expected, rtol=1e-4, atol=1e-4)


def test_score_is_mean_of_score_samples(fitted_any, blobs):
    scores = fitted_any.score_samples(blobs)
    assert scores.shape == (len(blobs),) and scores.dtype == np.float64
    assert np.all(np.isfinite(scores))
    assert fitted_any.score(blobs) == pytest.approx(scores.mean())


def test_inference_batch_size_does_not_change_results(fitted_any, blobs):
    small = clone(fitted_any).set_params(inference_batch_size=7)
    small.__dict__.update({k: v for k, v in vars(fitted_any).items() if k.endswith("_")})
    np.testing.assert_allclose(small.score_samples(blobs), fitted_any.score_samples(blobs),
                               rtol=1e-6)


def test_sample_shape_units_and_seed(fitted_any):
    X = fitted_any.sample(40, random_state=1, n_steps=30)
    assert X.shape == (40, 3) and np.all(np.isfinite(X))
    assert abs(X[:, 1].mean() - 5) < 3  # in the user's units: the second feature is near 5
    np.testing.assert_array_equal(X, fitted_any.sample(40, random_state=1, n_steps=30))
    assert not np.array_equal(X, fitted_any.sample(40, random_state=2, n_steps=30))


def test_same_seed_same_everything(name, blobs):
    a, b = tiny(name, random_state=7).fit(blobs), tiny(name, random_state=7).fit(blobs)
    np.testing.assert_array_equal(a.score_samples(blobs), b.score_samples(blobs))
    np.testing.assert_array_equal(a.sample(10, n_steps=10), b.sample(10, n_steps=10))
    c = tiny(name, random_state=8).fit(blobs)
    assert not np.allclose(a.score_samples(blobs), c.score_samples(blobs))


def test_clone_resets(fitted_any):
    fresh = clone(fitted_any)
    assert not hasattr(fresh, "net_")
    with pytest.raises(NotFittedError):
        fresh.score_samples(np.zeros((2, 3)))


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_persistence(fitted_any, blobs, dump, tmp_path):
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(fitted_any))
    else:
        joblib.dump(fitted_any, tmp_path / "est.joblib")
        loaded = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(loaded.score_samples(blobs), fitted_any.score_samples(blobs))
    np.testing.assert_array_equal(loaded.sample(5, random_state=0, n_steps=10),
                                  fitted_any.sample(5, random_state=0, n_steps=10))
    loaded.partial_fit(blobs)  # a loaded model can keep training: one more epoch
    assert loaded.n_iter_ == fitted_any.n_iter_ + 1


def test_pipeline_and_kde_side_by_side(name, blobs):
    """In a Pipeline the estimator sees the scaled data: the pipeline's score is the fitted
    step's density of the transformed rows, in the same space as a KDE's beside it."""
    pipe = make_pipeline(StandardScaler(), tiny(name)).fit(blobs)
    scaled = pipe[0].transform(blobs)
    np.testing.assert_array_equal(pipe.score_samples(blobs), pipe[-1].score_samples(scaled))
    direct = tiny(name).fit(scaled)
    np.testing.assert_allclose(pipe.score_samples(blobs), direct.score_samples(scaled),
                               rtol=1e-6)
    kde = make_pipeline(StandardScaler(), KernelDensity(bandwidth=0.5)).fit(blobs)
    # Both densities of the same standardised Gaussian blob: level within a nat or so.
    assert abs(pipe.score(blobs) - kde.score(blobs) / len(blobs)) < 1.0


def test_grid_search_prefers_a_trained_model(name):
    """A hopeless candidate (a learning rate that leaves the N(0, I) start untouched) must
    rank last on data that are far from Gaussian."""
    X = two_clusters(400)
    grid = GridSearchCV(tiny(name, max_epochs=15, lr=1e-2, hidden_width=32),
                        {"lr": [1e-2, 1e-12]}, cv=2).fit(X)
    assert grid.best_params_["lr"] == 1e-2
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and scores[0] > scores[1] + 0.2, scores


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_pandas_float64_float32(name, blobs):
    df = pd.DataFrame(blobs, columns=["a", "b", "c"])
    est = tiny(name).fit(df)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    np.testing.assert_allclose(est.score_samples(df), est.score_samples(blobs))
    np.testing.assert_allclose(est.score_samples(blobs.astype(np.float32)),
                               est.score_samples(blobs), rtol=1e-5, atol=1e-5)


def test_constant_feature_does_not_crash(name, blobs):
    X = np.column_stack([blobs, np.full(len(blobs), 3.0)])
    est = tiny(name).fit(X)
    assert np.all(np.isfinite(est.score_samples(X)))
    assert np.all(np.isfinite(est.sample(5, random_state=0, n_steps=10)))


def test_custom_module_instance_and_callable(name, blobs):
    k = ESTIMATORS[name][2]
    module = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, k))
    est = tiny(name, module=module).fit(blobs)
    assert np.all(np.isfinite(est.score_samples(blobs)))
    assert module is not est.net_.module_  # the user's module is not trained in place
    est2 = tiny(name, module=lambda d, k: nn.Sequential(nn.Linear(d, 8), nn.Tanh(),
                                                        nn.Linear(8, k))).fit(blobs)
    assert np.all(np.isfinite(est2.score_samples(blobs)))


def test_module_with_wrong_output_is_rejected(name, blobs):
    k = ESTIMATORS[name][2]
    with pytest.raises(ValueError, match=rf"shape \(n, {k}\)"):
        tiny(name, module=nn.Linear(3, k + 1)).fit(blobs)
    with pytest.raises(TypeError, match="module"):
        tiny(name, module="resnet").fit(blobs)


def test_warm_start_and_partial_fit(name, blobs):
    epochs = ESTIMATORS[name][1]["max_epochs"]
    est = tiny(name, warm_start=True).fit(blobs)
    weights = [p.detach().clone() for p in est.net_.module_.parameters()]
    est.fit(blobs)
    assert est.n_iter_ == 2 * epochs
    assert any(not torch.equal(w, p) for w, p in zip(weights, est.net_.module_.parameters()))
    cold = tiny(name).fit(blobs).fit(blobs)
    assert cold.n_iter_ == epochs


def test_early_stopping_cools_down_from_the_best_weights(name, blobs):
    """After `patience` epochs without improvement: restore the best EMA weights, anneal the
    learning rate to its floor over `patience // 2` epochs, stop."""
    est = tiny(name, max_epochs=300, early_stopping=True, n_iter_no_change=6,
               lr=1e-2).fit(blobs)
    history = est.net_.history
    stopper = dict(est.net_.callbacks_)["early_stopping"]
    best = int(np.argmin(history[:stopper.best_epoch_ + 6, "valid_loss"])) + 1
    assert stopper.best_epoch_ == best
    assert est.n_iter_ == stopper.stop_epoch_ == best + 6 + 3 < 300
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.01)
    assert np.all(np.isfinite(history[:, "valid_nll"]))
    policy = dict(est.net_.callbacks_)["lr_schedule"].lr_lambda
    assert policy.cooldown is not None
    stopper.on_train_begin(est.net_)  # the next fit or partial_fit runs the whole schedule
    assert policy.cooldown is None


def test_early_stopping_auto_needs_enough_rows_and_features(name, blobs):
    assert tiny(name).fit(blobs).net_.train_split is None  # 30 validation rows: off
    big = np.concatenate([blobs] * 4)  # 120 validation rows: on
    est = tiny(name, early_stopping="auto").fit(big)
    assert "valid_nll" in est.net_.history[-1]
    assert tiny(name, early_stopping="auto").fit(blobs).net_.train_split is None
    flat = np.random.RandomState(0).normal(size=(1200, 2))  # 2 features: off
    assert tiny(name, early_stopping="auto", max_epochs=1).fit(flat).net_.train_split is None
    with pytest.raises(ValueError, match="early_stopping"):
        tiny(name, early_stopping="sometimes").fit(blobs)


def test_user_callback_checkpoint(name, blobs, tmp_path):
    est = tiny(name, callbacks=[Checkpoint(monitor="train_loss_best",
                                           dirname=str(tmp_path))]).fit(blobs)
    assert (tmp_path / "params.pt").exists()
    assert est.callbacks[0].dirname == str(tmp_path)


def test_verbose_shows_progress(name, blobs, capsys):
    tiny(name, verbose=1).fit(blobs)
    assert f"{name} fit" in capsys.readouterr().err


def test_non_finite_training_loss_stops_with_clear_error(name, blobs):
    with pytest.raises(FloatingPointError, match="non-finite"):
        tiny(name, lr=1e30, max_epochs=5, standardize=False).fit(blobs * 1e30)


def test_normalize_removes_the_log_normaliser(name):
    X = np.random.RandomState(0).normal(size=(400, 2)) * [1.0, 0.3]
    raw = tiny(name, max_epochs=5).fit(X)
    normed = tiny(name, max_epochs=5, normalize=True).fit(X)
    assert normed.log_normalizer_ != 0.0
    np.testing.assert_allclose(normed.score_samples(X),
                               raw.score_samples(X) - normed.log_normalizer_, rtol=1e-6)
    after = estimate_log_normalizer(normed, X, n_samples=50_000, random_state=1)
    assert abs(after.log_normalizer) < 0.01


def test_auto_normalize_subtracts_a_reliable_estimate(name):
    X = np.random.RandomState(0).normal(size=(400, 2)) * [1.0, 0.3]
    est = tiny(name, max_epochs=5, normalize="auto").fit(X)
    estimate = est.normalizer_estimate_
    assert estimate.effective_sample_size >= 1000
    assert est.log_normalizer_ == estimate.log_normalizer != 0.0
    raw = tiny(name, max_epochs=5).fit(X)
    assert raw.normalizer_estimate_ is None
    np.testing.assert_allclose(est.score_samples(X), raw.score_samples(X) - est.log_normalizer_,
                               rtol=1e-6)


def test_auto_normalize_leaves_an_unreliable_estimate_alone(name, monkeypatch, blobs):
    monkeypatch.setattr(base, "AUTO_NORMALIZE_MIN_ESS", 10**9)
    est = tiny(name, normalize="auto").fit(blobs)
    assert est.normalizer_estimate_ is not None and est.log_normalizer_ == 0.0
    with pytest.warns(UserWarning, match="effective sample size"):
        forced = tiny(name, normalize=True).fit(blobs)
    assert forced.log_normalizer_ == forced.normalizer_estimate_.log_normalizer


def test_auto_normalize_skips_many_features(name):
    X = np.random.RandomState(0).normal(size=(64, base.AUTO_NORMALIZE_MAX_FEATURES + 1))
    est = tiny(name, max_epochs=1, normalize="auto").fit(X)
    assert est.normalizer_estimate_ is None and est.log_normalizer_ == 0.0


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input(name, blobs, fitted_any, bad):
    X = blobs.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        tiny(name).fit(X)
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted_any.score_samples(X)


def test_empty_single_row_and_1d(name, blobs):
    with pytest.raises(ValueError, match="0 sample"):
        tiny(name).fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        tiny(name).fit(blobs[:1])
    with pytest.raises(ValueError, match="2D array"):
        tiny(name).fit(blobs[:, 0])
    with pytest.raises(TypeError, match="[Ss]parse"):
        tiny(name).fit(sp.csr_matrix(blobs))


def test_wrong_number_of_features(fitted_any, blobs):
    with pytest.raises(ValueError, match="features"):
        fitted_any.score_samples(blobs[:, :2])


@pytest.mark.parametrize("method", ["score_samples", "score", "sample"])
def test_unfitted_use(name, method, blobs):
    args = {"score_samples": (blobs,), "score": (blobs,), "sample": (3,)}[method]
    with pytest.raises(NotFittedError):
        getattr(tiny(name), method)(*args)


@pytest.mark.parametrize(
    "param,value,error",
    [("max_epochs", 0, ValueError), ("max_epochs", "many", TypeError),
     ("batch_size", 0, ValueError), ("lr", -1.0, ValueError), ("lr", 0, ValueError),
     ("device", "tpu", ValueError), ("ema_decay", 1.5, ValueError),
     ("validation_fraction", 1.5, ValueError), ("callbacks", "progress", TypeError),
     ("normalize", "yes", ValueError), ("early_stopping", 1.0, ValueError)],
)
def test_bad_parameters_name_themselves(name, blobs, param, value, error):
    with pytest.raises(error, match=param):
        tiny(name, **{param: value}).fit(blobs)


def test_bad_sample_arguments(fitted_any):
    with pytest.raises(ValueError, match="n_samples"):
        fitted_any.sample(0)
    with pytest.raises(ValueError, match="n_steps"):
        fitted_any.sample(3, n_steps=0)


def test_pickle_keeps_every_tensor_in_skorchs_device_mapped_part(fitted_any):
    """skorch unpickles its cuda-dependent attributes with a map_location (a GPU fit loads on
    a CPU-only machine); a tensor pickled anywhere else would need CUDA to load. Measured on
    an H100 before the fix: the module argument and the callbacks (the LR scheduler holds the
    optimiser) carried the weights outside that part."""
    tensors = []

    class Finder(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, torch.Tensor):
                tensors.append(tuple(obj.shape))
            return NotImplemented

    state = fitted_any.net_.__getstate__()
    state.pop("__cuda_dependent_attributes__")
    state.pop("iterator_train__generator")  # the shuffling generator: always on the CPU
    Finder(io.BytesIO()).dump(state)
    assert tensors == []
    assert "callbacks" not in fitted_any.net_.cuda_dependent_attributes_  # not mutated


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_loads_on_cpu(name, blobs, monkeypatch):
    est = tiny(name, device="cuda").fit(blobs)
    assert next(est.net_.ema_module_.parameters()).is_cuda
    scores = est.score_samples(blobs)
    state = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(Warning, match="requested device"):  # skorch's DeviceWarning
        loaded = pickle.loads(state)
    assert loaded.net_.device == "cpu"
    assert not next(loaded.net_.ema_module_.parameters()).is_cuda
    np.testing.assert_allclose(loaded.score_samples(blobs), scores, rtol=1e-4, atol=1e-4)
    assert loaded.sample(3, random_state=0, n_steps=5).shape == (3, 3)
