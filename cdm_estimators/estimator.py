"""``ClassificationDensityEstimator``: the scikit-learn face of a Classification Diffusion Model."""

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .base import NeuralDensityEstimator, check_number
from .image_networks import default_image_network
from .images import as_flat_images, check_image_shape
from .net import CDMNet
from .networks import ResidualMLP, check_quadratic_rank, resolve_quadratic_rank
from .objective import classifier_logits, log_std_normal, predict_noise
from .samplers import SAMPLERS, run_sampler, sample_steps
from .schedules import make_schedule

__all__ = ["ClassificationDensityEstimator", "AUTO_STEPS", "IMAGE_CPU_PIXELS", "IMAGE_DEFAULTS",
           "NETWORKS"]

#: Optimiser steps that ``max_epochs="auto"`` aims for (chosen in docs/decisions/defaults.md).
AUTO_STEPS = 12_000

#: Values of ``network``.
NETWORKS = ("auto", "mlp", "unet", "encoder")

#: On the CPU, ``max_epochs="auto"`` scales the image budget down by ``IMAGE_CPU_PIXELS``
#: over the pixels per image (when there are more), so that a 28x28 fit takes minutes, not
#: an hour.
IMAGE_CPU_PIXELS = 64

#: What ``"auto"`` gives an image estimator (``image_shape`` set, ``network`` "auto" or
#: convolutional): network, base channels, residual blocks per resolution, batch size,
#: learning rate and optimiser steps (measured in docs/decisions/image_defaults.md).
IMAGE_DEFAULTS = {"network": "encoder", "hidden_width": 32, "n_blocks": 1, "batch_size": 64,
                  "lr": 2e-3, "steps": 3000}


