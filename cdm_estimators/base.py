"""What every neural density estimator here shares: validation, standardisation, seeds, the
skorch net's construction, inference batching, normalisation and MCMC sampling.

:class:`NeuralDensityEstimator` is the scikit-learn layer; a subclass says which network to
build (:meth:`~NeuralDensityEstimator._default_module`), which skorch net trains it
(``_net_class`` and :meth:`~NeuralDensityEstimator._net_params`) and how the trained network
gives a log-density (:meth:`~NeuralDensityEstimator._log_density`).
"""

import copy
import math
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import LRScheduler, PassthroughScoring
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from . import parallel
from .callbacks import EarlyStoppingWithCooldown, EpochProgressBar
from .mcmc import mala
from .net import ArrayBatchLoader, WarmupCosine
from .normalizer import estimate_log_normalizer

__all__ = ["AUTO_EARLY_STOPPING_MIN_FEATURES", "AUTO_EARLY_STOPPING_ROWS",
           "AUTO_NORMALIZE_MAX_FEATURES", "AUTO_NORMALIZE_MIN_ESS",
           "NeuralDensityEstimator", "check_number", "resolve_device"]

#: ``early_stopping="auto"`` holds out a validation split when it has at least this many rows.
AUTO_EARLY_STOPPING_ROWS = 100
#: ... and the data have at least this many features (docs/decisions/early_stopping.md).
AUTO_EARLY_STOPPING_MIN_FEATURES = 3
#: ``normalize="auto"`` estimates log Z only up to this many features (cost, reliability).
AUTO_NORMALIZE_MAX_FEATURES = 50
#: ``normalize="auto"`` subtracts the estimate only when its effective sample size is this large.
AUTO_NORMALIZE_MIN_ESS = 1000
#: Importance-sampling draws of the normalisation.
NORMALIZE_SAMPLES = 100_000


def resolve_device(device):
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; other values are checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
        ) from exc
    return device


def check_number(name, value, low, high=None, integer=False, low_open=False):
    """Raise a ``TypeError``/``ValueError`` naming ``name`` unless ``low <= value <= high``."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}; got {value!r}.")
    too_low = value <= low if low_open else value < low
    if too_low or (high is not None and value > high):
        bounds = f"{'>' if low_open else '>='} {low}"
        if high is not None:
            bounds += f" and <= {high}"
        raise ValueError(f"{name} must be {bounds}; got {value!r}.")


class NeuralDensityEstimator(DensityMixin, BaseEstimator):
    """Base class of the neural density estimators (not for direct use).

    Subclasses store their parameters in ``__init__`` (scikit-learn style); the shared ones are
    ``module, hidden_width, n_blocks, max_epochs, batch_size, lr, warmup_fraction,
    weight_decay, ema_decay, standardize, normalize, early_stopping, validation_fraction,
    n_iter_no_change, callbacks, inference_batch_size, warm_start, device, random_state,
    verbose``.
    """

    #: Optimiser steps that ``max_epochs="auto"`` aims for.
    _auto_steps = 12_000
    #: The skorch net class (a :class:`~cdm_estimators.net.DensityNet`).
    _net_class = None
    #: Label of the progress bar.
    _fit_label = "fit"
    #: What a custom module must output, for error messages.
    _outputs_doc = "outputs"
    #: Parameters that define the network: ``warm_start`` and ``partial_fit`` cannot change
    #: them (nor the number of outputs, :meth:`_n_outputs`).
    _network_params = ("module", "hidden_width", "n_blocks", "standardize")
    #: Parameters (of ``batch_size``, ``hidden_width``, ``n_blocks``, ``lr``) that may be
    #: ``"auto"``, resolved by :meth:`_auto_value`.
    _auto_params: tuple[str, ...] = ()

    # ----------------------------------------------------------- hooks for subclasses
    def _check_model_params(self):
        """Check the subclass's own parameters."""

    def _auto_value(self, name: str) -> float:
        """The value that ``"auto"`` gives the parameter ``name`` (one of
        ``_auto_params``)."""
        raise NotImplementedError

    def _size(self, name: str) -> int:
        """The size parameter ``name`` (``batch_size``, ``hidden_width``, ``n_blocks``) with
        ``"auto"`` resolved."""
        value = getattr(self, name)
        return self._auto_value(name) if isinstance(value, str) else int(value)

    def _learning_rate(self) -> float:
        """``lr`` with ``"auto"`` resolved."""
        return float(self._auto_value("lr") if isinstance(self.lr, str) else self.lr)

    def _prepare_fit(self, X):
        """Set fitted attributes the network needs (called after standardisation)."""

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _default_module(self, n_features: int) -> nn.Module:
        raise NotImplementedError

    def _net_params(self) -> dict:
        """Keyword arguments of ``_net_class`` beyond the shared ones."""
        return {}

    def _log_density(self, module: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """Log-density (float64, shape ``(n,)``) of standardised points ``z``."""
        return self.net_.log_density(module, z)

    @property
    def _accelerator(self):
        """The ``accelerator`` parameter of the subclasses that take one, else None."""
        return getattr(self, "accelerator", None)

    def _resolve_device(self) -> str:
        """``device`` resolved; with an accelerator, the accelerator's device."""
        if self._accelerator is not None:
            return parallel.accelerator_device(self._accelerator, self.device)
        return resolve_device(self.device)

    # ------------------------------------------------------------------ validation helpers
    def _check_params(self):
        if self.max_epochs != "auto":
            check_number("max_epochs", self.max_epochs, 1, integer=True)
        for name, low in (("batch_size", 1), ("hidden_width", 1), ("n_blocks", 0)):
            value = getattr(self, name)
            if not (name in self._auto_params and isinstance(value, str)
                    and value == "auto"):
                check_number(name, value, low, integer=True)
        if not ("lr" in self._auto_params and isinstance(self.lr, str)
                and self.lr == "auto"):
            check_number("lr", self.lr, 0, low_open=True)
        check_number("warmup_fraction", self.warmup_fraction, 0, 1)
        check_number("weight_decay", self.weight_decay, 0)
        check_number("ema_decay", self.ema_decay, 0, 1)
        check_number("validation_fraction", self.validation_fraction, 0, 1, low_open=True)
        check_number("n_iter_no_change", self.n_iter_no_change, 1, integer=True)
        for name in ("early_stopping", "normalize"):
            value = getattr(self, name)
            if not (value is True or value is False
                    or (isinstance(value, str) and value == "auto")):
                raise ValueError(f"{name} must be 'auto', True or False; got {value!r}.")
        check_number("verbose", self.verbose, 0, integer=True)
        if self.inference_batch_size is not None:
            check_number("inference_batch_size", self.inference_batch_size, 1, integer=True)
        if self.callbacks is not None and not isinstance(self.callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of skorch callbacks or None; got "
                            f"{type(self.callbacks).__name__}.")
        parallel.check_accelerator(self._accelerator)
        self._check_model_params()

    def _validate_X(self, X, reset):
        return validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=1
        )

    def _to_model_space(self, X):
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def _to_user_space(self, Z):
        return np.asarray(Z, dtype=np.float64) * self.scale_ + self.mean_

    @property
    def _log_jacobian(self):
        return float(np.sum(np.log(self.scale_)))

    @property
    def _inference_rows(self):
        return self.inference_batch_size or 8 * self._size("batch_size")

    # ------------------------------------------------------------------------- training
    def _build_module(self, n_features, seed):
        n_outputs = self._n_outputs()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.module is None:
                module = self._default_module(n_features)
            elif isinstance(self.module, nn.Module):
                module = copy.deepcopy(self.module)
            elif callable(self.module):
                module = self.module(n_features, n_outputs)
            else:
                raise TypeError(
                    "module must be None, a torch.nn.Module or a callable "
                    f"module(n_features, n_outputs); got {type(self.module).__name__}."
                )
        if not isinstance(module, nn.Module):
            raise TypeError(f"module(n_features, n_outputs) must return a torch.nn.Module; "
                            f"got {type(module).__name__}.")
        _check_module_output(module, n_features, n_outputs, self._outputs_doc)
        return module

    def _n_epochs(self, n_train, batch_size):
        if self.max_epochs != "auto":
            return int(self.max_epochs)
        steps = getattr(self, "_step_budget", None) or self._auto_step_count()
        return max(1, math.ceil(steps / math.ceil(n_train / batch_size)))

    def _auto_step_count(self) -> int:
        """Optimiser steps that ``max_epochs="auto"`` aims for."""
        return self._auto_steps

    def _build_net(self, module, n_train, valid, seeds, one_pass=False):
        """The skorch net for one call of ``fit`` (or, with ``one_pass``, of ``partial_fit``:
        one epoch at the constant learning rate ``lr``, no validation)."""
        batch_size = min(self._size("batch_size"), n_train)
        max_epochs = 1 if one_pass else self._n_epochs(n_train, batch_size)
        total_steps = max_epochs * math.ceil(n_train / batch_size)
        callbacks = [
            (f"train_{name}", PassthroughScoring(name=f"train_{name}", on_train=True))
            for name in self._net_class.loss_parts
        ]
        if not one_pass:
            schedule = WarmupCosine(total_steps, self.warmup_fraction * total_steps)
            callbacks.append(("lr_schedule", LRScheduler(
                policy=LambdaLR,
                lr_lambda=schedule,
                step_every="batch",
                last_epoch=-1,  # every fit runs one whole schedule
            )))
        if valid is not None:
            callbacks += [
                ("valid_nll", PassthroughScoring(name="valid_nll", on_train=False)),
                ("early_stopping", EarlyStoppingWithCooldown(
                    patience=self.n_iter_no_change,
                    cooldown=max(1, self.n_iter_no_change // 2),
                    schedule=schedule)),
            ]
        main = parallel.is_main_process(self._accelerator)  # only one process reports
        if self.verbose >= 1 and not one_pass and main:  # a bar per partial_fit would flood
            callbacks.append(("progress", EpochProgressBar(total=max_epochs,
                                                           desc=self._fit_label)))
        for i, cb in enumerate(copy.deepcopy(list(self.callbacks or []))):
            callbacks.append(cb if isinstance(cb, tuple) else (f"user_{i}", cb))
        return self._net_class(
            module,
            ema_decay=self.ema_decay,
            seed=seeds[1],
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self._learning_rate(),
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=ArrayBatchLoader,
            iterator_train__shuffle=True,
            iterator_train__generator=torch.Generator().manual_seed(seeds[2]),
            iterator_valid=ArrayBatchLoader,
            train_split=predefined_split(Dataset(valid)) if valid is not None else None,
            callbacks=callbacks,
            device=self.device_,
            verbose=int(self.verbose >= 2 and main),
            **({} if self._accelerator is None else {"accelerator": self._accelerator}),
            **self._net_params(),
        )

    def fit(self, X, y=None):
        """Train on ``X``.

        With ``warm_start=True`` and a fitted estimator, training continues from the current
        weights (and their EMA) instead of starting over; everything else follows the current
        parameters, exactly as in a new fit: a new optimiser with the current ``lr`` and
        ``weight_decay``, a whole learning-rate schedule of ``max_epochs``, the current
        ``batch_size``, ``callbacks``, ``early_stopping`` (with a validation split drawn from
        this ``X``) and ``normalize``. The standardisation of the first fit is kept, and the
        parameters that define the network (``module``, its size, ``standardize`` and the
        number of outputs) cannot change: set ``warm_start=False`` to fit a new one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; at least 2 rows, finite values.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        if self.warm_start and hasattr(self, "net_"):
            X = self._begin_continuation(X)
            rng = self._continuation_rng()
            self._train(X, rng, self.net_.module_, previous=self.net_)
        else:
            X = self._begin_new_network(X)
            rng = parallel.agreed_random_state(self._accelerator, self.random_state)
            self._train(X, rng, module=None)
        self._normalize(X, seed=int(rng.randint(0, 2**31 - 1)))
        return self

    def partial_fit(self, X, y=None):
        """One pass (one epoch) over ``X``, continuing from the current weights.

        Like ``MLPClassifier.partial_fit``, each call is one epoch at the constant learning
        rate ``lr`` (no warm-up or decay) whose optimiser state carries over from the previous
        call (or from ``fit``); the weight EMA used for scoring carries over too. No rows are
        held out, so ``early_stopping`` does not apply. The first call on an unfitted estimator
        sets the standardisation from its ``X`` and builds the network.

        ``log Z`` is not re-estimated (that costs 100,000 density evaluations, far more than
        one epoch): after ``partial_fit``, ``score_samples`` is the density of the current
        weights as trained (``log_normalizer_`` is 0.0 and ``normalizer_estimate_`` None)
        until :meth:`renormalize` is called.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch of training data; at least 2 rows on the first call, 1 afterwards.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        self._check_params()
        if not hasattr(self, "net_"):
            X = self._begin_new_network(X)
            rng = parallel.agreed_random_state(self._accelerator, self.random_state)
            self._train(X, rng, module=None, one_pass=True)
        else:
            X = self._begin_continuation(X)
            self._train(X, self._continuation_rng(), self.net_.module_, previous=self.net_,
                        one_pass=True)
        self.log_normalizer_ = 0.0
        self.normalizer_estimate_ = None
        return self

    def renormalize(self, X):
        """Estimate ``log Z`` of the current density from ``X`` and apply ``normalize``.

        The normalisation step that ends ``fit``, on demand (for example after a series of
        :meth:`partial_fit` calls). With ``normalize=False`` the density stays as trained.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data near which the density lives (the training data or a sample of it); the
            importance-sampling proposal is fitted to it.

        Returns
        -------
        self : object
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        self._normalize(X, seed=int(self._continuation_rng().randint(0, 2**31 - 1)))
        return self

    # ---------------------------------------------------------------- training, in steps
    def _begin_new_network(self, X):
        """Validate ``X`` for a new network and set what it is built from; returns ``X``."""
        X = self._validate_X(X, reset=True)
        if X.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples to fit; got "
                f"n_samples={X.shape[0]}."
            )
        self.device_ = self._resolve_device()
        self._set_standardization(X)
        self._prepare_fit(X)
        return X

    def _begin_continuation(self, X):
        """Validate ``X`` for continuing the fitted network, whose defining parameters must
        not have changed; returns ``X``."""
        X = self._validate_X(X, reset=False)
        self.device_ = self._resolve_device()
        self._prepare_fit(X)
        now, then = self._network_signature(), self._fitted_network_
        for name, value in now.items():
            if not _same(value, then[name]):  # a module compares by identity
                shown = "the number of network outputs" if name == "n_outputs" else name
                raise ValueError(
                    f"Continuing the fitted network (warm_start=True, or partial_fit), "
                    f"{shown} cannot change (fitted with {then[name]!r}, now {value!r}); set "
                    "warm_start=False (or clone the estimator) to fit a new network."
                )
        return X

    def _set_standardization(self, X):
        if self.standardize:
            self.mean_ = X.mean(axis=0).astype(np.float64)
            scale = X.std(axis=0).astype(np.float64)
            self.scale_ = np.where(scale > 1e-12 * (1 + np.abs(self.mean_)), scale, 1.0)
        else:
            self.mean_ = np.zeros(X.shape[1])
            self.scale_ = np.ones(X.shape[1])

    def _network_signature(self):
        """The parameters that define the network; ``warm_start`` cannot change them."""
        signature = {name: getattr(self, name) for name in self._network_params}
        signature["n_outputs"] = self._n_outputs()
        return signature

    def _continuation_rng(self):
        """Seeds of a continued fit: with an int ``random_state``, a stream of its own for
        each continuation (keyed on the epochs run so far), so that a sequence of calls is
        reproducible and no two calls repeat each other's noise."""
        if isinstance(self.random_state, numbers.Integral):
            seed = np.random.SeedSequence([int(self.random_state), int(self.n_iter_)])
            return np.random.RandomState(seed.generate_state(1)[0])
        return parallel.agreed_random_state(self._accelerator, self.random_state)

    def _train(self, X, rng, module, previous=None, one_pass=False):
        """Build a net with the current parameters and train it on ``X`` (user units).

        ``module=None`` builds a new network; otherwise ``module`` (the fitted one) is trained
        further, starting from ``previous``'s EMA and history (and, for ``one_pass``, its
        optimiser state).
        """
        seeds = [int(s) for s in rng.randint(0, 2**31 - 1, size=4)]
        Z = self._to_model_space(X)
        valid = None
        n_valid = int(round(self.validation_fraction * len(Z)))
        if not one_pass and (self.early_stopping is True or (
            self.early_stopping == "auto"
            and n_valid >= AUTO_EARLY_STOPPING_ROWS
            and X.shape[1] >= AUTO_EARLY_STOPPING_MIN_FEATURES
        )):
            if n_valid < 1 or n_valid >= len(Z):
                raise ValueError(
                    f"early_stopping with validation_fraction={self.validation_fraction} "
                    f"leaves no training or no validation rows out of {len(Z)}; use more data "
                    "or early_stopping=False."
                )
            order = np.random.RandomState(seeds[3]).permutation(len(Z))
            Z, valid = Z[order[n_valid:]], Z[order[:n_valid]]

        if module is None:
            module = self._build_module(X.shape[1], seeds[0])
            self._fitted_network_ = self._network_signature()
        net = self._build_net(module, len(Z), valid, seeds, one_pass=one_pass)
        net.initialize()
        if previous is not None:
            net.ema_module_.load_state_dict(previous.ema_module_.state_dict())
            net.history_ = previous.history_
            if one_pass and hasattr(previous, "optimizer_"):
                net.optimizer_.load_state_dict(previous.optimizer_.state_dict())
                for group in net.optimizer_.param_groups:  # the current settings win
                    group.update(lr=self._learning_rate(), weight_decay=self.weight_decay)
        self.net_ = net
        net.partial_fit(Z, None)
        self.n_iter_ = len(net.history)

    def _normalize(self, X, seed):
        """Estimate log Z by importance sampling and decide whether to subtract it."""
        self.log_normalizer_ = 0.0
        self.normalizer_estimate_ = None
        if self.normalize is False or (
            self.normalize == "auto" and X.shape[1] > AUTO_NORMALIZE_MAX_FEATURES
        ):
            return
        estimate = estimate_log_normalizer(self, X, n_samples=NORMALIZE_SAMPLES,
                                           random_state=seed)
        self.normalizer_estimate_ = estimate
        reliable = estimate.effective_sample_size >= AUTO_NORMALIZE_MIN_ESS
        if self.normalize is True and not reliable:
            warnings.warn(
                f"normalize=True: the importance-sampling estimate of log Z "
                f"({estimate.log_normalizer:.3f}) has an effective sample size of only "
                f"{estimate.effective_sample_size:.0f}; in {self.n_features_in_} dimensions it "
                "may be unreliable. Consider normalize='auto', which then leaves the density "
                "as trained.",
                UserWarning,
                stacklevel=4,
            )
        if self.normalize is True or reliable:
            self.log_normalizer_ = estimate.log_normalizer

    # -------------------------------------------------------------------------- inference
    def _ema_module(self):
        module = self.net_.ema_module_.module
        module.eval()
        return module

    def _batches(self, n):
        step = self._inference_rows
        for start in range(0, n, step):
            yield slice(start, min(start + step, n))

    def _score_model_space(self, Z, log_density):
        """Apply ``log_density(z_tensor)`` to ``Z`` in inference batches (no grad)."""
        out = np.empty(len(Z), dtype=np.float64)
        with torch.no_grad():
            for rows in self._batches(len(Z)):
                z = torch.as_tensor(Z[rows], device=self.net_.device)
                out[rows] = log_density(z).cpu().numpy()
        return out

    def score_samples(self, X):
        """Natural-log density of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to score, in the units of the training data.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log p(x)``, including the log-Jacobian of the internal standardisation, so the
            values are comparable with ``KernelDensity`` fitted on the same raw data.
        """
        check_is_fitted(self)
        Z = self._to_model_space(self._validate_X(X, reset=False))
        module = self._ema_module()
        scores = self._score_model_space(Z, lambda z: self._log_density(module, z))
        return scores - self._log_jacobian - self.log_normalizer_

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

    def _sampling_generator(self, random_state):
        """A ``torch.Generator`` on the net's device, seeded from ``random_state`` (or, when it
        is None, from the estimator's own ``random_state``)."""
        rng = check_random_state(self.random_state if random_state is None else random_state)
        generator = torch.Generator(device=torch.device(self.net_.device))
        return generator.manual_seed(int(rng.randint(0, 2**31 - 1)))

    def _mcmc_sample(self, n_samples, random_state, n_steps, step_size, levels=None):
        """MALA on the learned log-density, started from N(0, I) in standardised space.

        ``levels``, a list of functions ``(module, z) -> log-density``, anneals: the steps are
        shared out among them in order (the last should be the model's own density).
        """
        check_is_fitted(self)
        check_number("n_samples", n_samples, 1, integer=True)
        check_number("n_steps", n_steps, 1, integer=True)
        check_number("step_size", step_size, 0, low_open=True)
        levels = levels or [self._log_density]
        per_level = [len(part) for part in np.array_split(np.arange(n_steps), len(levels))]
        generator = self._sampling_generator(random_state)
        device = generator.device
        module = self._ema_module()
        out = np.empty((n_samples, self.n_features_in_), dtype=np.float64)
        for rows in self._batches(n_samples):
            z = torch.randn((rows.stop - rows.start, self.n_features_in_), generator=generator,
                            device=device)
            for level, steps in zip(levels, per_level):
                if steps:
                    z = mala(lambda v, f=level: f(module, v), z, n_steps=steps,
                             step_size=step_size, generator=generator)
            out[rows] = z.double().cpu().numpy()
        return self._to_user_space(out)

    def __getstate__(self):
        # An Accelerator belongs to the processes that trained: a pickled estimator loads as
        # a plain one-process estimator (accelerator=None) wherever it is loaded.
        state = dict(super().__getstate__())
        if state.get("accelerator") is not None:
            state["accelerator"] = None
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


def _same(a, b) -> bool:
    """Parameter equality that also compares arrays (a custom schedule, say)."""
    try:
        return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _check_module_output(module: nn.Module, n_features: int, n_outputs: int, doc: str) -> None:
    """Raise a ``ValueError`` unless ``module`` maps ``(2, n_features)`` to ``(2, n_outputs)``."""
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    probe = torch.zeros(2, n_features, device=device)
    with torch.no_grad():
        out = module(probe)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_outputs):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"module must map inputs of shape (n, {n_features}) to {doc} of shape "
            f"(n, {n_outputs}); it returned {shape} for 2 rows."
        )
