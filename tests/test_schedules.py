import numpy as np
import pytest

from cdm_estimators.schedules import SCHEDULES, make_schedule


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("T", [1, 10, 1000])
def test_endpoints_and_monotonic(name, T):
    s = make_schedule(name, T)
    assert s.n_classes == T + 2 and s.n_timesteps == T
    assert s.alpha[0] == 1 and s.sigma[0] == 0
    assert s.alpha[-1] == pytest.approx(0, abs=1e-12) and s.sigma[-1] == 1
    assert np.all(np.diff(s.sigma) > 0), "noise must grow with the class index"
    assert np.all(np.diff(s.alpha) < 0)


@pytest.mark.parametrize("name", ["linear", "cosine", "uniform"])
def test_variance_preserving(name):
    assert make_schedule(name, 50).variance_preserving


def test_uniform_and_ot_match_their_definitions():
    u = make_schedule("uniform", 9)
    np.testing.assert_allclose(u.sigma, np.arange(11) / 10)
    ot = make_schedule("ot", 9)
    np.testing.assert_allclose(ot.alpha + ot.sigma, 1.0)
    assert not ot.variance_preserving


def test_linear_matches_ddpm_at_T1000():
    s = make_schedule("linear", 1000)
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(s.alpha[1:-1] ** 2, np.cumprod(1 - betas))


def test_custom_array():
    s = make_schedule(np.array([0.1, 0.5, 0.9]), n_timesteps=999)
    assert s.n_timesteps == 3
    np.testing.assert_allclose(s.sigma, [0, 0.1, 0.5, 0.9, 1])
    np.testing.assert_allclose(s.alpha**2 + s.sigma**2, 1)


@pytest.mark.parametrize("bad", [[0.5, 0.1], [0.0, 0.5], [0.5, 1.0], [[0.1]], [np.nan]])
def test_custom_array_rejected(bad):
    with pytest.raises(ValueError, match="schedule"):
        make_schedule(np.array(bad), 3)


def test_bad_name_and_T():
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_schedule("quadratic", 10)
    with pytest.raises(ValueError, match="n_timesteps"):
        make_schedule("linear", 0)
    with pytest.raises(TypeError, match="n_timesteps"):
        make_schedule("linear", 2.5)


def test_warmup_cosine_cool_down():
    from cdm_estimators.net import WarmupCosine

    policy = WarmupCosine(total_steps=1000, warmup_steps=100)
    assert policy(0) < policy(50) < policy(99) <= 1.0
    assert policy(999) == pytest.approx(0.01, abs=1e-4)
    planned = policy(300)
    policy.cool_down(300, 50)
    assert policy(300) == pytest.approx(planned)
    assert policy(325) == pytest.approx(0.01 + (planned - 0.01) / 2)
    assert policy(350) == policy(900) == pytest.approx(0.01)
    assert policy(200) == pytest.approx(WarmupCosine(1000, 100)(200))  # earlier steps as planned
