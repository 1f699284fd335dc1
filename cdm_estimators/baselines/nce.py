"""Noise-contrastive estimation (Gutmann & Hyvärinen, 2010) against a standard normal.

One logistic classifier separates the (standardised) data from ``N(0, I)`` noise; its logit
estimates ``log p(x) - log(nu N(x; 0, I))``. When the data and the noise are far apart the
classifier separates them with little effort and learns a poor ratio: the "density chasm" that
telescoping estimators (TRE) and CDMs are built to cross.
"""

import math

import torch
import torch.nn.functional as F

from ..base import NeuralDensityEstimator, check_number
from ..net import DensityNet
from ..networks import ResidualMLP, check_quadratic_rank, resolve_quadratic_rank
from ..objective import log_std_normal

__all__ = ["NCENet", "NoiseContrastiveEstimator"]


class NCENet(DensityNet):
    """skorch net trained with the NCE logistic loss against ``noise_ratio`` noise draws per
    data row.

    Parameters
    ----------
    module : nn.Module
        Maps inputs to one logit per row, shape ``(n, 1)``.
    noise_ratio : int
        Noise draws per data row (``nu``).
    **kwargs
        ``ema_decay``, ``seed`` and everything ``skorch.NeuralNet`` accepts.
    """

    loss_parts = ("accuracy",)

    def __init__(self, module, *args, noise_ratio=1, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.noise_ratio = noise_ratio

    def objective(self, module, X, generator, training):
        """Per data row: ``softplus(-h(x)) + sum over nu noise rows of softplus(h(y))``."""
        n, nu = len(X), self.noise_ratio
        noise = torch.randn((n * nu, *X.shape[1:]), generator=generator, device=X.device)
        logits = module(torch.cat([X, noise]))[:, 0]
        data, fake = logits[:n], logits[n:]
        loss = F.softplus(-data).mean() + nu * F.softplus(fake).mean()
        accuracy = torch.cat([data > 0, fake <= 0]).float().mean()
        return {"loss": loss, "accuracy": accuracy.detach()}

    def log_density(self, module, X):
        """``log p(x) = h(x) + log nu + log N(x; 0, I)``."""
        return (module(X)[:, 0].double() + math.log(self.noise_ratio)
                + log_std_normal(X.double()))


class NoiseContrastiveEstimator(NeuralDensityEstimator):
    """Density estimation by noise-contrastive estimation (NCE) against ``N(0, I)``.

    A classifier ``h`` learns to tell the standardised data from standard normal noise; with
    ``nu`` noise draws per data row the optimal logit is ``log p(x) - log(nu N(x; 0, I))``, so
    ``log p(x) = h(x) + log nu + log N(x; 0, I)``. The classic single-ratio baseline: accurate
    when data and noise overlap, poor when they do not (the density chasm), which is what
    :class:`~cdm_estimators.TelescopingDensityRatioEstimator` and
    :class:`~cdm_estimators.ClassificationDensityEstimator` improve on.

    Parameters
    ----------
    noise_ratio : int, default=1
        Noise draws per data row (``nu``).
    module : nn.Module, callable or None, default=None
        The classifier, mapping ``(n, n_features)`` to ``(n, 1)`` logits. ``None`` builds a
        :class:`~cdm_estimators.networks.ResidualMLP` of ``hidden_width`` and ``n_blocks``; a
        callable is called as ``module(n_features, 1)``; an instance is deep-copied at ``fit``.
    hidden_width : int, default=128
        Width of the default network.
    n_blocks : int, default=3
        Residual blocks of the default network.
    quadratic_rank : int or "auto", default="auto"
        Rank of the default network's quadratic skip path, as for the CDM (the optimal logit
        against ``N(0, I)`` is quadratic for Gaussian data); 0 leaves it out.
    max_epochs : int or "auto", default="auto"
        Training epochs; ``"auto"`` aims for 12,000 optimiser steps, as the CDM does.
    batch_size : int, default=512
        Data rows per batch (each with ``noise_ratio`` noise rows).
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
        Subtract an importance-sampling estimate of ``log Z`` in ``score_samples``
        (:func:`~cdm_estimators.estimate_log_normalizer`). ``"auto"``: with up to 50 features,
        when the estimate's effective sample size is at least 1,000; ``True``: always (warning
        when that ESS is small); ``False``: never. NCE's density integrates to one only at the
        optimum of its loss; far from it the correction matters. Kept in ``normalizer_estimate_``;
        details under :class:`~cdm_estimators.ClassificationDensityEstimator`.
    early_stopping : "auto" or bool, default="auto"
        Stop on the validation logistic loss of the EMA weights (``valid_loss``) after
        ``n_iter_no_change`` epochs without improvement: restore the best weights, anneal the
        learning rate over half the patience, stop. ``"auto"``: on from 3 features when the
        split has at least 100 rows. The rule and its measurements are described under
        :class:`~cdm_estimators.ClassificationDensityEstimator`.
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
        Seeds initialisation, shuffling, the noise and (unless given its own) sampling.
    verbose : int, default=0
        1 shows a progress bar, 2 also skorch's epoch table.

    Attributes
    ----------
    net_ : NCENet
        The trained skorch net (``net_.history`` records ``train_accuracy``).
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
    TelescopingDensityRatioEstimator : Many ratios across the chasm.
    ClassificationDensityEstimator : One classifier over all noise levels.

    Notes
    -----
    ``score`` is the mean log-likelihood per row. The density is not normalised by
    construction; check it with :func:`~cdm_estimators.estimate_log_normalizer`.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from cdm_estimators import NoiseContrastiveEstimator
    >>> X, _ = make_moons(500, noise=0.1, random_state=0)
    >>> est = NoiseContrastiveEstimator(hidden_width=32, n_blocks=1, max_epochs=5,
    ...                                 random_state=0).fit(X)
    >>> est.score_samples(X[:3]).shape
    (3,)
    >>> est.sample(4, random_state=0, n_steps=20).shape
    (4, 2)
    """

    _network_params = NeuralDensityEstimator._network_params + ("quadratic_rank",)
    _net_class = NCENet
    _fit_label = "NCE fit"
    _outputs_doc = "one logit"

    def __init__(
        self,
        noise_ratio=1,
        *,
        module=None,
        hidden_width=128,
        n_blocks=3,
        quadratic_rank="auto",
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
        self.noise_ratio = noise_ratio
        self.module = module
        self.hidden_width = hidden_width
        self.n_blocks = n_blocks
        self.quadratic_rank = quadratic_rank
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
        check_number("noise_ratio", self.noise_ratio, 1, integer=True)
        check_quadratic_rank(self.quadratic_rank)

    def _n_outputs(self):
        return 1

    def _default_module(self, n_features):
        return ResidualMLP(n_features, 1, self.hidden_width, self.n_blocks,
                           resolve_quadratic_rank(self.quadratic_rank, n_features))

    def _net_params(self):
        return {"noise_ratio": self.noise_ratio}

    def _log_density(self, module, z):
        return self.net_.log_density(module, z)

    def sample(self, n_samples=1, random_state=None, n_steps=1000, step_size=0.1):
        """Approximate samples by MALA on the learned log-density.

        NCE gives an unnormalised density and no denoiser, so sampling is Markov chain Monte
        Carlo: ``n_steps`` Metropolis-adjusted Langevin steps per chain, started from
        ``N(0, I)`` in the standardised space, with the step size adapted during the first
        half. Chains may miss modes they do not reach; the samples are approximate.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            ``None`` falls back to the estimator's ``random_state``.
        n_steps : int, default=1000
            MALA steps per chain.
        step_size : float, default=0.1
            Initial Langevin step size (in standardised units squared).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), in the user's units.
        """
        return self._mcmc_sample(n_samples, random_state, n_steps, step_size)
