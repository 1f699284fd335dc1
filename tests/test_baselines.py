"""What only the baselines have: waymarks, quadratic heads, their objectives and MCMC sampling."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from cdm_estimators import NoiseContrastiveEstimator, TelescopingDensityRatioEstimator
from cdm_estimators.baselines.nce import NCENet
from cdm_estimators.baselines.tre import (
    FULL_HEAD_LIMIT,
    LowRankQuadraticHeads,
    QuadraticHeads,
    TRENet,
    TRENetwork,
    waymark_scales,
)
from cdm_estimators.mcmc import mala


def test_waymark_scales_run_from_data_to_noise():
    a = waymark_scales(5, 2.0)
    assert a[0] == 0 and a[-1] == 1 and np.all(np.diff(a) > 0)
    np.testing.assert_allclose(a, (np.arange(6) / 5) ** 2)


def test_quadratic_heads_compute_quadratic_forms():
    heads = QuadraticHeads(3, 2)
    with torch.no_grad():
        for p in heads.parameters():
            p.normal_()
    u = torch.randn(5, 3)
    out = heads(u)
    k = 1
    expected = (u @ heads.quadratic[k] * u).sum(1) + u @ heads.linear[k] + heads.bias[k]
    torch.testing.assert_close(out[:, k], expected)


def test_low_rank_heads_share_one_projection():
    heads = LowRankQuadraticHeads(4, 3, rank=2)
    with torch.no_grad():
        for p in heads.parameters():
            p.normal_()
    u = torch.randn(6, 4)
    P = heads.forms.projection.weight  # (rank, D)
    w = heads.forms.quadratic.weight  # (heads, rank + D)
    k = 2
    matrix = P.T @ torch.diag(w[k, :2]) @ P
    expected = (u @ matrix * u).sum(1) + u @ w[k, 2:] + heads.bias[k]
    torch.testing.assert_close(heads(u)[:, k], expected)


@pytest.mark.parametrize("rank", [None, 3])
def test_tre_network_starts_at_zero_but_its_body_is_alive(rank):
    net = TRENetwork(2, 4, width=8, n_blocks=1, quadratic_rank=rank)
    x = torch.randn(6, 2)
    assert torch.equal(net(x), torch.zeros(6, 4))
    assert net.body(x).abs().sum() > 0


@pytest.mark.parametrize("n_features,rank,heads", [
    (FULL_HEAD_LIMIT - 4, "auto", QuadraticHeads),
    (FULL_HEAD_LIMIT - 3, "auto", LowRankQuadraticHeads),
    (5, 2, LowRankQuadraticHeads), (FULL_HEAD_LIMIT, "full", QuadraticHeads)])
def test_tre_quadratic_rank_picks_the_heads(n_features, rank, heads):
    """``"auto"`` keeps full heads up to FULL_HEAD_LIMIT inputs (features + 4 learned ones here)."""
    X = np.random.RandomState(0).normal(size=(40, n_features))
    est = TelescopingDensityRatioEstimator(
        n_ratios=2, n_head_features=4, quadratic_rank=rank, hidden_width=8, n_blocks=1,
        max_epochs=1, random_state=0).fit(X)
    assert type(est.net_.module_.heads) is heads
    assert np.all(np.isfinite(est.score_samples(X[:3])))


@pytest.mark.parametrize("rank,error", [(0, ValueError), (-1, ValueError), ("low", ValueError),
                                        (2.5, TypeError), (True, TypeError)])
def test_tre_bad_quadratic_rank_names_itself(rank, error):
    with pytest.raises(error, match="quadratic_rank must be 'auto', 'full' or an int"):
        TelescopingDensityRatioEstimator(quadratic_rank=rank, max_epochs=1).fit(
            np.random.RandomState(0).normal(size=(20, 2)))


class GaussianRatios(torch.nn.Module):
    """Exact TRE log-ratios for x_0 ~ N(0, s^2 I): x_k ~ N(0, ((1 - a_k^2) s^2 + a_k^2) I)."""

    def __init__(self, scales, s):
        super().__init__()
        a = torch.as_tensor(scales, dtype=torch.float64)
        self.var = (1 - a**2) * s**2 + a**2
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        d = x.shape[1]
        logp = (-0.5 * (x.double()[:, None, :] ** 2).sum(-1) / self.var
                - 0.5 * d * torch.log(2 * torch.pi * self.var))
        return (logp[:, :-1] - logp[:, 1:]).float()


def test_tre_objective_is_minimal_at_the_true_ratios():
    """The Bayes-optimal ratios give a lower loss than perturbed ones (on the same noise)."""
    scales = waymark_scales(4, 1.0)
    X = torch.randn(4000, 2) * 0.5
    net = TRENet(GaussianRatios(scales, 0.5), scales=scales).initialize()
    exact = net.objective(net.module_, X, torch.Generator().manual_seed(0), False)["loss"]

    class Perturbed(GaussianRatios):
        def forward(self, x):
            return super().forward(x) * 1.1

    worse = net.objective(Perturbed(scales, 0.5), X, torch.Generator().manual_seed(0), False)
    assert exact < worse["loss"]


def test_nce_objective_is_minimal_at_the_true_logit():
    X = torch.randn(4000, 2) * 0.5

    class Logit(torch.nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):  # log N(x; 0, 0.25 I) - log N(x; 0, I)
            return (self.factor * (-1.5 * (x**2).sum(1) - 2 * np.log(0.5)))[:, None]

    net = NCENet(Logit(1.0)).initialize()
    losses = [net.objective(Logit(f), X, torch.Generator().manual_seed(0), False)["loss"]
              for f in (1.0, 0.8, 1.2)]
    assert losses[0] < losses[1] and losses[0] < losses[2]


@pytest.mark.parametrize("cls", [TelescopingDensityRatioEstimator, NoiseContrastiveEstimator])
def test_short_training_approaches_a_gaussian_truth(cls):
    """On correlated Gaussian data a short run beats the untrained N(0, I) guess by far."""
    rng = np.random.RandomState(0)
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    X = rng.multivariate_normal([1.0, -1.0], cov, size=3000)
    truth = multivariate_normal([1.0, -1.0], cov).logpdf(X).mean()
    params = dict(hidden_width=32, n_blocks=1, max_epochs=40, batch_size=256, lr=3e-3,
                  random_state=0)
    untrained = cls(**{**params, "max_epochs": 1, "lr": 1e-12}).fit(X).score(X)
    trained = cls(**params).fit(X).score(X)
    assert truth - untrained > 0.7  # the correlation is worth 0.83 nats
    assert truth - trained < 0.1


def test_mala_samples_a_bimodal_target():
    """Chains from N(0, 1) reach both modes of an equal two-component mixture at +-2."""
    def log_density(x):
        return torch.logsumexp(torch.stack([-0.5 * ((x - 2) / 0.5) ** 2,
                                            -0.5 * ((x + 2) / 0.5) ** 2]), 0).sum(1)

    x = mala(log_density, torch.randn(4000, 1, generator=torch.Generator().manual_seed(0)),
             n_steps=300, step_size=0.1, generator=torch.Generator().manual_seed(1))
    assert abs(float((x > 0).float().mean()) - 0.5) < 0.05
    assert float(x.abs().mean()) == pytest.approx(2.0, abs=0.05)
    assert float(x.abs().std()) == pytest.approx(0.5, abs=0.05)


def test_tre_sampling_anneals_through_every_waymark(monkeypatch):
    est = TelescopingDensityRatioEstimator(n_ratios=3, hidden_width=8, n_blocks=1,
                                           max_epochs=2, random_state=0)
    est.fit(np.random.RandomState(0).normal(size=(200, 2)))
    seen = []
    original = est._log_density

    def spy(module, z, first_ratio=0):
        seen.append(first_ratio)
        return original(module, z, first_ratio)

    monkeypatch.setattr(est, "_log_density", spy)
    est.sample(5, n_steps=6)
    assert sorted(set(seen)) == [0, 1, 2] and seen[0] == 2 and seen[-1] == 0


@pytest.mark.parametrize("value,error", [(-1, ValueError), ("full", ValueError),
                                         (1.5, TypeError), (True, TypeError)])
def test_nce_quadratic_rank_is_checked(value, error):
    X = np.random.RandomState(0).normal(size=(50, 3))
    with pytest.raises(error, match="quadratic_rank"):
        NoiseContrastiveEstimator(quadratic_rank=value, max_epochs=1).fit(X)


def test_nce_default_network_has_the_quadratic_path():
    est = NoiseContrastiveEstimator()
    assert est._default_module(5).projection.weight.shape == (5, 5)
    assert NoiseContrastiveEstimator(quadratic_rank=0)._default_module(5).projection is None
