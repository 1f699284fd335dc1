"""Images: fit a CDM on scikit-learn's 8x8 digits, compare bits/dim with GMM and KDE, sample,
denoise.

    python examples/images.py                    # image defaults: a few minutes on 2 cores
    python examples/images.py --max-epochs 5     # a quick look (poor samples)

Digits have 17 grey levels (0..16). All three models see them as ``(k + u) / 17`` on [0, 1):
the CDM adds fresh uniform noise to every training batch (``dequantize=1/17``), GMM and KDE
are fitted on one dequantised draw, and all are scored with ``bits_per_dim`` on the same
dequantised test rows. Writes a grid of samples and a denoising figure.
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from cdm_estimators import ClassificationDensityEstimator  # noqa: E402
from cdm_estimators.comparison import gmm_with_cv_components, kde_with_cv_bandwidth  # noqa: E402
from cdm_estimators.metrics import bits_per_dim, dequantize  # noqa: E402
from cdm_estimators.plotting import image_grid, save_image_grid  # noqa: E402

N_LEVELS = 17


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", default="auto",
                        help="CDM epochs ('auto': the image defaults); small for a quick look")
    parser.add_argument("--sampler", default="ddpm", choices=["ddpm", "ddim", "dpm_solver_2"],
                        help="sampler of the grid (ddpm: every noise level)")
    parser.add_argument("--output", default="examples/output",
                        help="folder for digits_samples.png and digits_denoising.png")
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    images = load_digits().images.astype(int)  # (1797, 8, 8), levels 0..16
    train, test = train_test_split(images, test_size=0.3, random_state=0)
    max_epochs = args.max_epochs if args.max_epochs == "auto" else int(args.max_epochs)

    # Images as (n, 8, 8) arrays; flat (n, 64) rows work as well (and in a Pipeline).
    cdm = ClassificationDensityEstimator(image_shape=(1, 8, 8), dequantize=1 / N_LEVELS,
                                         max_epochs=max_epochs, random_state=0, verbose=1)
    print(f"Fitting a CDM on {len(train)} digits (image defaults, max_epochs={max_epochs})")
    start = time.perf_counter()
    cdm.fit(train / N_LEVELS)
    fitted = {"CDM": (cdm, time.perf_counter() - start)}

    flat_train = dequantize(train, N_LEVELS, random_state=0)
    for name, model in [("GMM (CV components)", gmm_with_cv_components(random_state=0)),
                        ("KDE (CV bandwidth)", kde_with_cv_bandwidth())]:
        start = time.perf_counter()
        fitted[name] = (model.fit(flat_train).best_estimator_, time.perf_counter() - start)

    print(f"\nTest bits/dim on {len(test)} digits (uniform: {np.log2(N_LEVELS):.2f}):")
    for name, (model, seconds) in fitted.items():
        bpd = bits_per_dim(model, test, N_LEVELS, n_draws=4, random_state=1)
        print(f"  {name:22s} {bpd:.3f}   fit {seconds:.0f} s")

    samples = cdm.sample(64, random_state=0, sampler=args.sampler)  # (64, 8, 8): fit's layout
    save_image_grid(samples, out / "digits_samples.png", value_range=(0, 1),
                    title=f"CDM samples ({args.sampler})")
    print(f"\nWrote {out / 'digits_samples.png'}")

    # Denoising: noise a few test digits to three levels, then E[x_0 | x_t] in one step.
    clean = (test[:8] + 0.5) / N_LEVELS
    levels = [cdm.n_timesteps // 10, cdm.n_timesteps // 4, cdm.n_timesteps // 2]
    rows = [clean]
    for t in levels:
        noisy = cdm.add_noise(clean, t, random_state=t)
        rows += [noisy, cdm.denoise(noisy, t)]
    fig, ax = plt.subplots(figsize=(7, 5.2))
    ax.imshow(image_grid(np.concatenate(rows), n_columns=8, value_range=(0, 1)), cmap="gray")
    ax.set_yticks(np.arange(len(rows)) * 9 + 3.5)  # 8 pixels and a 1-pixel line per row
    ax.set_yticklabels(["clean"] + [f"{kind} t={t}" for t in levels
                                    for kind in ("noisy", "denoised")], fontsize=8)
    ax.set_xticks([])
    ax.set_title("One-step denoising with the classifier's input-gradient", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "digits_denoising.png", dpi=100)
    print(f"Wrote {out / 'digits_denoising.png'}")


if __name__ == "__main__":
    main()
