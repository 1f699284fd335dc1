"""What ``warm_start`` and ``partial_fit`` promise, for every estimator of the library.

``fit`` with ``warm_start=True`` continues from the current weights with the *current*
parameters; ``partial_fit`` is one epoch at a constant learning rate whose optimiser state
carries over, like ``MLPClassifier.partial_fit``.
"""

import math

import numpy as np
import pytest
import torch
from conftest import ESTIMATORS, tiny
from skorch.callbacks import Callback

NAMES = list(ESTIMATORS)


class EpochCounter(Callback):
    def initialize(self):
        self.epochs_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1


def _weights(est):
    return [p.detach().clone() for p in est.net_.module_.parameters()]


@pytest.fixture(scope="module", params=NAMES)
def name(request):
    return request.param


def test_warm_start_continues_from_the_current_weights(name, blobs):
    est = tiny(name, max_epochs=5).fit(blobs)
    before = _weights(est)
    # A learning rate of 1e-12 barely moves the weights: the network is continued, not rebuilt.
    est.set_params(warm_start=True, lr=1e-12, max_epochs=1).fit(blobs)
    for w, p in zip(before, est.net_.module_.parameters()):
        torch.testing.assert_close(w, p.detach(), rtol=0, atol=1e-8)
    # ... and a cold fit with the same parameters starts again from a new initialisation.
    est.set_params(warm_start=False, lr=1e-12).fit(blobs)
    assert any(not torch.allclose(w, p.detach(), atol=1e-3)
               for w, p in zip(before, est.net_.module_.parameters()))


def test_warm_start_honours_the_current_parameters(name, blobs):
    est = tiny(name, max_epochs=3, batch_size=64, lr=1e-3).fit(blobs)
    counter = EpochCounter()
    est.set_params(warm_start=True, max_epochs=2, batch_size=32, lr=0.05,
                   callbacks=[counter]).fit(blobs)
    assert est.n_iter_ == 3 + 2 and len(est.net_.history) == 5  # the history continues
    assert len(est.net_.history[-1, "batches"]) == math.ceil(len(blobs) / 32)
    assert est.net_.optimizer_.param_groups[0]["initial_lr"] == 0.05  # peak of the schedule
    user = dict(est.net_.callbacks_)["user_0"]
    assert user.epochs_ == 2  # the callbacks given now run (a copy of them)


def test_warm_start_checks_the_parameters(name, blobs):
    est = tiny(name, warm_start=True).fit(blobs)
    with pytest.raises(ValueError, match="lr"):
        est.set_params(lr=-1.0).fit(blobs)
    with pytest.raises(ValueError, match="batch_size"):
        est.set_params(lr=1e-3, batch_size=0).fit(blobs)


@pytest.mark.parametrize("param,value", [("hidden_width", 32), ("n_blocks", 2),
                                         ("standardize", False)])
def test_warm_start_cannot_change_the_network(name, blobs, param, value):
    est = tiny(name, warm_start=True).fit(blobs)
    with pytest.raises(ValueError, match=rf"{param} cannot change.*warm_start=False"):
        est.set_params(**{param: value}).fit(blobs)
    with pytest.raises(ValueError, match=param):
        est.partial_fit(blobs)


def test_warm_start_cannot_change_the_number_of_cdm_classes(blobs):
    est = tiny("CDM", warm_start=True).fit(blobs)
    with pytest.raises(ValueError, match="number of network outputs"):
        est.set_params(n_timesteps=7).fit(blobs)
    # Another schedule with the same number of classes is a legitimate continuation.
    est.set_params(n_timesteps=4, schedule="linear").fit(blobs)
    np.testing.assert_array_equal(est.net_.alpha, est.schedule_.alpha)


def test_warm_start_validates_on_the_data_it_is_given(name, blobs):
    rng = np.random.RandomState(1)
    first = np.concatenate([blobs] * 4)
    second = first + rng.normal(scale=0.01, size=first.shape)
    est = tiny(name, early_stopping=True, warm_start=True).fit(first).fit(second)
    _, valid = est.net_.get_split_datasets(np.zeros((1, 3), dtype=np.float32))
    held_out = np.asarray(valid.X)
    model_rows = est._to_model_space(second)
    assert len(held_out) == round(0.1 * len(second))
    assert all(np.any(np.all(np.isclose(model_rows, row, atol=1e-6), axis=1))
               for row in held_out[:20])
    assert not any(np.any(np.all(np.isclose(est._to_model_space(first), row, atol=1e-6), axis=1))
                   for row in held_out[:20])


def test_partial_fit_is_one_pass_at_the_constant_learning_rate(name, blobs):
    est = tiny(name, max_epochs=4, early_stopping=True).fit(np.concatenate([blobs] * 4))
    steps = float(est.net_.optimizer_.state_dict()["state"][0]["step"])
    batch = blobs[:100]
    est.partial_fit(batch)
    assert est.n_iter_ == 5  # one epoch more
    last = est.net_.history[-1]
    assert len(last["batches"]) == math.ceil(100 / 64)
    assert "valid_loss" not in last  # nothing is held out in partial_fit
    assert est.net_.optimizer_.param_groups[0]["lr"] == est._learning_rate()  # constant
    # The optimiser state (Adam's moments and step count) carries over.
    assert est.net_.optimizer_.state_dict()["state"][0]["step"] == steps + 2


def test_partial_fit_from_scratch_and_reproducibly(name, blobs):
    a, b = tiny(name), tiny(name)
    for rows in np.array_split(np.arange(len(blobs)), 3):
        a.partial_fit(blobs[rows])
        b.partial_fit(blobs[rows])
    assert a.n_iter_ == 3
    np.testing.assert_allclose(a.mean_, blobs[:100].mean(0))  # set by the first call
    np.testing.assert_array_equal(a.score_samples(blobs), b.score_samples(blobs))


def test_partial_fit_drops_a_stale_normaliser_until_renormalize(name):
    X = np.random.RandomState(0).normal(size=(400, 2)) * [1.0, 0.3]
    est = tiny(name, max_epochs=5, normalize=True).fit(X)
    assert est.log_normalizer_ != 0.0
    est.partial_fit(X[:50])
    assert est.log_normalizer_ == 0.0 and est.normalizer_estimate_ is None
    raw = est.score_samples(X)
    est.renormalize(X)
    assert est.log_normalizer_ == est.normalizer_estimate_.log_normalizer != 0.0
    np.testing.assert_allclose(est.score_samples(X), raw - est.log_normalizer_, rtol=1e-6)


@pytest.mark.slow
def test_partial_fit_on_a_stream_learns(name):
    """Two far-apart clusters: many one-epoch calls must beat the untrained N(0, I) fit."""
    rng = np.random.RandomState(0)

    def draw(n):
        return rng.normal(size=(n, 2)) * 0.3 + rng.choice([-2.0, 2.0], size=(n, 1))

    X_test = draw(1000)
    est = tiny(name, ema_decay=0.9, lr=1e-2, hidden_width=32)
    est.partial_fit(draw(200))
    first = est.score(X_test)
    for _ in range(60):
        est.partial_fit(draw(200))
    assert est.score(X_test) > first + 0.3, (first, est.score(X_test))
