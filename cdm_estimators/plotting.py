"""Pictures: 2-D densities side by side, and grids of images (needs matplotlib: the
`examples` extra)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["density_grid", "image_grid", "plot_densities_2d", "save_image_grid"]


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
    plt = _pyplot("plot_densities_2d")
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


def _pyplot(caller: str):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{caller} needs matplotlib: pip install 'cdm_estimators[examples]'"
        ) from exc
    return plt


def image_grid(images, image_shape=None, n_columns: int | None = None,
               value_range=None, padding: int = 1) -> np.ndarray:
    """Tile images into one picture with white lines between them.

    Parameters
    ----------
    images : array-like of shape (n, C, H, W), (n, H, W) or (n, C * H * W)
        The images (``sample`` returns one of these layouts).
    image_shape : (C, H, W) or None, default=None
        Needed for flat rows.
    n_columns : int or None, default=None
        Images per row; ``None`` makes the grid as square as possible.
    value_range : (low, high) or None, default=None
        Values mapped to black and white (clipped); ``None`` takes the images' own range.
    padding : int, default=1
        Width of the white lines between images, in pixels.

    Returns
    -------
    grid : ndarray of floats in [0, 1]
        Of shape ``(rows * (H + p) - p, columns * (W + p) - p)`` with ``p = padding`` for
        grey images, with a last axis of ``C`` otherwise.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2:
        if image_shape is None:
            raise ValueError("image_grid needs image_shape=(C, H, W) for flat rows.")
        images = images.reshape(len(images), *image_shape)
    elif images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must have shape (n, C, H, W), (n, H, W) or (n, C*H*W) with "
                         f"n >= 1; got {np.shape(images)}.")
    n, c, h, w = images.shape
    n_columns = n_columns or int(np.ceil(np.sqrt(n)))
    n_rows = -(-n // n_columns)
    low, high = value_range if value_range is not None else (images.min(), images.max())
    scaled = np.clip((images - low) / max(high - low, 1e-12), 0.0, 1.0)
    step_h, step_w = h + padding, w + padding
    grid = np.ones((n_rows * step_h - padding, n_columns * step_w - padding, c))
    for i, image in enumerate(scaled):
        r, col = divmod(i, n_columns)
        grid[r * step_h:r * step_h + h, col * step_w:col * step_w + w] = image.transpose(1, 2, 0)
    return grid[..., 0] if c == 1 else grid


def save_image_grid(images, path, image_shape=None, n_columns: int | None = None,
                    value_range=None, title: str | None = None, scale: float = 0.4,
                    padding: int = 1):
    """Draw :func:`image_grid` to a PNG (or any format matplotlib infers from ``path``).

    Parameters
    ----------
    images, image_shape, n_columns, value_range, padding
        As for :func:`image_grid`.
    path : str or path-like
        Where to write the picture.
    title : str or None, default=None
    scale : float, default=0.4
        Inches per image.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot("save_image_grid")
    grid = image_grid(images, image_shape, n_columns, value_range, padding)
    n_columns = n_columns or int(np.ceil(np.sqrt(len(images))))
    height, width = grid.shape[:2]
    cell = height / (-(-len(images) // n_columns))
    fig_width = max(scale * width / cell + 0.2, 4.5 if title else 0.0)
    fig, ax = plt.subplots(figsize=(fig_width, scale * height / cell + (0.5 if title else 0.2)))
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0.0, vmax=1.0,
              interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return fig