class ClassificationDensityEstimator(NeuralDensityEstimator):
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
    n_timesteps : int, default=200
        Number ``T`` of intermediate noise levels (ignored when ``schedule`` is an array).
        Sampling takes ``T + 1`` steps by default. Why 200: the design notes
        (``docs/decisions/cdm_10d_choices.md``).
    image_shape : (int, int, int) or None, default=None
        ``(channels, height, width)`` of image data. Images may then be given as flat rows
        ``(n_samples, C * H * W)`` (the scikit-learn layout: pipelines and grid searches work)
        or as arrays ``(n_samples, C, H, W)`` (grey images also ``(n_samples, H, W)``);
        ``sample``, ``denoise`` and ``add_noise`` return the layout ``fit`` saw. The default
        network becomes convolutional and the internal standardisation is per channel.
        ``None``: tabular data.
    network : {"auto", "mlp", "unet", "encoder"}, default="auto"
        The default classifier (when ``module`` is None): ``"mlp"`` a
        :class:`~cdm_estimators.networks.ResidualMLP`; ``"unet"`` the paper's image classifier
        (:class:`~cdm_estimators.image_networks.UNetClassifier`); ``"encoder"`` its cheaper
        encoder-only half (:class:`~cdm_estimators.image_networks.EncoderClassifier`).
        ``"auto"`` is ``"mlp"`` for tabular data and ``IMAGE_DEFAULTS["network"]``
        (``"encoder"``) with ``image_shape``.
    module : nn.Module, callable or None, default=None
        The classifier. ``None`` builds the default ``network``. A module instance is
        deep-copied at ``fit``; a callable is called as ``module(n_features, n_classes)``.
        Either must map ``(n, n_features)`` inputs (flat rows, also for images) to
        ``(n, n_timesteps + 2)`` raw outputs; the fixed cumulative-sum head is applied on top.
    hidden_width : int or "auto", default="auto"
        Width of the default network: hidden units of the MLP (``"auto"``: 128), base
        channels of a convolutional one (``"auto"``: ``IMAGE_DEFAULTS["hidden_width"]``).
    n_blocks : int or "auto", default="auto"
        Residual blocks of the MLP (``"auto"``: 3), or per resolution of a convolutional
        network (``"auto"``: ``IMAGE_DEFAULTS["n_blocks"]``).
    network_params : dict or None, default=None
        Further keyword arguments of the default network's class, for example
        ``{"channel_mults": (1, 2, 2), "attention_resolutions": (16,), "dropout": 0.1}`` for
        the convolutional ones.
    quadratic_rank : int or "auto", default="auto"
        Rank of the default network's quadratic skip path (see
        :class:`~cdm_estimators.networks.ResidualMLP`), which lets the log-density fall off
        slower or faster than the standard normal's far from the data; 0 leaves it out.
        ``"auto"`` is ``min(n_features, 64)``. It matters most for heavy-tailed data.
    ce_weight : float, default=1.0
        Weight of the cross-entropy term in ``ce_weight * CE + MSE``.
    max_epochs : int or "auto", default="auto"
        Training epochs. ``"auto"`` runs enough epochs for about ``AUTO_STEPS`` (12,000) optimiser
        steps with the MLP, whatever the data size. With a convolutional network it aims for
        ``IMAGE_DEFAULTS["steps"]`` steps, a budget sized for a few minutes on a CPU for 8x8
        images; on the CPU, larger images get proportionally fewer (``steps * 64 / (H * W)``,
        so that a fit stays in minutes). A good model of larger images needs far more: set
        ``max_epochs`` (and use a GPU).
    batch_size : int or "auto", default="auto"
        Training batch size (capped at the number of training rows); ``"auto"`` is 512 for
        the MLP and ``IMAGE_DEFAULTS["batch_size"]`` for a convolutional network.
    lr : float or "auto", default="auto"
        Peak Adam learning rate, reached after a linear warm-up and followed by cosine decay.
        ``"auto"`` is 1e-3 for the MLP and ``IMAGE_DEFAULTS["lr"]`` for a convolutional
        network.
    warmup_fraction : float, default=0.05
        Fraction of the optimiser steps spent warming up the learning rate.
    weight_decay : float, default=0.0
        AdamW weight decay.
    ema_decay : float, default=0.999
        Decay of the weight EMA used for scoring and sampling (ramped up over the first steps).
    standardize : bool, default=True
        Standardise each feature before training. Densities, samples and denoised points are
        always in the user's units: ``score_samples`` adds the log-Jacobian.
    dequantize : float or None, default=None
        Width of one quantisation bin of discrete data (pixels, counts), in the units of
        ``X``: every training batch gets fresh uniform noise ``U[0, dequantize)`` added to
        each value (uniform dequantisation), so the model learns a density whose integral
        over a bin is the probability of the discrete value. Give ``X`` as the discrete
        values themselves (each bin's lower edge), for example digits' levels ``k / 17``
        with ``dequantize=1/17``; evaluate with :func:`~cdm_estimators.metrics.bits_per_dim`.
        ``None``: continuous data.
    mixed_precision : bool, default=False
        Compute the training objective (forward, input-gradient and backward passes) under
        bfloat16 autocast, which pays off for convolutional networks on GPUs with bfloat16
        tensor cores. The weights, the optimiser, validation, ``score_samples`` and the
        samplers stay in float32.
    normalize : "auto" or bool, default="auto"
        After training, estimate the log-normaliser ``log Z`` of the learned density by
        importance sampling (:func:`~cdm_estimators.estimate_log_normalizer`: 100,000 draws
        from a Gaussian mixture fitted to the training data plus a broad Gaussian) and
        subtract it in ``score_samples``, so that the density integrates to one. ``"auto"``
        does so with up to 50 features and only when the estimate's effective sample size is
        at least 1,000 (else the density is left as trained); ``True`` always subtracts it
        (with a warning when the effective sample size is small); ``False`` never estimates
        it. The estimate is kept in ``normalizer_estimate_``.
    early_stopping : "auto" or bool, default="auto"
        Hold out ``validation_fraction`` of the rows and evaluate the training objective of
        the EMA weights on them after every epoch (``valid_loss``, on 4 fixed noise draws per
        row; ``valid_nll`` is recorded too). After ``n_iter_no_change`` epochs without
        improvement, restore the EMA weights of the best epoch, anneal the learning rate to
        its floor over ``n_iter_no_change // 2`` epochs, and stop. ``"auto"`` does so for
        data with at least 3 features whose split has at least 100 rows (1,000 rows at the
        default fraction): without it the network can memorise a few thousand rows in 5 or
        more dimensions, while 2-D data lose more by stopping early than they gain. The
        measurements behind the rule: ``docs/decisions/early_stopping.md``.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping.
    n_iter_no_change : int, default=250
        Patience of early stopping, in epochs (the cool-down lasts half as long).
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (for example ``skorch.callbacks.Checkpoint``), copied at ``fit``.
    inference_batch_size : int or None, default=None
        Rows per forward pass in ``score_samples``, ``denoise`` and ``sample``; ``None`` uses
        ``8 * batch_size``. Results do not depend on it.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted estimator continues from the current weights and their
        EMA, with every other current parameter honoured as in a new fit (optimiser,
        learning-rate schedule, ``max_epochs``, ``batch_size``, ``callbacks``, early stopping
        on this ``X``, normalisation). The network-defining parameters cannot change. See
        :meth:`fit`; :meth:`partial_fit` is one epoch at a constant learning rate.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. With an
        ``accelerator``, the accelerator's device (leave ``"auto"``).
    accelerator : accelerate.Accelerator or None, default=None
        Train one network data-parallel on several processes (GPUs, or CPU processes over
        gloo) in a script started with ``accelerate launch`` or ``torchrun``. Every process
        runs the same script and calls ``fit`` on the same data; each trains on its share of
        every batch (``batch_size`` is the total over the processes), the parameter gradients
        are averaged by DistributedDataParallel, and all processes end with the same weights,
        history, normalisation and scores. Supported: one process, several CPU processes or
        several GPUs; ``mixed_precision`` "no" or "bf16"; no gradient accumulation. A pickled
        estimator stores ``accelerator=None``: the file loads as a plain one-process
        estimator. Save on one process (``accelerator.is_main_process``). See the user
        guide's "Scaling out" page.
    random_state : int, RandomState instance or None, default=None
        Controls weight initialisation, shuffling, the noise and noise levels drawn in
        training, the validation split and, unless ``sample`` is given its own, sampling. The
        same value gives the same fit, scores and samples on the same device.
    verbose : int, default=0
        0 is silent, 1 shows a progress bar over the epochs of ``fit`` (not of
        ``partial_fit``), 2 also prints skorch's epoch table.

    Attributes
    ----------
    net_ : CDMNet
        The trained skorch net; ``net_.history`` holds the losses, ``net_.ema_module_`` the
        averaged weights.
    schedule_ : NoiseSchedule
        The schedule's signal and noise scales.
    mean_ : ndarray of shape (n_features,)
        Per-feature offset of the internal standardisation (zeros if ``standardize=False``).
    scale_ : ndarray of shape (n_features,)
        Per-feature scale of the internal standardisation (1 for constant features).
    data_mean_ : ndarray of shape (n_features,)
        Mean of the training data in the standardised space (zeros with ``standardize=True``):
        ``E[x_0]``, which ``denoise`` and the samplers use at pure noise, where the noisy
        point says nothing about the clean one.
    input_ndim_ : int
        With ``image_shape``: 2, 3 or 4, the layout of the images ``fit`` saw (flat rows,
        grey ``(n, H, W)`` or ``(n, C, H, W)``), which ``sample`` and ``denoise`` return.
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
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    TelescopingDensityRatioEstimator : The TRE baseline (many ratios, one per waymark pair).
    NoiseContrastiveEstimator : The NCE baseline (one ratio against N(0, I)).
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
        n_timesteps=200,
        *,
        image_shape=None,
        network="auto",
        module=None,
        hidden_width="auto",
        n_blocks="auto",
        network_params=None,
        quadratic_rank="auto",
        ce_weight=1.0,
        max_epochs="auto",
        batch_size="auto",
        lr="auto",
        warmup_fraction=0.05,
        weight_decay=0.0,
        ema_decay=0.999,
        standardize=True,
        dequantize=None,
        mixed_precision=False,
        normalize="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=250,
        callbacks=None,
        inference_batch_size=None,
        warm_start=False,
        device="auto",
        accelerator=None,
        random_state=None,
        verbose=0,
    ):
        self.schedule = schedule
        self.n_timesteps = n_timesteps
        self.image_shape = image_shape
        self.network = network
        self.module = module
        self.hidden_width = hidden_width
        self.n_blocks = n_blocks
        self.network_params = network_params
        self.quadratic_rank = quadratic_rank
        self.ce_weight = ce_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.warmup_fraction = warmup_fraction
        self.weight_decay = weight_decay
        self.ema_decay = ema_decay
        self.standardize = standardize
        self.dequantize = dequantize
        self.mixed_precision = mixed_precision
        self.normalize = normalize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.inference_batch_size = inference_batch_size
        self.warm_start = warm_start
        self.device = device
        self.accelerator = accelerator
        self.random_state = random_state
        self.verbose = verbose

    _auto_steps = AUTO_STEPS
    _network_params = NeuralDensityEstimator._network_params + (
        "quadratic_rank", "image_shape", "network", "network_params")
    _auto_params = ("batch_size", "hidden_width", "n_blocks", "lr")
    _net_class = CDMNet
    _fit_label = "CDM fit"
    _outputs_doc = "n_timesteps + 2 raw outputs"

    # ------------------------------------------------------------ hooks of the base class
    def _check_model_params(self):
        check_number("ce_weight", self.ce_weight, 0)
        check_quadratic_rank(self.quadratic_rank)
        if self.image_shape is not None:
            check_image_shape(self.image_shape)
        if not (isinstance(self.network, str) and self.network in NETWORKS):
            raise ValueError(f"network must be one of {NETWORKS}; got {self.network!r}.")
        if self.network in ("unet", "encoder") and self.image_shape is None:
            raise ValueError(f"network={self.network!r} is a convolutional network and needs "
                             "image_shape=(channels, height, width).")
        if self.network_params is not None and not isinstance(self.network_params, dict):
            raise TypeError(f"network_params must be a dict of keyword arguments of the "
                            f"default network, or None; got {self.network_params!r}.")
        if self.dequantize is not None:
            check_number("dequantize", self.dequantize, 0, low_open=True)
        if not isinstance(self.mixed_precision, (bool, np.bool_)):
            raise TypeError(f"mixed_precision must be True or False; got "
                            f"{self.mixed_precision!r}.")

    @property
    def _network_kind(self):
        if self.network != "auto":
            return self.network
        return "mlp" if self.image_shape is None else IMAGE_DEFAULTS["network"]

    def _auto_value(self, name):
        if self._network_kind == "mlp":
            return {"batch_size": 512, "hidden_width": 128, "n_blocks": 3, "lr": 1e-3}[name]
        return IMAGE_DEFAULTS[name]

    def _auto_step_count(self):
        if self._network_kind == "mlp":
            return self._auto_steps
        steps = IMAGE_DEFAULTS["steps"]
        if torch.device(self.device_).type == "cpu":
            # A step costs about pixels / 64 times one on digits: keep a CPU fit to minutes.
            _, height, width = check_image_shape(self.image_shape)
            steps = max(1, round(steps * min(1.0, IMAGE_CPU_PIXELS / (height * width))))
        return steps

    def _validate_X(self, X, reset):
        """Accept images as flat rows or as arrays of ``image_shape``; return flat rows."""
        if self.image_shape is not None:
            X, ndim = as_flat_images(X, check_image_shape(self.image_shape))
            if reset:
                self.input_ndim_ = ndim
        return super()._validate_X(X, reset)

    def _as_fitted_layout(self, X):
        """Rows in the layout that ``fit`` saw: ``(n, C, H, W)`` (or ``(n, H, W)``) for images
        fitted as such, flat rows otherwise."""
        ndim = getattr(self, "input_ndim_", 2)
        if self.image_shape is None or ndim == 2:
            return X
        shape = tuple(self.image_shape)
        return X.reshape(len(X), *(shape if ndim == 4 else shape[1:]))

    def _prepare_fit(self, X):
        self.schedule_ = make_schedule(self.schedule, self.n_timesteps)

    def _set_standardization(self, X):
        if self.image_shape is not None and self.standardize:
            # One offset and scale per channel: pixels are exchangeable, and a per-pixel
            # scale would blow up the near-constant border pixels.
            shape = check_image_shape(self.image_shape)
            per_channel = X.reshape(len(X), shape[0], -1)
            mean = per_channel.mean(axis=(0, 2))
            var = per_channel.var(axis=(0, 2))
            if self.dequantize is not None:
                mean, var = mean + self.dequantize / 2, var + self.dequantize**2 / 12
            pixels = shape[1] * shape[2]
            self.mean_ = np.repeat(mean, pixels).astype(np.float64)
            std = np.repeat(np.sqrt(var), pixels).astype(np.float64)
            self.scale_ = np.where(std > 1e-12 * (1 + np.abs(self.mean_)), std, 1.0)
        elif self.standardize and self.dequantize is not None:
            # The moments of the dequantised data x + U[0, width).
            self.mean_ = X.mean(axis=0).astype(np.float64) + self.dequantize / 2
            self.scale_ = np.sqrt(X.var(axis=0).astype(np.float64) + self.dequantize**2 / 12)
        else:
            super()._set_standardization(X)
        # E[x_0] in model space: what the denoiser and the samplers return at pure noise.
        if self.standardize and self.image_shape is None:
            self.data_mean_ = np.zeros(X.shape[1])
        else:
            offset = 0.0 if self.dequantize is None else self.dequantize / 2
            self.data_mean_ = (X.mean(axis=0) + offset - self.mean_) / self.scale_

    def _n_outputs(self):
        return self.schedule_.n_classes

    def _default_module(self, n_features):
        extra = dict(self.network_params or {})
        kind = self._network_kind
        try:
            if kind == "mlp":
                return ResidualMLP(n_features, self._n_outputs(), self._size("hidden_width"),
                                   self._size("n_blocks"),
                                   resolve_quadratic_rank(self.quadratic_rank, n_features),
                                   **extra)
            return default_image_network(kind, check_image_shape(self.image_shape),
                                         self._n_outputs(), self._size("hidden_width"),
                                         self._size("n_blocks"), resolve_quadratic_rank(
                                             self.quadratic_rank, n_features), **extra)
        except TypeError as exc:
            raise TypeError(f"network_params={self.network_params!r} does not fit the "
                            f"{kind!r} network: {exc}") from exc

    def _net_params(self):
        dequantize = None
        if self.dequantize is not None:  # the bin width in model space, per feature
            dequantize = (self.dequantize / self.scale_).astype(np.float32)
        return dict(alpha=self.schedule_.alpha, sigma=self.schedule_.sigma,
                    ce_weight=self.ce_weight, dequantize=dequantize,
                    mixed_precision=bool(self.mixed_precision))

    def _log_density(self, module, z, timestep=0):
        return self.net_.log_density(module, z, timestep)

    # -------------------------------------------------------------------------- inference
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
        Z = self._to_model_space(self._validate_X(X, reset=False))
        module = self._ema_module()
        scores = self._score_model_space(Z, lambda z: self._log_density(module, z, t))
        return scores - self._log_jacobian - (self.log_normalizer_ if t == 0 else 0.0)

    def noise_level_proba(self, X):
        """The classifier's posterior over the noise levels of each row (uniform prior).

        One forward pass: ``softmax(f(x))`` over the ``n_timesteps + 2`` classes (0: clean
        data, ``n_timesteps + 1``: pure noise). Rows like the training data put their mass
        on the lowest classes; the expected class is an anomaly score (the idea of DTE's
        categorical variant, which a CDM gets for free).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in the units of the training data (noise added in the standardised space,
            as :meth:`add_noise` does, is what the classes describe).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_timesteps + 2)
            Each row sums to one.
        """
        return self._per_level(X, lambda logits, z: torch.softmax(logits, dim=1))

    def score_samples_by_level(self, X, timesteps):
        """``score_samples(X, timestep=t)`` for several ``t`` at once, from one forward pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        timesteps : sequence of int
            Class indices between 0 and ``n_timesteps + 1``.

        Returns
        -------
        log_density : ndarray of shape (n_samples, len(timesteps))
            Column ``j`` equals ``score_samples(X, timestep=timesteps[j])``.
        """
        return self._levels_and_expected_level(X, timesteps)[0]

    def _levels_and_expected_level(self, X, timesteps):
        """``score_samples_by_level(X, timesteps)`` and the expected noise level under
        :meth:`noise_level_proba` (``proba @ arange(n_timesteps + 2)``), from one forward
        pass: the views of the outlier detector's ``"combined"`` score."""
        check_is_fitted(self)
        levels = [self._check_timestep(t) for t in timesteps]
        offsets = np.array([self._log_jacobian + (self.log_normalizer_ if t == 0 else 0.0)
                            for t in levels])
        columns = torch.as_tensor(levels)

        def views(logits, z):
            log_density = logits[:, columns] - logits[:, -1:] + log_std_normal(z)[:, None]
            classes = torch.arange(logits.shape[1], dtype=logits.dtype, device=logits.device)
            expected = torch.softmax(logits, dim=1) @ classes
            return torch.cat([log_density, expected[:, None]], dim=1)

        # _per_level validates X, which refuses empty input, so ``both`` has rows.
        both = self._per_level(X, lambda logits, z: views(logits, z.double()))
        return both[:, :-1] - offsets, both[:, -1]

    def _per_level(self, X, from_logits):
        """``from_logits(logits, z)`` (a tensor with one row per row of ``X``) over ``X`` in
        inference batches: one forward pass of the EMA classifier, no gradient."""
        check_is_fitted(self)
        Z = self._to_model_space(self._validate_X(X, reset=False))
        module = self._ema_module()
        parts = []
        with torch.no_grad():
            for rows in self._batches(len(Z)):
                z = torch.as_tensor(Z[rows], device=self.net_.device)
                parts.append(from_logits(classifier_logits(module, z).double(), z).cpu().numpy())
        return np.concatenate(parts) if parts else np.empty((0, 0))

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
        noisy = self.schedule_.alpha[t] * Z + self.schedule_.sigma[t] * eps
        return self._as_fitted_layout(self._to_user_space(noisy))

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
                out[rows] = self.data_mean_  # pure noise: x_t says nothing about x_0
            else:
                out[rows] = (Z[rows] - s * eps) / a
        return self._as_fitted_layout(out if return_noise else self._to_user_space(out))

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
        check_number("n_samples", n_samples, 1, integer=True)
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
        check_number("eta", eta, 0)
        steps = sample_steps(self.schedule_.n_classes, n_steps)
        generator = self._sampling_generator(random_state)
        device = generator.device
        denoiser = self._predict_noise_fn(self._ema_module())
        x0_mean = torch.as_tensor(self.data_mean_, dtype=torch.float32, device=device)
        out = np.empty((n_samples, self.n_features_in_), dtype=np.float64)
        batches = list(self._batches(n_samples))
        with tqdm(total=len(batches) * (len(steps) - 1), desc=f"{sampler} sampling",
                  unit="step", disable=self.verbose < 1) as bar:

            def predict(z, t):
                bar.update(1)
                return denoiser(z, t)

            for rows in batches:
                shape = (rows.stop - rows.start, self.n_features_in_)
                x = torch.randn(shape, generator=generator, device=device)
                z = run_sampler(predict, x, self.schedule_.alpha, self.schedule_.sigma, steps,
                                sampler=sampler, eta=eta, generator=generator, x0_mean=x0_mean)
                out[rows] = z.double().cpu().numpy()
        return self._as_fitted_layout(self._to_user_space(out))
