"""Telescoping density-ratio estimation (Rhodes, Xu & Gutmann, NeurIPS 2020).

Waymarks bridge the data ``x_0`` and the noise ``y ~ N(0, I)``:
``x_k = sqrt(1 - a_k^2) x_0 + a_k y`` with ``a_k = (k / m)^p``, ``k = 0..m``, so ``x_m = y``.
A classifier per neighbouring pair estimates ``log r_k = log p_k - log p_{k+1}`` with a
logistic loss, and the ratios telescope:
``log p_0(x) = log N(x; 0, I) + sum_k log r_k(x)``. The ratios share one network body and
each has its own quadratic head, as in the paper (or, on wide inputs, a low-rank one).
"""

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..base import NeuralDensityEstimator, check_number
from ..net import DensityNet
from ..networks import AUTO_QUADRATIC_RANK, QuadraticSkip, ResidualMLP
from ..objective import log_std_normal

__all__ = [
    "FULL_HEAD_LIMIT",
    "LowRankQuadraticHeads",
    "QuadraticHeads",
    "TRENet",
    "TRENetwork",
    "TelescopingDensityRatioEstimator",
    "waymark_scales",
]

#: Widest head input (input features plus learned features) that ``quadratic_rank="auto"``
#: gives full quadratic heads; wider inputs get rank ``AUTO_QUADRATIC_RANK``.
FULL_HEAD_LIMIT = 256


