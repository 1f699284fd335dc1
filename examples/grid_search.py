"""Choose the CDM's noise schedule and number of noise levels with GridSearchCV in a Pipeline.

GridSearchCV ranks the candidates by ``score`` (the mean held-out log-likelihood). Inside a
Pipeline the CDM sees scaled data, so its scores are densities of the SCALED data:
``Pipeline.score_samples`` adds no Jacobian. That is fine for ranking candidates (they all share
the scaler); to compare with the truth in the original units, subtract ``sum(log scale_)``, as
done at the end.

    python examples/grid_search.py                     # about 6 minutes on 2 cores
    python examples/grid_search.py --max-epochs 50     # a quick look
"""

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.datasets import KNOWN_DENSITIES_2D


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="moons", choices=list(KNOWN_DENSITIES_2D))
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=300,
                        help="epochs per candidate fit (2000 rows: 4 steps per epoch)")
    parser.add_argument("--cv", type=int, default=2)
    args = parser.parse_args()

    X, log_prob = KNOWN_DENSITIES_2D[args.dataset](args.n_train + 5000, random_state=0)
    X_train, X_test = X[:args.n_train], X[args.n_train:]

    pipe = Pipeline([
        ("scale", StandardScaler()),
        ("cdm", ClassificationDensityEstimator(max_epochs=args.max_epochs, random_state=0)),
    ])
    grid = GridSearchCV(
        pipe,
        {"cdm__schedule": ["uniform", "linear", "cosine", "ot"],
         "cdm__n_timesteps": [20, 100]},
        cv=args.cv,
        verbose=1,
    )
    start = time.perf_counter()
    grid.fit(X_train)
    print(f"Grid search took {time.perf_counter() - start:.0f} s")

    table = pd.DataFrame(grid.cv_results_)[
        ["param_cdm__schedule", "param_cdm__n_timesteps", "mean_test_score", "std_test_score",
         "mean_fit_time", "rank_test_score"]].sort_values("rank_test_score")
    print(table.to_string(index=False))
    print("Best:", grid.best_params_)

    # Back to the original units: log p(x) = log p_scaled(scale(x)) - sum(log scale).
    scaler = grid.best_estimator_.named_steps["scale"]
    log_density = grid.best_estimator_.score_samples(X_test) - np.log(scaler.scale_).sum()
    print(f"Best pipeline on {len(X_test)} test points: NLL {-log_density.mean():.3f}, "
          f"truth {-log_prob(X_test).mean():.3f}, "
          f"gap {np.mean(log_prob(X_test) - log_density):+.3f} nats")


if __name__ == "__main__":
    main()
