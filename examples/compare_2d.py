"""Compare CDM, TRE, NCE, KDE and a Gaussian mixture on a 2-D density, side by side.

Every estimator runs with its defaults (KDE and GMM cross-validated). Prints the test NLL gap
to the truth, log Z, and times; saves the learned densities next to the truth.

    python examples/compare_2d.py                       # pinwheel, about 10 minutes on 2 cores
    python examples/compare_2d.py --dataset moons --max-epochs 100 --output moons.png
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from cdm_estimators.comparison import (  # noqa: E402
    compare_estimators,
    default_estimators,
    results_to_markdown,
)
from cdm_estimators.datasets import KNOWN_DENSITIES_2D  # noqa: E402
from cdm_estimators.plotting import plot_densities_2d  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="pinwheel", choices=list(KNOWN_DENSITIES_2D))
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--max-epochs", default="auto",
                        help="epochs of the neural estimators ('auto' = their defaults)")
    parser.add_argument("--output", default="examples/output/compare_2d.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, log_prob = KNOWN_DENSITIES_2D[args.dataset](args.n_train + args.n_test,
                                                   random_state=args.seed)
    X_train, X_test = X[:args.n_train], X[args.n_train:]
    max_epochs = args.max_epochs if args.max_epochs == "auto" else int(args.max_epochs)
    estimators = default_estimators(args.seed, max_epochs=max_epochs, verbose=1)

    def report(result):
        print(f"{result.name}: gap {result.gap:+.3f} nats, log Z {result.log_normalizer:+.3f}, "
              f"fit {result.fit_time:.0f} s", flush=True)

    fitted = {}
    results = compare_estimators(estimators, X_train, X_test, log_prob, random_state=args.seed,
                                 callback=report, fitted=fitted)
    print(results_to_markdown(results))

    titles = {r.name: f"{r.name}: gap {r.gap:+.3f}" for r in results}
    fig = plot_densities_2d(fitted, log_prob, X=X_train, titles=titles, n_columns=3)
    fig.suptitle(f"{args.dataset}: test NLL gap to the truth (nats)", y=1.03)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120, bbox_inches="tight")
    print(f"Saved {args.output}")


if __name__ == "__main__":
    main()
