"""Side-by-side pictures of 2-D densities (needs matplotlib: the `examples` extra)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["density_grid", "plot_densities_2d"]


def density_grid(log_density: Callable[[np.ndarray], np.ndarray], bounds, resolution=200):
    """Evaluate ``exp(log_density)`` on a regular grid.

    Parameters
    ----------
    log_density : callable
        Maps ``(n, 2)`` points to ``(n,)`` natural-log densities (``est.score_samples``).
    bounds : (xmin, xmax, ymin, ymax)
    resolution : int, default=200
        Grid points per axis.

    Returns
    -------
    xx, yy, density : ndarrays of shape (resolution, resolution)
    """
    xmin, xmax, ymin, ymax = bounds
    xx, yy = np.meshgrid(np.linspace(xmin, xmax, resolution), np.linspace(ymin, ymax, resolution))
    points = np.column_stack([xx.ravel(), yy.ravel()])
    return xx, yy, np.exp(log_density(points)).reshape(xx.shape)


def plot_densities_2d(
    estimators: Mapping[str, object],
    log_prob: Callable[[np.ndarray], np.ndarray] | None = None,
    X=None,
    bounds=None,
    resolution: int = 200,
    titles: Mapping[str, str] | None = None,
    n_columns: int | None = None,
    panel_size: float = 3.0,
):
    """Draw fitted 2-D densities side by side, the truth first.

    Parameters
    ----------
    estimators : mapping of str to fitted estimator
        Anything with ``score_samples`` on 2-D points (a fitted ``GridSearchCV`` works).
    log_prob : callable or None, default=None
        The true log-density, drawn first as "truth".
    X : array-like of shape (n, 2) or None, default=None
        Data to set the default bounds (and drawn as a scatter panel when no ``log_prob``).
    bounds : (xmin, xmax, ymin, ymax) or None, default=None
        Plot window; ``None`` takes the data's range plus 10 %.
    resolution : int, default=200
        Grid points per axis.
    titles : mapping of str to str or None, default=None
        Panel titles per estimator name (for example with the NLL gap); default the name.
    n_columns : int or None, default=None
        Panels per row (default: all in one row).
    panel_size : float, default=3.0
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_densities_2d needs matplotlib: pip install 'cdm_estimators[examples]'"
        ) from exc
    if bounds is None:
        if X is None:
            raise ValueError("plot_densities_2d needs bounds=(xmin, xmax, ymin, ymax) or X.")
        X = np.asarray(X, dtype=np.float64)
        lo, hi = X.min(0), X.max(0)
        pad = 0.1 * (hi - lo)
        bounds = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    panels: list[tuple[str, Callable | None]] = []
    if log_prob is not None:
        panels.append(("truth", log_prob))
    elif X is not None:
        panels.append(("data", None))
    titles = dict(titles or {})
    panels += [(name, est.score_samples) for name, est in estimators.items()]

    n_columns = n_columns or len(panels)
    n_rows = -(-len(panels) // n_columns)
    fig, axes = plt.subplots(n_rows, n_columns, figsize=(panel_size * n_columns,
                                                          panel_size * n_rows), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.set_axis_off()
    for ax, (name, log_density) in zip(axes.ravel(), panels):
        if log_density is None:
            ax.scatter(X[:, 0], X[:, 1], s=1, alpha=0.3)
        else:
            xx, yy, density = density_grid(log_density, bounds, resolution)
            ax.pcolormesh(xx, yy, density, shading="auto", cmap="magma")
        ax.set_xlim(bounds[0], bounds[1])
        ax.set_ylim(bounds[2], bounds[3])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles.get(name, name), fontsize=9)
    fig.tight_layout()
    return fig
