"""``ClassificationDensityEstimator``: the scikit-learn face of a Classification Diffusion Model."""

import copy
import math
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, LRScheduler, PassthroughScoring
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from .callbacks import EpochProgressBar
from .net import ArrayBatchLoader, CDMNet, WarmupCosine
from .networks import ResidualMLP, check_module_output
from .normalizer import estimate_log_normalizer
from .objective import classifier_logits, log_density_from_logits, predict_noise
from .samplers import SAMPLERS, run_sampler, sample_steps
from .schedules import make_schedule

__all__ = ["ClassificationDensityEstimator", "AUTO_STEPS"]

#: Optimiser steps that ``max_epochs="auto"`` aims for (see benchmarks/results/defaults.md).
AUTO_STEPS = 12_000


def _resolve_device(device):
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
        ) from exc
    return device


def _check_number(name, value, low, high=None, integer=False, low_open=False):
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}; got {value!r}.")
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        bounds = f"{'>' if low_open else '>='} {low}"
        if high is not None:
            bounds += f" and <= {high}"
        raise ValueError(f"{name} must be {bounds}; got {value!r}.")


class ClassificationDensityEstimator(DensityMixin, BaseEstimator):
    """Density estimation with a Classification Diffusion Model (CDM).

    A CDM (Yadin, Elata & Michaeli, NeurIPS 2024) trains one classifier to predict the noise
    level ``t`` of a diffused sample ``x_t = alpha_t x_0 + sigma_t eps`` over ``T + 2`` classes
    (clean data, ``T`` noise levels, pure noise). Its logits give the exact log-density in one
    forward pass (Theorem 3.2) and its input-gradient is the MMSE denoiser (Theorem 3.1), so the
    same model scores, denoises and samples. Training runs through a skorch ``NeuralNet``
    (:class:`~cdm_estimators.net.CDMNet`); scoring and sampling use an exponential moving average
    of the weights.

    Parameters
    ----------
    schedule : {"uniform", "linear", "cosine", "ot"} or array-like, default="uniform"
        Noise schedule: ``"uniform"`` (TRE's ``sigma_t = t / (T + 1)``, the best likelihoods),
        ``"linear"`` (DDPM), ``"cosine"`` (improved DDPM), ``"ot"`` (flow matching,
        ``x_t = (1 - s) x_0 + s eps``), or an increasing array of noise levels in (0, 1).
    n_timesteps : int, default=100
        Number ``T`` of intermediate noise levels (ignored when ``schedule`` is an array).
    module : nn.Module, callable or None, default=None
        The classifier. ``None`` builds a :class:`~cdm_estimators.networks.ResidualMLP` of
        ``hidden_width`` and ``n_blocks``. A module instance is deep-copied at ``fit``; a callable
        is called as ``module(n_features, n_classes)``. Either must map ``(n, n_features)`` inputs
        to ``(n, n_timesteps + 2)`` raw outputs; the fixed cumulative-sum head is applied on top.
    hidden_width : int, default=128
        Width of the default network.
    n_blocks : int, default=3
        Residual blocks of the default network.
    ce_weight : float, default=1.0
        Weight of the cross-entropy term in ``ce_weight * CE + MSE``.
    max_epochs : int or "auto", default="auto"
        Training epochs. ``"auto"`` runs enough epochs for about ``AUTO_STEPS`` (12,000) optimiser
        steps, whatever the data size.
    batch_size : int, default=512
        Training batch size (capped at the number of training rows).
    lr : float, default=1e-3
        Peak Adam learning rate, reached after a linear warm-up and followed by cosine decay.
    warmup_fraction : float, default=0.05
        Fraction of the optimiser steps spent warming up the learning rate.
    weight_decay : float, default=0.0
        AdamW weight decay.
    ema_decay : float, default=0.999
        Decay of the weight EMA used for scoring and sampling (ramped up over the first steps).
    standardize : bool, default=True
        Standardise each feature before training. Densities, samples and denoised points are
        always in the user's units: ``score_samples`` adds the log-Jacobian.
    normalize : bool, default=False
        After training, estimate the log-normaliser ``log Z`` of the learned density by
        importance sampling around the training data (:func:`estimate_log_normalizer`,
        100,000 draws) and subtract it in ``score_samples`` at ``timestep=0``. A CDM's ``log Z``
        varies by a few hundredths of a nat between seeds; this removes it. Reliable in low
        dimensions only: a warning is raised when the estimate's effective sample size is
        small.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when the validation objective
        (of the EMA weights, on fixed noise) has not improved for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
        Fraction held out when ``early_stopping`` is True.
    n_iter_no_change : int, default=50
        Patience of early stopping, in epochs.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (for example ``skorch.callbacks.Checkpoint``), copied at ``fit``.
    inference_batch_size : int or None, default=None
        Rows per forward pass in ``score_samples``, ``denoise`` and ``sample``; ``None`` uses
        ``8 * batch_size``. Results do not depend on it.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted estimator continues training the same network (with a
        fresh LR schedule) instead of starting over.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Controls weight initialisation, shuffling, the noise and noise levels drawn in
        training, the validation split and, unless ``sample`` is given its own, sampling. The
        same value gives the same fit, scores and samples on the same device.
    verbose : int, default=0
        0 is silent, 1 shows a progress bar over epochs, 2 also prints skorch's epoch table.

    Attributes
    ----------
    net_ : CDMNet
        The trained skorch net; ``net_.history`` holds the losses, ``net_.ema_module_`` the
        averaged weights.
    schedule_ : NoiseSchedule
        The schedule's signal and noise scales.
    mean_ : ndarray of shape (n_features_in_,)
        Per-feature offset of the internal standardisation (zeros if ``standardize=False``).
    scale_ : ndarray of shape (n_features_in_,)
        Per-feature scale of the internal standardisation (1 for constant features).
    n_iter_ : int
        Epochs run.
    log_normalizer_ : float
        The ``log Z`` subtracted by ``score_samples`` (0.0 unless ``normalize=True``).
    device_ : str
        Device used.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    sklearn.neighbors.KernelDensity : Kernel density estimation.
    sklearn.mixture.GaussianMixture : Gaussian mixture density.

    Notes
    -----
    ``score`` returns the MEAN log-likelihood per row, like ``GaussianMixture.score`` and unlike
    ``KernelDensity.score`` (the total). A CDM density is not guaranteed to integrate to one:
    check it with :func:`~cdm_estimators.estimate_log_normalizer`. A high likelihood does not
    prove that a point is in-distribution.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from cdm_estimators import ClassificationDensityEstimator
    >>> X, _ = make_moons(500, noise=0.1, random_state=0)
    >>> est = ClassificationDensityEstimator(n_timesteps=10, hidden_width=32, n_blocks=1,
    ...                                      max_epochs=5, random_state=0).fit(X)
    >>> est.score_samples(X[:3]).shape
    (3,)
    >>> est.sample(4, random_state=0).shape
    (4, 2)
    """

    def __init__(
        self,
        schedule="uniform",
        n_timesteps=100,
        *,
        module=None,
        hidden_width=128,
        n_blocks=3,
        ce_weight=1.0,
        max_epochs="auto",
        batch_size=512,
        lr=1e-3,
        warmup_fraction=0.05,
        weight_decay=0.0,
        ema_decay=0.999,
        standardize=True,
        normalize=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=50,
        callbacks=None,
        inference_batch_size=None,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.schedule = schedule
        self.n_timesteps = n_timesteps
        self.module = module
        self.hidden_width = hidden_width
        self.n_blocks = n_blocks
        self.ce_weight = ce_weight
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

    # ------------------------------------------------------------------ validation helpers
    def _check_params(self):
        if self.max_epochs != "auto":
            _check_number("max_epochs", self.max_epochs, 1, integer=True)
        _check_number("batch_size", self.batch_size, 1, integer=True)
        _check_number("hidden_width", self.hidden_width, 1, integer=True)
        _check_number("n_blocks", self.n_blocks, 0, integer=True)
        _check_number("lr", self.lr, 0, low_open=True)
        _check_number("ce_weight", self.ce_weight, 0)
        _check_number("warmup_fraction", self.warmup_fraction, 0, 1)
        _check_number("weight_decay", self.weight_decay, 0)
        _check_number("ema_decay", self.ema_decay, 0, 1)
        _check_number("validation_fraction", self.validation_fraction, 0, 1, low_open=True)
        _check_number("n_iter_no_change", self.n_iter_no_change, 1, integer=True)
        _check_number("verbose", self.verbose, 0, integer=True)
        if self.inference_batch_size is not None:
            _check_number("inference_batch_size", self.inference_batch_size, 1, integer=True)
        if self.callbacks is not None and not isinstance(self.callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of skorch callbacks or None; got "
                            f"{type(self.callbacks).__name__}.")

    def _validate_X(self, X, reset):
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=1
        )
        return X

    def _to_model_space(self, X):
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def _to_user_space(self, Z):
        return np.asarray(Z, dtype=np.float64) * self.scale_ + self.mean_

    @property
    def _log_jacobian(self):
        return float(np.sum(np.log(self.scale_)))

    @property
    def _inference_rows(self):
        return self.inference_batch_size or 8 * self.batch_size

    # ------------------------------------------------------------------------- training
    def _build_module(self, n_features, n_classes, seed):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.module is None:
                module = ResidualMLP(n_features, n_classes, self.hidden_width, self.n_blocks)
            elif isinstance(self.module, nn.Module):
                module = copy.deepcopy(self.module)
            elif callable(self.module):
                module = self.module(n_features, n_classes)
            else:
                raise TypeError(
                    "module must be None, a torch.nn.Module or a callable "
                    f"module(n_features, n_classes); got {type(self.module).__name__}."
                )
        if not isinstance(module, nn.Module):
            raise TypeError(f"module(n_features, n_classes) must return a torch.nn.Module; "
                            f"got {type(module).__name__}.")
        check_module_output(module, n_features, n_classes)
        return module

    def _n_epochs(self, n_train, batch_size):
        if self.max_epochs != "auto":
            return int(self.max_epochs)
        return max(1, math.ceil(AUTO_STEPS / math.ceil(n_train / batch_size)))

    def _build_net(self, module, n_train, valid, seeds):
        batch_size = min(self.batch_size, n_train)
        max_epochs = self._n_epochs(n_train, batch_size)
        total_steps = max_epochs * math.ceil(n_train / batch_size)
        callbacks = [
            ("train_ce", PassthroughScoring(name="train_ce", on_train=True)),
            ("train_mse", PassthroughScoring(name="train_mse", on_train=True)),
            ("lr_schedule", LRScheduler(
                policy=LambdaLR,
                lr_lambda=WarmupCosine(total_steps, self.warmup_fraction * total_steps),
                step_every="batch",
                last_epoch=-1,  # every fit / partial_fit runs one whole schedule
            )),
        ]
        if valid is not None:
            callbacks.append(("early_stopping", EarlyStopping(
                monitor="valid_loss", patience=self.n_iter_no_change, load_best=False)))
        if self.verbose >= 1:
            callbacks.append(("progress", EpochProgressBar(total=max_epochs)))
        for i, cb in enumerate(copy.deepcopy(list(self.callbacks or []))):
            callbacks.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        return CDMNet(
            module,
            alpha=self.schedule_.alpha,
            sigma=self.schedule_.sigma,
            ce_weight=self.ce_weight,
            ema_decay=self.ema_decay,
            seed=seeds[1],
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=ArrayBatchLoader,
            iterator_train__shuffle=True,
            iterator_train__generator=torch.Generator().manual_seed(seeds[2]),
            iterator_valid=ArrayBatchLoader,
            train_split=predefined_split(Dataset(valid)) if valid is not None else None,
            callbacks=callbacks,
            device=self.device_,
            verbose=int(self.verbose >= 2),
        )

    def fit(self, X, y=None):
        """Train the CDM on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; at least 2 rows, finite values.
        y : None
            Ignored.

        Returns
        -------
        self : ClassificationDensityEstimator
        """
        if self.warm_start and hasattr(self, "net_"):
            return self.partial_fit(X)
        return self._fit_new(X)

    def _fit_new(self, X):
        self._check_params()
        X = self._validate_X(X, reset=True)
        if X.shape[0] < 2:
            raise ValueError(
                f"ClassificationDensityEstimator needs at least 2 samples to fit; got "
                f"n_samples={X.shape[0]}."
            )
        self.device_ = _resolve_device(self.device)
        self.schedule_ = make_schedule(self.schedule, self.n_timesteps)
        rng = check_random_state(self.random_state)
        seeds = [int(s) for s in rng.randint(0, 2**31 - 1, size=4)]

        if self.standardize:
            self.mean_ = X.mean(axis=0).astype(np.float64)
            scale = X.std(axis=0).astype(np.float64)
            self.scale_ = np.where(scale > 1e-12 * (1 + np.abs(self.mean_)), scale, 1.0)
        else:
            self.mean_ = np.zeros(X.shape[1])
            self.scale_ = np.ones(X.shape[1])
        Z = self._to_model_space(X)

        valid = None
        if self.early_stopping:
            n_valid = int(round(self.validation_fraction * len(Z)))
            if n_valid < 1 or n_valid >= len(Z):
                raise ValueError(
                    f"early_stopping with validation_fraction={self.validation_fraction} "
                    f"leaves no training or no validation rows out of {len(Z)}; use more data "
                    "or early_stopping=False."
                )
            order = np.random.RandomState(seeds[3]).permutation(len(Z))
            Z, valid = Z[order[n_valid:]], Z[order[:n_valid]]

        module = self._build_module(X.shape[1], self.schedule_.n_classes, seeds[0])
        self.net_ = self._build_net(module, len(Z), valid, seeds)
        self.net_.fit(Z, None)
        self.n_iter_ = len(self.net_.history)
        self._normalize(X, seed=int(rng.randint(0, 2**31 - 1)))
        return self

    def _normalize(self, X, seed):
        self.log_normalizer_ = 0.0
        if not self.normalize:
            return
        estimate = estimate_log_normalizer(self, X, n_samples=100_000, random_state=seed)
        if estimate.effective_sample_size < 1000:
            warnings.warn(
                f"normalize=True: the importance-sampling estimate of log Z "
                f"({estimate.log_normalizer:.3f}) has an effective sample size of only "
                f"{estimate.effective_sample_size:.0f}; in {self.n_features_in_} dimensions it "
                "may be unreliable. Consider normalize=False.",
                UserWarning,
                stacklevel=3,
            )
        self.log_normalizer_ = estimate.log_normalizer

    def partial_fit(self, X, y=None):
        """Continue training on ``X`` for ``max_epochs`` more epochs (fits first if needed).

        The standardisation and schedule of the first fit are kept; the learning-rate
        schedule restarts with warm-up.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : ClassificationDensityEstimator
        """
        if not hasattr(self, "net_"):
            return self._fit_new(X)
        X = self._validate_X(X, reset=False)
        self.net_.partial_fit(self._to_model_space(X), None)
        self.n_iter_ = len(self.net_.history)
        self._normalize(X, seed=int(check_random_state(self.random_state).randint(2**31 - 1)))
        return self

    # -------------------------------------------------------------------------- inference
    def _ema_module(self):
        module = self.net_.ema_module_.module
        module.eval()
        return module

    def _batches(self, n):
        step = self._inference_rows
        for start in range(0, n, step):
            yield slice(start, min(start + step, n))

    def _check_timestep(self, t):
        last = self.schedule_.n_classes - 1
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t <= last:
            raise ValueError(
                f"timestep must be an int class index between 0 (clean data) and "
                f"n_timesteps + 1 = {last} (pure noise); got {t!r}."
            )
        return int(t)

    def score_samples(self, X, timestep=0):
        """Natural-log density of each row of ``X`` in one forward pass (Theorem 3.2).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to score, in the units of the training data.
        timestep : int, default=0
            Class index ``t``: 0 scores the data density; ``t > 0`` the density of the noisy
            data ``x_t`` (noise added in the standardised space, see :meth:`add_noise`), a
            smoothed density that is a more robust anomaly score.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log p(x)``, including the log-Jacobian of the internal standardisation, so the
            values are comparable with ``KernelDensity`` fitted on the same raw data.
        """
        check_is_fitted(self)
        t = self._check_timestep(timestep)
        X = self._validate_X(X, reset=False)
        Z = self._to_model_space(X)
        module = self._ema_module()
        out = np.empty(len(Z), dtype=np.float64)
        with torch.no_grad():
            for rows in self._batches(len(Z)):
                z = torch.as_tensor(Z[rows], device=self.net_.device)
                logits = classifier_logits(module, z)
                out[rows] = log_density_from_logits(logits.double(), z.double(), t).cpu().numpy()
        return out - self._log_jacobian - (self.log_normalizer_ if t == 0 else 0.0)

    def score(self, X, y=None):
        """Mean log-likelihood per row of ``X`` (like ``GaussianMixture.score``).

        ``KernelDensity.score`` returns the total instead; multiply by ``len(X)`` to compare.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))

    def _predict_noise_fn(self, module):
        sigma = torch.as_tensor(self.schedule_.sigma, dtype=torch.float32, device=self.net_.device)

        def predict(z, t):
            with torch.enable_grad():
                z = z.detach().requires_grad_(True)
                tt = torch.full((len(z),), t, dtype=torch.long, device=z.device)
                eps, _ = predict_noise(module, z, tt, sigma)
            return eps.detach()

        return predict

    def add_noise(self, X, timestep, random_state=None):
        """Diffuse ``X`` to class ``timestep``: ``alpha_t z + sigma_t eps`` in standardised space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        timestep : int
            Class index between 0 and ``n_timesteps + 1``.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X_noisy : ndarray of shape (n_samples, n_features), in the user's units.
        """
        check_is_fitted(self)
        t = self._check_timestep(timestep)
        Z = self._to_model_space(self._validate_X(X, reset=False)).astype(np.float64)
        eps = check_random_state(random_state).standard_normal(Z.shape)
        return self._to_user_space(self.schedule_.alpha[t] * Z + self.schedule_.sigma[t] * eps)

    def denoise(self, X_noisy, timestep, return_noise=False):
        """MMSE denoiser (Theorem 3.1): ``E[x_0 | x_t]`` from the classifier's input-gradient.

        Parameters
        ----------
        X_noisy : array-like of shape (n_samples, n_features)
            Noisy points in the user's units, as :meth:`add_noise` makes them.
        timestep : int
            Their class index ``t`` (1..n_timesteps + 1).
        return_noise : bool, default=False
            Return ``E[eps | x_t]`` (in standardised units) instead of the clean estimate.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        t = self._check_timestep(timestep)
        Z = self._to_model_space(self._validate_X(X_noisy, reset=False))
        predict = self._predict_noise_fn(self._ema_module())
        a, s = self.schedule_.alpha[t], self.schedule_.sigma[t]
        out = np.empty(Z.shape, dtype=np.float64)
        for rows in self._batches(len(Z)):
            z = torch.as_tensor(Z[rows], device=self.net_.device)
            eps = predict(z, t).double().cpu().numpy()
            if return_noise:
                out[rows] = eps
            elif a == 0:
                out[rows] = 0.0  # pure noise: E[x_0] is the standardised data mean
            else:
                out[rows] = (Z[rows] - s * eps) / a
        return out if return_noise else self._to_user_space(out)

    def sample(self, n_samples=1, random_state=None, sampler="ddpm", n_steps=None, eta=0.0):
        """Draw samples by running a diffusion sampler on the classifier's denoiser.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            Seed of the starting noise and the stochastic steps. ``None`` falls back to the
            estimator's ``random_state`` (like ``GaussianMixture.sample``): with an int there,
            repeated calls return the same samples.
        sampler : {"ddpm", "ddim", "dpm_solver_2", "euler"}, default="ddpm"
            ``"ddpm"`` ancestral sampling; ``"ddim"`` with stochasticity ``eta`` (0 is
            deterministic); ``"dpm_solver_2"`` second-order multistep DPM-Solver++;
            ``"euler"`` the flow-matching ODE (``schedule="ot"`` only).
        n_steps : int or None, default=None
            Number of steps; ``None`` visits every noise level (``n_timesteps + 1`` steps).
        eta : float, default=0.0
            DDIM stochasticity, used by ``sampler="ddim"``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), in the user's units.
        """
        check_is_fitted(self)
        _check_number("n_samples", n_samples, 1, integer=True)
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
        _check_number("eta", eta, 0)
        steps = sample_steps(self.schedule_.n_classes, n_steps)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        seed = int(rng.randint(0, 2**31 - 1))
        device = torch.device(self.net_.device)
        generator = torch.Generator(device=device).manual_seed(seed)
        predict = self._predict_noise_fn(self._ema_module())
        out = np.empty((n_samples, self.n_features_in_), dtype=np.float64)
        for rows in self._batches(n_samples):
            shape = (rows.stop - rows.start, self.n_features_in_)
            x = torch.randn(shape, generator=generator, device=device)
            z = run_sampler(predict, x, self.schedule_.alpha, self.schedule_.sigma, steps,
                            sampler=sampler, eta=eta, generator=generator)
            out[rows] = z.double().cpu().numpy()
        return self._to_user_space(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags
