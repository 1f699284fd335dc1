"""scikit-learn's own estimator checks on a tiny configuration."""

from conftest import tiny_estimator
from sklearn.utils.estimator_checks import parametrize_with_checks

EXPECTED_FAILURES = {}


@parametrize_with_checks(
    [tiny_estimator(max_epochs=2, device="cpu")],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
