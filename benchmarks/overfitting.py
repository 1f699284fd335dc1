"""Does an estimator overfit? Train and test NLL gap to the truth for one configuration.

    python benchmarks/overfitting.py --family correlated_gaussian --dim 5 \
        --params '{"early_stopping": false}'

Prints the gap on the training rows and on fresh test rows (nats): a training gap well below
the test gap means the model has memorised its training data. A diagnostic that prints one
line; it writes no result file.
"""

import argparse
import json
import time

import numpy as np
import torch

from cdm_estimators.comparison import default_estimators
from cdm_estimators.datasets import KNOWN_DENSITIES_ND

ESTIMATORS = ["CDM", "TRE", "NCE"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", choices=ESTIMATORS, default="CDM")
    parser.add_argument("--family", choices=list(KNOWN_DENSITIES_ND), default="correlated_gaussian")
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--params", type=json.loads, default={})
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    make = KNOWN_DENSITIES_ND[args.family]
    X, log_prob = make(args.n_train + args.n_test, args.dim, random_state=0)
    X_train, X_test = X[:args.n_train], X[args.n_train:]
    est = default_estimators(random_state=0)[args.estimator].set_params(**args.params)
    start = time.perf_counter()
    est.fit(X_train)
    fit_time = time.perf_counter() - start
    train_gap = np.mean(log_prob(X_train) - est.score_samples(X_train))
    test_gap = np.mean(log_prob(X_test) - est.score_samples(X_test))
    print(json.dumps({"estimator": args.estimator, "family": args.family, "dim": args.dim,
                      "params": args.params, "epochs": est.n_iter_, "fit_s": round(fit_time, 1),
                      "train_gap": round(float(train_gap), 3),
                      "test_gap": round(float(test_gap), 3),
                      "log_normalizer_subtracted": round(float(est.log_normalizer_), 4)}))


if __name__ == "__main__":
    main()
