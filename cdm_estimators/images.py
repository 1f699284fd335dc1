"""Image inputs: the ``image_shape`` check and the two layouts an image estimator accepts.

Images reach an estimator either as flat rows ``(n_samples, C * H * W)`` (the scikit-learn
layout, which keeps pipelines and grid searches working) or as arrays ``(n_samples, C, H,
W)``; grey images may also come as ``(n_samples, H, W)``. Inside, every image is a flat row.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_flat_images", "check_image_shape"]


def check_image_shape(image_shape: object) -> tuple[int, int, int]:
    """``image_shape`` as ``(C, H, W)`` of positive ints, or a ``ValueError`` naming it."""
    try:
        shape = tuple(image_shape)  # type: ignore[arg-type]
    except TypeError:
        shape = ()
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, numbers.Integral)
                              or s < 1 for s in shape):
        raise ValueError(
            f"image_shape must be (channels, height, width), three positive ints, for example "
            f"(1, 8, 8) for grey 8x8 images; got {image_shape!r}."
        )
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


def as_flat_images(X: object, image_shape: tuple[int, int, int]) -> tuple[object, int]:
    """Flat rows of images given flat or as arrays of ``image_shape``, and the input's ndim.

    Parameters
    ----------
    X : array-like of shape (n, C*H*W), (n, C, H, W) or, for C = 1, (n, H, W)
    image_shape : (int, int, int)

    Returns
    -------
    X_flat : array-like of shape (n, C*H*W)
        ``X`` itself when it was 2-D (data frames and lists pass through to scikit-learn's
        own validation), a reshaped array otherwise.
    ndim : int
        2, 3 or 4: the layout ``X`` came in.

    Raises
    ------
    ValueError
        When the shape does not match ``image_shape``; the message names the parameter.
    """
    n_features = int(np.prod(image_shape))
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        ndim = np.ndim(X)
    if ndim == 2:
        n_cols = np.shape(X)[1]
        if n_cols != n_features:
            raise ValueError(
                f"X has {n_cols} features per row but image_shape={image_shape} needs "
                f"{n_features} (channels * height * width); pass images as flat rows of "
                f"{n_features} values or as an array of shape (n_samples, *image_shape), or "
                "fix image_shape."
            )
        return X, 2
    X = np.asarray(X)
    expected = image_shape if ndim == 4 else image_shape[1:]
    if ndim not in (3, 4) or (ndim == 3 and image_shape[0] != 1) or X.shape[1:] != expected:
        c, h, w = image_shape
        raise ValueError(
            f"X has shape {X.shape}, which does not match image_shape={image_shape}: pass "
            f"(n_samples, {n_features}) flat rows or (n_samples, {c}, {h}, {w}) images (grey "
            "images may drop the channel axis), or fix image_shape."
        )
    return X.reshape(len(X), n_features), ndim
