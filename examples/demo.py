"""Demo: fit a CDM on a 2-D density, compare it with a cross-validated KDE, sample, plot.

    python examples/demo.py                 # defaults: 4,000 points, a few minutes on 2 cores
    python examples/demo.py --dataset rings --output rings.png
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cdm_estimators import ClassificationDensityEstimator, estimate_log_normalizer  # noqa: E402
from cdm_estimators.comparison import kde_with_cv_bandwidth  # noqa: E402
from cdm_estimators.datasets import KNOWN_DENSITIES_2D  # noqa: E402


def density_grid(score, lim, n=200):
    axis = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(axis, axis)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    return np.exp(score(points)).reshape(n, n), (-lim, lim, -lim, lim)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="eight_gaussians", choices=list(KNOWN_DENSITIES_2D))
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--output", default="examples/output/demo.png")
    parser.add_argument("--max-epochs", default="auto",
                        help="CDM epochs ('auto': about 12,000 steps); small for a quick look")
    args = parser.parse_args()

    X, log_prob = KNOWN_DENSITIES_2D[args.dataset](args.n_train + 5000, random_state=0)
    X_train, X_test = X[: args.n_train], X[args.n_train:]

    print(f"Fitting a CDM on {args.n_train} points of {args.dataset!r}, "
          f"max_epochs={args.max_epochs}")
    start = time.perf_counter()
    max_epochs = args.max_epochs if args.max_epochs == "auto" else int(args.max_epochs)
    cdm = ClassificationDensityEstimator(max_epochs=max_epochs, random_state=0, verbose=1)
    cdm.fit(X_train)
    cdm_time = time.perf_counter() - start

    start = time.perf_counter()
    kde = kde_with_cv_bandwidth().fit(X_train).best_estimator_  # the benchmarks' "KDE (CV)"
    kde_time = time.perf_counter() - start

    true_ll = np.mean(log_prob(X_test))
    print(f"\nMean test log-likelihood (nats; truth {true_ll:.4f}):")
    for name, model, seconds in [("CDM", cdm, cdm_time), ("KDE (CV bandwidth)", kde, kde_time)]:
        ll = np.mean(model.score_samples(X_test))
        log_z = estimate_log_normalizer(model, X_train, n_samples=50_000, random_state=0)
        print(f"  {name:20s} {ll:.4f}  gap to truth {true_ll - ll:+.4f}  "
              f"log-normaliser {log_z.log_normalizer:+.4f}  fit {seconds:.0f} s")

    samples = cdm.sample(3000, random_state=0)
    lim = float(np.abs(X).max()) * 1.05
    panels = [
        ("truth", density_grid(log_prob, lim)),
        ("CDM density", density_grid(cdm.score_samples, lim)),
        (f"KDE (bandwidth {kde.bandwidth:.3f})", density_grid(kde.score_samples, lim)),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    for ax, (title, (image, extent)) in zip(axes, panels):
        ax.imshow(image, extent=extent, origin="lower", cmap="viridis")
        ax.set_title(title)
    axes[3].scatter(*samples.T, s=2, alpha=0.5, label="CDM samples")
    axes[3].set_xlim(-lim, lim)
    axes[3].set_ylim(-lim, lim)
    axes[3].set_aspect("equal")
    axes[3].set_title("3,000 CDM samples (DDPM sampler)")
    fig.tight_layout()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"\nWrote {out}")


if __name__ == "__main__":
    main()
