"""Outlier detection with any density estimator, in scikit-learn's outlier API.

:class:`DensityOutlierDetector` wraps a density estimator (a CDM, TRE, NCE, ``KernelDensity``,
``GaussianMixture``...) and follows the conventions of ``IsolationForest`` and
``LocalOutlierFactor(novelty=True)``: ``score_samples`` is higher for more normal rows,
``decision_function = score_samples - offset_`` is negative for outliers, ``predict`` returns
+1 (inlier) or -1 (outlier).

The threshold ``offset_`` comes from rows the density never saw in training: a fraction of the
training data is held out, the density is fitted on the rest, and ``offset_`` is a quantile of
the held-out rows' scores. In-sample scores of a flexible density are optimistic (it has
partly memorised its training rows), so a threshold set on them flags too many new normal
rows.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .base import NeuralDensityEstimator
from .estimator import ClassificationDensityEstimator

__all__ = ["AUTO_FALSE_POSITIVE_RATE", "DETECTOR_STEPS", "LARGE_TABLE_MARGIN",
           "LARGE_TABLE_ROWS", "MIN_NOISE_SCALE", "SCORES", "CDMOutlierDetector",
           "DensityOutlierDetector", "DetectorMember"]

#: Values of ``score_type``.
SCORES = ("log_density", "noise_level", "multiscale", "combined")

#: ``level_margin="auto"``: training sets of at least this many rows count as large...
LARGE_TABLE_ROWS = 2000

#: ...and their smoothed levels get this margin (in held-out standard deviations).
LARGE_TABLE_MARGIN = 3.0

#: Smallest spread (in classes) the expected noise level is standardised by. The held-out
#: spread of a trained CDM on ADBench's tables is 3 to 60 classes; an untrained one's can be
#: a thousandth of a class, which would turn float32 rounding into score differences.
MIN_NOISE_SCALE = 1.0

#: ``contamination="auto"`` sets the threshold so that this fraction of new normal rows is
#: flagged (the held-out quantile).
AUTO_FALSE_POSITIVE_RATE = 0.01

#: Optimiser steps of :class:`CDMOutlierDetector`'s default training budget (a tenth of the
#: density estimator's): about 20 s for 10,000 rows of 100 features on a 2-core CPU.
DETECTOR_STEPS = 1000


class DensityOutlierDetector(OutlierMixin, BaseEstimator):
    """Flag rows of low density under a fitted density estimator.

    Parameters
    ----------
    estimator : estimator with ``fit`` and ``score_samples``, or None, default=None
        The density estimator, cloned at ``fit``. ``None`` uses
        :class:`~cdm_estimators.ClassificationDensityEstimator` with its defaults (and this
        detector's ``random_state``). Its ``score_samples`` is the detector's score with
        ``score_type="log_density"``: higher means more normal.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Fraction of outliers the threshold is set for: ``offset_`` is that quantile of the
        held-out scores, so about this fraction of new rows distributed like the training
        data is flagged. ``"auto"`` flags ``AUTO_FALSE_POSITIVE_RATE`` (1 %) of them: a
        false-positive rate, whatever the (unknown) contamination of the training data.
    score_type : {"log_density", "noise_level", "multiscale", "combined"}, \
            default="log_density"
        What ranks the rows (higher = more normal):

        * ``"log_density"``: the estimator's ``score_samples``, any density estimator;
        * ``"noise_level"``: minus the expected noise level under a CDM classifier's
          posterior (:meth:`~cdm_estimators.ClassificationDensityEstimator.noise_level_proba`),
          divided by ``n_timesteps + 1`` (so in ``[-1, 0]``): the categorical diffusion-time
          estimate of DTE (Livernoche et al., ICLR 2024), which a CDM has for free;
        * ``"multiscale"``: the CDM's log-density of the row at ``n_scales`` noise levels
          from clean to pure noise (Theorem 3.2 at ``t > 0``: the data density smoothed by
          the noise of level ``t``), each standardised by the mean and standard deviation
          of the held-out rows' values at that level; the score is the smallest of them,
          the level at which the row looks most abnormal, after adding ``level_margin``
          to the smoothed levels (``t > 0``). Sharp levels catch rows off a thin
          structure, smooth ones rows far from everything, and neither is fooled by a
          density that memorised small data at ``t = 0``;
        * ``"combined"``: the smaller of the ``"multiscale"`` score and the standardised
          ``"noise_level"`` score (both views come from the same forward pass).

        The last three need a :class:`~cdm_estimators.ClassificationDensityEstimator`.
        :class:`CDMOutlierDetector` uses ``"combined"``, the best of the four on ADBench's
        tables (user guide, "Outliers").
    n_scales : int, default=8
        Noise levels of the ``"multiscale"`` and ``"combined"`` scores, equally spaced over
        the schedule from ``t = 0``.
    level_margin : "auto" or float >= 0, default="auto"
        Added to the standardised log-densities of the smoothed levels (``t > 0``) of the
        ``"multiscale"`` and ``"combined"`` scores before the minimum: how many held-out
        standard deviations further out than the clean density's verdict a smoothed level
        must place a row to decide its score. ``0`` treats all levels alike. ``"auto"``:
        ``0`` for training sets of fewer than ``LARGE_TABLE_ROWS`` (2,000) rows, where the
        clean density memorises its rows, and ``LARGE_TABLE_MARGIN`` (3) from there on,
        where the clean density is the sharpest view and the smoothed levels serve as a
        guard against rows far outside the data (where ``log p_0`` is an extrapolation).
    training_steps : int or None, default=None
        Optimiser steps of a neural density estimator (ours) whose ``max_epochs`` is
        ``"auto"``, in place of its own budget; ``None`` keeps it. Other estimators and an
        explicit ``max_epochs`` are left alone.
    holdout_fraction : float in (0, 1), default=0.2
        Fraction of the training rows held out to set the threshold (and, with
        ``"multiscale"``, to standardise the levels); the density is fitted on the others.
        At least one row is held out and at least two are fitted.
    n_members : int >= 1, default=1
        Density estimators fitted on the same rows with different seeds (the estimator's
        ``random_state``, drawn from this detector's); each member's views are standardised
        on the same held-out rows and the views averaged over the members before the
        minimum, which evens out the seed-to-seed spread of a briefly trained network at
        ``n_members`` times the fit and scoring time. More than one needs an estimator with a
        ``random_state`` parameter (a deterministic one would give identical members).
    random_state : int, RandomState instance or None, default=None
        Seed of the hold-out split, and of the default estimator when ``estimator`` is None.

    Attributes
    ----------
    estimator_ : estimator
        The fitted density (on the rows not held out); with ``n_members > 1``, the first
        member's.
    estimators_ : list of estimators
        Every member's fitted density (``estimators_[0]`` is ``estimator_``).
    timesteps_ : ndarray of int
        With ``"multiscale"`` or ``"combined"``: the noise levels of the score.
    level_mean_, level_scale_ : ndarray of shape (n_levels,)
        With ``"multiscale"`` or ``"combined"``: mean and standard deviation of the
        held-out rows' log-densities at each level (the first member's; every member's
        standardisation is in ``members_``).
    level_margin_ : float
        With ``"multiscale"`` or ``"combined"``: the margin in use (``level_margin``, with
        ``"auto"`` resolved by the number of training rows).
    noise_mean_, noise_scale_ : float
        With ``"combined"``: mean and standard deviation of the held-out rows' expected
        noise level (the scale at least ``MIN_NOISE_SCALE``, one class; the first member's).
    members_ : list of DetectorMember
        Each member's fitted density and held-out standardisation.
    view_names_ : list of str
        Names of the columns of :meth:`score_views`: ``"log_density_t{t}"`` for each level
        of ``timesteps_`` and ``"noise_level"`` (``"combined"``), or ``[score_type]``.
    offset_ : float
        The threshold of ``decision_function``: the ``contamination`` quantile of
        ``holdout_scores_``.
    holdout_scores_ : ndarray of shape (n_holdout,)
        Scores of the held-out training rows, which :meth:`set_contamination` reuses to move
        the threshold without refitting.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    pyod's convention is the opposite (higher is more abnormal, labels 1 for outliers):
    ``scores = -detector.decision_function(X)`` and
    ``labels = (detector.predict(X) == -1).astype(int)``.

    ``fit_predict(X)`` labels the training rows with the held-out threshold, so the flagged
    fraction of ``X`` is about ``contamination`` but not exactly (the rows the density was
    fitted on score a little higher than new rows).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KernelDensity
    >>> from cdm_estimators.outlier import DensityOutlierDetector
    >>> X = np.random.RandomState(0).normal(size=(500, 2))
    >>> det = DensityOutlierDetector(KernelDensity(bandwidth=0.3), random_state=0).fit(X)
    >>> det.predict([[0.0, 0.0], [6.0, 6.0]])
    array([ 1, -1])
    """

    def __init__(self, estimator=None, contamination="auto", score_type="log_density",
                 n_scales=8, level_margin="auto", training_steps=None, holdout_fraction=0.2,
                 n_members=1, random_state=None):
        self.estimator = estimator
        self.contamination = contamination
        self.score_type = score_type
        self.n_scales = n_scales
        self.level_margin = level_margin
        self.training_steps = training_steps
        self.holdout_fraction = holdout_fraction
        self.n_members = n_members
        self.random_state = random_state

    def _check_params(self):
        _check_contamination(self.contamination)
        value = self.holdout_fraction
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not 0 < value < 1):
            raise ValueError(f"holdout_fraction must be a float in (0, 1); got {value!r}.")
        if self.estimator is not None and not (hasattr(self.estimator, "fit")
                                               and hasattr(self.estimator, "score_samples")):
            raise TypeError(f"estimator must have fit and score_samples (a density "
                            f"estimator); got {type(self.estimator).__name__}.")
        if self.score_type not in SCORES:
            raise ValueError(f"score_type must be one of {SCORES}; got {self.score_type!r}.")
        if (isinstance(self.n_scales, bool) or not isinstance(self.n_scales, numbers.Integral)
                or self.n_scales < 2):
            raise ValueError(f"n_scales must be an int >= 2; got {self.n_scales!r}.")
        members = self.n_members
        if isinstance(members, bool) or not isinstance(members, numbers.Integral) or members < 1:
            raise ValueError(f"n_members must be an int >= 1; got {members!r}.")
        if (members > 1 and self.estimator is not None
                and "random_state" not in getattr(self.estimator, "get_params", dict)()):
            raise ValueError(f"n_members={members} needs an estimator with a random_state "
                             f"parameter (members differ only by their seed); "
                             f"{type(self.estimator).__name__} has none. Use n_members=1.")
        margin = self.level_margin
        if not (isinstance(margin, str) and margin == "auto") and (
                isinstance(margin, (bool, str)) or not isinstance(margin, numbers.Real)
                or not 0 <= margin < np.inf):
            raise ValueError(f"level_margin must be 'auto' or a finite float >= 0; got "
                             f"{margin!r}.")
        steps = self.training_steps
        if steps is not None and (isinstance(steps, bool) or not isinstance(
                steps, numbers.Integral) or steps < 1):
            raise ValueError(f"training_steps must be a positive int or None; got {steps!r}.")
        if self.score_type != "log_density" and self.estimator is not None and not hasattr(
                self.estimator, "score_samples_by_level"):
            raise ValueError(f"score_type={self.score_type!r} needs a "
                             f"ClassificationDensityEstimator (its noise-level classifier); got "
                             f"{type(self.estimator).__name__}. Use score_type='log_density'.")

    def _make_estimator(self, random_state, member=0):
        """A fresh density estimator with this detector's training budget; members after the
        first get a seed drawn from ``random_state``."""
        if self.estimator is None:
            estimator = self._default_estimator(random_state.randint(np.iinfo(np.int32).max))
        else:
            estimator = clone(self.estimator)
            if member > 0:
                estimator.set_params(random_state=random_state.randint(np.iinfo(np.int32).max))
        if (self.training_steps is not None and isinstance(estimator, NeuralDensityEstimator)
                and estimator.max_epochs == "auto"):
            # Read by NeuralDensityEstimator._n_epochs; lives on this clone only.
            estimator._step_budget = int(self.training_steps)
        return estimator

    def _default_estimator(self, seed):
        return ClassificationDensityEstimator(random_state=seed)

    def fit(self, X, y=None):
        """Hold out part of ``X``, fit the density on the rest and set the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, mostly normal; at least 3 rows.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=3)
        n = len(X)
        n_holdout = min(max(1, int(round(self.holdout_fraction * n))), n - 2)
        random_state = check_random_state(self.random_state)
        order = random_state.permutation(n)
        fit_rows, holdout_rows = order[n_holdout:], order[:n_holdout]
        if self.score_type in ("multiscale", "combined"):
            self.level_margin_ = float(self.level_margin if self.level_margin != "auto" else
                                       LARGE_TABLE_MARGIN if n >= LARGE_TABLE_ROWS else 0.0)
        self.members_ = []
        for member in range(self.n_members):
            estimator = self._make_estimator(random_state, member).fit(X[fit_rows])
            if member == 0 and self.score_type in ("multiscale", "combined"):
                self.timesteps_ = np.unique(np.round(np.linspace(
                    0, estimator.schedule_.n_classes - 2, self.n_scales)).astype(int))
            self.members_.append(self._standardised_member(estimator, X[holdout_rows]))
        self.estimators_ = [m.estimator for m in self.members_]
        first = self.members_[0]
        self.estimator_ = first.estimator
        if self.score_type in ("multiscale", "combined"):
            self.level_mean_, self.level_scale_ = first.level_mean, first.level_scale
            if self.score_type == "combined":
                self.noise_mean_, self.noise_scale_ = first.noise_mean, first.noise_scale
            self.view_names_ = [f"log_density_t{t}" for t in self.timesteps_]
            if self.score_type == "combined":
                self.view_names_.append("noise_level")
        else:
            self.view_names_ = [self.score_type]
        self.holdout_scores_ = self._score(X[holdout_rows])
        self.offset_ = self._threshold(self.contamination)
        return self

    def _standardised_member(self, estimator, X_holdout):
        """A fitted density with the held-out standardisation of its views."""
        member = DetectorMember(estimator)
        if self.score_type in ("multiscale", "combined"):
            levels, expected = estimator._levels_and_expected_level(X_holdout, self.timesteps_)
            member.level_mean, member.level_scale = _standardiser(levels)
            if self.score_type == "combined":
                mean, scale = _standardiser(expected[:, None])
                # In classes; an untrained classifier puts every row at about the same
                # level, and dividing by that tiny spread would amplify float32 rounding.
                member.noise_mean = float(mean[0])
                member.noise_scale = max(float(scale[0]), MIN_NOISE_SCALE)
        return member

    def _threshold(self, contamination):
        rate = AUTO_FALSE_POSITIVE_RATE if contamination == "auto" else float(contamination)
        return float(np.quantile(self.holdout_scores_, rate))

    def set_contamination(self, contamination):
        """Move the threshold to another ``contamination`` without refitting.

        Parameters
        ----------
        contamination : "auto" or float in (0, 0.5]

        Returns
        -------
        self : object
        """
        check_is_fitted(self)
        _check_contamination(contamination)
        self.contamination = contamination
        self.offset_ = self._threshold(contamination)
        return self

    def score_samples(self, X):
        """The detector's score of each row (``score_type``): higher is more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self._score(X)

    def score_views(self, X):
        """The views of each row whose smallest is :meth:`score_samples`: which one flags it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_views)
            Higher is more normal, in the units of :meth:`score_samples`, one column per
            name in ``view_names_``. With ``"multiscale"`` and ``"combined"``: the held-out
            standardised log-density at each level of ``timesteps_`` (``level_margin_``
            added at ``t > 0``) and, with ``"combined"``, the held-out standardised
            expected noise level, negated (last column). With ``"log_density"`` and
            ``"noise_level"``: the score itself, one column.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self._view_matrix(X)

    def _score(self, X):
        return self._view_matrix(X).min(axis=1)

    def _view_matrix(self, X):
        """The views of ``X``, averaged over the members."""
        return np.mean([self._member_views(member, X) for member in self.members_], axis=0)

    def _member_views(self, member, X):
        estimator = member.estimator
        if self.score_type == "noise_level":
            proba = estimator.noise_level_proba(X)
            levels = np.arange(proba.shape[1])
            return (-(proba @ levels) / (proba.shape[1] - 1))[:, None]
        if self.score_type in ("multiscale", "combined"):
            # Log-densities at the levels timesteps_ and the expected noise level, from one
            # forward pass.
            levels, expected = estimator._levels_and_expected_level(X, self.timesteps_)
            standardised = (levels - member.level_mean) / member.level_scale
            standardised[:, self.timesteps_ > 0] += self.level_margin_
            if self.score_type == "combined":
                noise = -(expected - member.noise_mean) / member.noise_scale
                standardised = np.column_stack([standardised, noise])
            return standardised
        return np.asarray(estimator.score_samples(X), dtype=np.float64)[:, None]

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


