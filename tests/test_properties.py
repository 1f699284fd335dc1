"""Property-based tests (hypothesis) on one fitted estimator."""

import numpy as np
import pytest
from conftest import tiny_estimator
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@pytest.fixture(scope="module")
def data():
    return np.random.RandomState(1).normal(size=(200, 2)) * [3.0, 0.5] + [10.0, -2.0]


@pytest.fixture(scope="module")
def est(data):
    return tiny_estimator(max_epochs=10).fit(data)


@settings(deadline=None, max_examples=40)
@given(X=arrays(np.float64, st.tuples(st.integers(1, 30), st.just(2)), elements=FINITE))
def test_shapes_and_finiteness(est, X):
    scores = est.score_samples(X)
    assert scores.shape == (len(X),)
    assert np.all(np.isfinite(scores))


@settings(deadline=None, max_examples=30)
@given(X=arrays(np.float64, st.tuples(st.integers(2, 30), st.just(2)), elements=FINITE),
       seed=st.integers(0, 2**16))
def test_row_order_invariance(est, X, seed):
    perm = np.random.RandomState(seed).permutation(len(X))
    np.testing.assert_allclose(est.score_samples(X)[perm], est.score_samples(X[perm]),
                               rtol=1e-6, atol=1e-6)


@settings(deadline=None, max_examples=4)
@given(shift=arrays(np.float64, 2, elements=st.floats(-50, 50)),
       scale=arrays(np.float64, 2, elements=st.floats(0.05, 20)))
def test_affine_change_of_units_shifts_log_density_by_log_jacobian(data, est, shift, scale):
    """Standardisation makes the fit unit-free: p_Y(a x + b) = p_X(x) / prod(a)."""
    moved = tiny_estimator(max_epochs=10).fit(data * scale + shift)
    np.testing.assert_allclose(
        moved.score_samples(data[:20] * scale + shift),
        est.score_samples(data[:20]) - np.log(scale).sum(),
        rtol=1e-4, atol=1e-4,
    )