def waymark_scales(n_ratios: int, power: float) -> np.ndarray:
    """Noise scales ``a_k = (k / m)^p`` of the ``m + 1`` waymarks, from 0 (data) to 1 (noise).

    Examples
    --------
    >>> waymark_scales(4, 1.0)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    return (np.arange(n_ratios + 1) / n_ratios) ** power


class QuadraticHeads(nn.Module):
    """``n_heads`` quadratic forms of the same features: ``u^T W_k u + b_k^T u + c_k``.

    A quadratic head represents the log-ratio of two Gaussians exactly; the heads start at
    zero, so an untrained TRE model is the standard normal density.

    Parameters
    ----------
    n_features : int
        Dimension of ``u``.
    n_heads : int
        Number of heads (one per ratio).
    """

    def __init__(self, n_features: int, n_heads: int) -> None:
        super().__init__()
        self.quadratic = nn.Parameter(torch.zeros(n_heads, n_features, n_features))
        self.linear = nn.Parameter(torch.zeros(n_heads, n_features))
        self.bias = nn.Parameter(torch.zeros(n_heads))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        quad = torch.einsum("nd,kde,ne->nk", u, self.quadratic, u)
        return quad + u @ self.linear.T + self.bias


class LowRankQuadraticHeads(nn.Module):
    """``n_heads`` quadratic forms that share a projection: ``w_k^T [(P u)^2, u] + c_k``.

    Head ``k`` is ``u^T P^T diag(w_k) P u`` plus a linear term: ``rank * (D + n_heads)``
    quadratic weights instead of the ``n_heads * D^2`` of :class:`QuadraticHeads`. The
    shared ``P`` suits TRE's waymarks: for Gaussian data every waymark's covariance,
    ``(1 - a_k^2) Sigma + a_k^2 I``, has the eigenvectors of ``Sigma``, so at full rank one
    projection serves every ratio exactly. The heads start at zero.

    Parameters
    ----------
    n_features : int
        Dimension ``D`` of ``u``.
    n_heads : int
        Number of heads (one per ratio).
    rank : int
        Rows of the shared projection ``P``.
    """

    def __init__(self, n_features: int, n_heads: int, rank: int) -> None:
        super().__init__()
        self.forms = QuadraticSkip(n_features, n_heads, rank)
        self.bias = nn.Parameter(torch.zeros(n_heads))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.forms(u) + self.bias


class TRENetwork(nn.Module):
    """Shared residual body and one quadratic head per ratio.

    The heads see the input itself next to ``n_head_features`` learned features, so the
    Gaussian part of each ratio needs no learning from the body.

    Parameters
    ----------
    n_features : int
        Input dimension.
    n_ratios : int
        Number of heads ``m``; the output has shape ``(n, m)``: ``log r_k(x)``.
    width : int, default=128
        Hidden width of the body.
    n_blocks : int, default=3
        Residual blocks of the body.
    n_head_features : int, default=16
        Learned features passed to the heads.
    quadratic_rank : int or None, default=None
        None gives every head a full quadratic form (:class:`QuadraticHeads`); an int, heads
        of that rank sharing one projection (:class:`LowRankQuadraticHeads`).

    Examples
    --------
    >>> TRENetwork(3, 5, width=16, n_blocks=1)(torch.zeros(4, 3)).shape
    torch.Size([4, 5])
    >>> TRENetwork(300, 5, width=16, n_blocks=1, quadratic_rank=8)(torch.zeros(4, 300)).shape
    torch.Size([4, 5])
    """

    def __init__(self, n_features: int, n_ratios: int, width: int = 128, n_blocks: int = 3,
                 n_head_features: int = 16, quadratic_rank: int | None = None) -> None:
        super().__init__()
        self.body = ResidualMLP(n_features, n_head_features, width, n_blocks)
        nn.init.normal_(self.body.head[-1].weight, std=width**-0.5)  # live features from step 0
        head_features = n_features + n_head_features
        self.heads: nn.Module = (
            QuadraticHeads(head_features, n_ratios) if quadratic_rank is None
            else LowRankQuadraticHeads(head_features, n_ratios, quadratic_rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.heads(torch.cat([x, self.body(x)], dim=1))


class TRENet(DensityNet):
    """skorch net trained with TRE's summed logistic losses over neighbouring waymarks.

    Parameters
    ----------
    module : nn.Module
        Maps inputs to ``(n, m)`` log-ratios.
    scales : ndarray of shape (m + 1,)
        Waymark noise scales ``a_k``, from 0 to 1.
    **kwargs
        ``ema_decay``, ``seed`` and everything ``skorch.NeuralNet`` accepts.
    """

    loss_parts = ("accuracy",)

    def __init__(self, module, *args, scales=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.scales = scales

    def objective(self, module, X, generator, training):
        """``sum_k [softplus(-log r_k(x_k)) + softplus(log r_k(x_{k+1}))]``, averaged over rows.

        All waymarks of a row share its ``x_0`` and ``y`` (the paper's linear-combination
        waymarks), so neighbouring waymarks are close and each ratio is easy to learn.
        """
        a = torch.as_tensor(np.asarray(self.scales), dtype=X.dtype, device=X.device)
        m = len(a) - 1
        y = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)
        shape = (-1,) + (1,) * X.ndim
        waymarks = torch.sqrt(1 - a**2).view(shape) * X + a.view(shape) * y  # (m+1, n, ...)
        out = module(waymarks.flatten(0, 1)).view(m + 1, len(X), m)
        k = torch.arange(m, device=X.device)
        numerator = out[k, :, k]  # log r_k at x_k, shape (m, n)
        denominator = out[k + 1, :, k]  # log r_k at x_{k+1}
        loss = (F.softplus(-numerator) + F.softplus(denominator)).sum(0).mean()
        accuracy = torch.cat([numerator > 0, denominator <= 0]).float().mean()
        return {"loss": loss, "accuracy": accuracy.detach()}

    def log_density(self, module, X, first_ratio=0):
        """``log p_k(x) = log N(x; 0, I) + sum_{j >= k} log r_j(x)``, ``k = first_ratio``."""
        return module(X).double()[:, first_ratio:].sum(1) + log_std_normal(X.double())


class TelescopingDensityRatioEstimator(NeuralDensityEstimator):
    """Density estimation by telescoping density-ratio estimation (TRE).

    TRE (Rhodes, Xu & Gutmann, NeurIPS 2020) crosses the density chasm between the data and
    ``N(0, I)`` in ``m`` small steps. Waymarks ``x_k = sqrt(1 - a_k^2) x_0 + a_k y`` with
    ``a_k = (k / m)^p`` and ``y ~ N(0, I)`` run from the standardised data (``k = 0``) to pure
    noise (``k = m``); a logistic classifier per neighbouring pair learns
    ``log r_k = log p_k - log p_{k+1}``, and
    ``log p(x) = log N(x; 0, I) + sum_k log r_k(x)``. The ratios share one network body with a
    quadratic head each (:class:`TRENetwork`).

    Parameters
    ----------
    n_ratios : int, default=10
        Number ``m`` of ratios (``m + 1`` waymarks).
    waymark_power : float, default=1.0
        Exponent ``p`` of the waymark spacing ``a_k = (k / m)^p``; larger values put more
        waymarks near the data.
    n_head_features : int, default=16
        Learned features the quadratic heads see next to the input.
    quadratic_rank : "auto", "full" or int, default="auto"
        The heads' quadratic forms over their ``D = n_features + n_head_features`` inputs:
        ``"full"`` gives each ratio its own ``D x D`` matrix (the paper's heads,
        :class:`QuadraticHeads`); an int ``r >= 1``, rank-``r`` forms sharing one projection
        (:class:`LowRankQuadraticHeads`), ``r * (D + n_ratios)`` quadratic weights instead
        of ``n_ratios * D^2``; ``"auto"`` is ``"full"`` up to ``D = 256`` and rank 64 beyond
        (full heads hold 655,000 weights at ``D = 256`` with 10 ratios, 25 million for a
        table of 1,500 features, and cost each step time in proportion).
    module : nn.Module, callable or None, default=None
        The network, mapping ``(n, n_features)`` to ``(n, n_ratios)`` log-ratios. ``None``
        builds a :class:`TRENetwork`; a callable is called as ``module(n_features, n_ratios)``;
        an instance is deep-copied at ``fit``.
    hidden_width : int, default=128
        Width of the default network's body.
    n_blocks : int, default=3
        Residual blocks of the default network's body.
    max_epochs : int or "auto", default="auto"
        Training epochs; ``"auto"`` aims for 4,000 optimiser steps. Each step processes
        ``n_ratios + 1`` waymarks per row, so this costs about as much CPU time as the CDM's
        12,000 steps with double backpropagation.
    batch_size : int, default=512
        Data rows per batch (each expanded into ``n_ratios + 1`` waymarks).
    lr : float, default=1e-3
        Peak AdamW learning rate (linear warm-up, cosine decay).
    warmup_fraction : float, default=0.05
        Fraction of the steps spent warming up.
    weight_decay : float, default=0.0
        AdamW weight decay.
    ema_decay : float, default=0.999
        Decay of the weight EMA used for scoring and sampling.
    standardize : bool, default=True
        Standardise each feature before training; scores include the log-Jacobian.
    normalize : "auto" or bool, default="auto"
        Subtract an importance-sampling estimate of ``log Z``
        (:func:`~cdm_estimators.estimate_log_normalizer`) in ``score_samples``: ``"auto"``
        does so with at most 50 features and an effective sample size of 1,000 or more,
        ``True`` always, ``False`` never. A sum of ``m`` learned ratios need not integrate to
        one, least of all in many dimensions. The estimate is kept in ``normalizer_estimate_``.
    early_stopping : "auto" or bool, default="auto"
        The CDM's rule (see :class:`~cdm_estimators.ClassificationDensityEstimator`) on the
        sum of the pairwise logistic losses over the held-out rows (without it TRE, too, can
        memorise a few thousand rows in 10-D). ``"auto"`` turns it
        on from 3 features when the validation split has at least 100 rows.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping.
    n_iter_no_change : int, default=250
        Patience of early stopping, in epochs (the cool-down lasts half as long).
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks, copied at ``fit``.
    inference_batch_size : int or None, default=None
        Rows per forward pass when scoring and sampling (``None``: ``8 * batch_size``).
    warm_start : bool, default=False
        When True, ``fit`` on a fitted estimator continues from the current weights and their
        EMA, with every other current parameter honoured as in a new fit (optimiser,
        learning-rate schedule, ``max_epochs``, ``batch_size``, ``callbacks``, early stopping
        on this ``X``, normalisation). The network-defining parameters cannot change. See
        :meth:`fit`; :meth:`partial_fit` is one epoch at a constant learning rate.
    device : str, default="auto"
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the waymark noise and (unless given its own)
        sampling.
    verbose : int, default=0
        1 shows a progress bar, 2 also skorch's epoch table.

    Attributes
    ----------
    net_ : TRENet
        The trained skorch net (``net_.history`` records ``train_accuracy``, the mean accuracy
        of the pairwise classifiers).
    waymark_scales_ : ndarray of shape (n_ratios + 1,)
        The noise scales ``a_k``.
    mean_, scale_ : ndarray of shape (n_features,)
        The internal standardisation.
    n_iter_ : int
        Epochs the network has been trained, over all the fits that continued it.
    log_normalizer_ : float
        The ``log Z`` subtracted by ``score_samples`` (0.0 when none was).
    normalizer_estimate_ : LogNormalizerEstimate or None
        The importance-sampling estimate (``log_normalizer``, ``standard_error``,
        ``effective_sample_size``), or None when ``normalize`` did not estimate one.
    device_ : str
        Device used.
    n_features_in_ : int
        Number of features seen during ``fit``.

    See Also
    --------
    NoiseContrastiveEstimator : A single ratio (m = 1 without waymarks).
    ClassificationDensityEstimator : One classifier over all noise levels.

    Notes
    -----
    ``score`` is the mean log-likelihood per row. The density is not normalised by
    construction; check it with :func:`~cdm_estimators.estimate_log_normalizer`.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from cdm_estimators import TelescopingDensityRatioEstimator
    >>> X, _ = make_moons(500, noise=0.1, random_state=0)
    >>> est = TelescopingDensityRatioEstimator(n_ratios=4, hidden_width=32, n_blocks=1,
    ...                                        max_epochs=5, random_state=0).fit(X)
    >>> est.score_samples(X[:3]).shape
    (3,)
    >>> est.sample(4, random_state=0, n_steps=20).shape
    (4, 2)
    """

    _auto_steps = 4_000
    _network_params = NeuralDensityEstimator._network_params + ("n_ratios", "n_head_features",
                                                                "quadratic_rank")
    _net_class = TRENet
    _fit_label = "TRE fit"
    _outputs_doc = "n_ratios log-ratios"

    def __init__(
        self,
        n_ratios=10,
        waymark_power=1.0,
        *,
        n_head_features=16,
        quadratic_rank="auto",
        module=None,
        hidden_width=128,
        n_blocks=3,
        max_epochs="auto",
        batch_size=512,
        lr=1e-3,
        warmup_fraction=0.05,
        weight_decay=0.0,
        ema_decay=0.999,
        standardize=True,
        normalize="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=250,
        callbacks=None,
        inference_batch_size=None,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_ratios = n_ratios
        self.waymark_power = waymark_power
        self.n_head_features = n_head_features
        self.quadratic_rank = quadratic_rank
        self.module = module
        self.hidden_width = hidden_width
        self.n_blocks = n_blocks
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.warmup_fraction = warmup_fraction
        self.weight_decay = weight_decay
        self.ema_decay = ema_decay
        self.standardize = standardize
        self.normalize = normalize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.inference_batch_size = inference_batch_size
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_model_params(self):
        check_number("n_ratios", self.n_ratios, 1, integer=True)
        check_number("waymark_power", self.waymark_power, 0, low_open=True)
        check_number("n_head_features", self.n_head_features, 0, integer=True)
        rank = self.quadratic_rank
        if isinstance(rank, str) and rank in ("auto", "full"):
            return
        message = f"quadratic_rank must be 'auto', 'full' or an int >= 1; got {rank!r}."
        if isinstance(rank, bool) or not isinstance(rank, (str, numbers.Integral)):
            raise TypeError(message)  # as the CDM's and NCE's quadratic_rank
        if isinstance(rank, str) or rank < 1:
            raise ValueError(message)

    def _prepare_fit(self, X):
        self.waymark_scales_ = waymark_scales(self.n_ratios, self.waymark_power)

    def _n_outputs(self):
        return self.n_ratios

    def _default_module(self, n_features):
        return TRENetwork(n_features, self.n_ratios, self.hidden_width, self.n_blocks,
                          self.n_head_features, self._head_rank(n_features))

    def _head_rank(self, n_features):
        """The default network's head rank: None for full heads (see ``quadratic_rank``)."""
        if self.quadratic_rank == "full" or (
                self.quadratic_rank == "auto"
                and n_features + self.n_head_features <= FULL_HEAD_LIMIT):
            return None
        if self.quadratic_rank == "auto":
            return AUTO_QUADRATIC_RANK
        return int(self.quadratic_rank)

    def _net_params(self):
        return {"scales": self.waymark_scales_}

    def _log_density(self, module, z, first_ratio=0):
        return self.net_.log_density(module, z, first_ratio)

    def sample(self, n_samples=1, random_state=None, n_steps=1000, step_size=0.1):
        """Approximate samples by annealed MALA through the waymark densities.

        The ratios give every waymark's density, ``log p_k = log N + sum_{j >= k} log r_j``.
        Chains start from ``N(0, I)`` (exact for ``p_m``) and run ``n_steps / n_ratios``
        Metropolis-adjusted Langevin steps on each ``p_k`` in turn, down to the data density
        ``p_0``. TRE has no denoiser, so this is the natural sampler; it is approximate
        (finite chains).

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            ``None`` falls back to the estimator's ``random_state``.
        n_steps : int, default=1000
            MALA steps per chain, over all waymarks.
        step_size : float, default=0.1
            Initial Langevin step size (in standardised units squared).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), in the user's units.
        """
        check_is_fitted(self)
        levels = [
            lambda module, z, k=k: self._log_density(module, z, first_ratio=k)
            for k in range(len(self.waymark_scales_) - 2, -1, -1)
        ]
        return self._mcmc_sample(n_samples, random_state, n_steps, step_size, levels=levels)