class CDMOutlierDetector(DensityOutlierDetector):
    """A fast CDM anomaly detector: the combined multi-scale score of a briefly trained CDM.

    :class:`DensityOutlierDetector` with the defaults measured on ADBench's tables: a
    :class:`~cdm_estimators.ClassificationDensityEstimator` trained for ``DETECTOR_STEPS``
    (1,000) optimiser steps, without early stopping or normalisation (a constant does not
    change a ranking), scored by ``score_type="combined"``: the smallest of the held-out
    standardised views of a row that one forward pass gives (its log-density at 8 noise
    levels and its expected noise level), with the smoothed levels discounted on large
    tables (``level_margin="auto"``). Fitting 10,000 rows of 100 features takes well under
    a minute on a 2-core CPU.

    Parameters
    ----------
    estimator : ClassificationDensityEstimator or None, default=None
        The CDM, cloned at ``fit``: pass one to choose its schedule, network, device...
        (its ``max_epochs="auto"`` then gets ``training_steps`` steps). ``None``:
        ``ClassificationDensityEstimator(early_stopping=False, normalize=False)`` seeded
        from ``random_state``.
    contamination : "auto" or float in (0, 0.5], default="auto"
        As in :class:`DensityOutlierDetector`.
    score_type : {"combined", "multiscale", "log_density", "noise_level"}, \
            default="combined"
        As in :class:`DensityOutlierDetector`.
    n_scales : int, default=8
        As in :class:`DensityOutlierDetector`.
    level_margin : "auto" or float >= 0, default="auto"
        As in :class:`DensityOutlierDetector`.
    training_steps : int or None, default=DETECTOR_STEPS
        Optimiser steps of the CDM (when its ``max_epochs`` is ``"auto"``); ``None`` keeps
        the density estimator's own budget (12,000 steps, with early stopping).
    holdout_fraction : float in (0, 1), default=0.2
        As in :class:`DensityOutlierDetector`.
    n_members : int >= 1, default=1
        CDMs fitted on the same rows with different seeds, their views averaged (as in
        :class:`DensityOutlierDetector`): each one more costs one more fit.
    random_state : int, RandomState instance or None, default=None
        Seeds the hold-out split and the default CDM: the same value gives the same fit and
        scores on the same device.

    Fitted attributes are those of :class:`DensityOutlierDetector` (``estimator_``,
    ``estimators_``, ``members_``, ``timesteps_``, ``level_mean_``, ``level_scale_``,
    ``level_margin_``, ``noise_mean_``, ``noise_scale_``, ``offset_``, ``holdout_scores_``,
    ``n_features_in_``).

    Notes
    -----
    Scores: higher is more normal (scikit-learn's convention). pyod's is the opposite:
    ``scores = -detector.decision_function(X)``,
    ``labels = (detector.predict(X) == -1).astype(int)``.

    Examples
    --------
    >>> import numpy as np
    >>> from cdm_estimators import CDMOutlierDetector
    >>> X = np.random.RandomState(0).normal(size=(500, 3))
    >>> det = CDMOutlierDetector(training_steps=200, random_state=0).fit(X)
    >>> det.predict([[0.0, 0.0, 0.0], [8.0, 8.0, 8.0]])
    array([ 1, -1])
    """

    def __init__(self, estimator=None, contamination="auto", score_type="combined",
                 n_scales=8, level_margin="auto", training_steps=DETECTOR_STEPS,
                 holdout_fraction=0.2, n_members=1, random_state=None):
        super().__init__(estimator=estimator, contamination=contamination,
                         score_type=score_type, n_scales=n_scales, level_margin=level_margin,
                         training_steps=training_steps, holdout_fraction=holdout_fraction,
                         n_members=n_members, random_state=random_state)

    def _check_params(self):
        if self.estimator is not None and not isinstance(self.estimator,
                                                         ClassificationDensityEstimator):
            raise TypeError(f"estimator must be a ClassificationDensityEstimator or None; got "
                            f"{type(self.estimator).__name__}. For other density estimators "
                            f"use DensityOutlierDetector.")
        super()._check_params()

    def _default_estimator(self, seed):
        return ClassificationDensityEstimator(early_stopping=False, normalize=False,
                                              random_state=seed)


@dataclass
class DetectorMember:
    """One fitted density of a detector and the held-out standardisation of its views.

    Attributes
    ----------
    estimator : estimator
        The fitted density estimator.
    level_mean, level_scale : ndarray of shape (n_levels,) or None
        Mean and standard deviation of the held-out rows' log-densities at each level
        (``"multiscale"`` and ``"combined"`` scores).
    noise_mean, noise_scale : float or None
        Mean and spread of the held-out rows' expected noise level (``"combined"``).
    """

    estimator: object
    level_mean: np.ndarray | None = None
    level_scale: np.ndarray | None = None
    noise_mean: float | None = None
    noise_scale: float | None = None


def _standardiser(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation; a column without spread (or a single row,
    on tiny data) gets unit scale."""
    spread = values.std(axis=0) if len(values) > 1 else np.ones(values.shape[1])
    return values.mean(axis=0), np.where(spread > 0, spread, 1.0)


def _check_contamination(contamination) -> None:
    if isinstance(contamination, str):
        if contamination != "auto":
            raise ValueError(f"contamination must be 'auto' or a float in (0, 0.5]; got "
                             f"{contamination!r}.")
        return
    if (isinstance(contamination, bool) or not isinstance(contamination, numbers.Real)
            or not 0 < contamination <= 0.5):
        raise ValueError(f"contamination must be 'auto' or a float in (0, 0.5]; got "
                         f"{contamination!r}.")
