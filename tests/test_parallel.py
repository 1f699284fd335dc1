"""Data-parallel training through accelerate (the [accelerate] extra): one process in this
one, and two CPU processes over gloo started the way users start them."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from conftest import tiny, two_clusters

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.datasets import make_eight_gaussians
from cdm_estimators.net import ArrayBatchLoader

accelerate = pytest.importorskip("accelerate")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "multi_gpu.py"
LAUNCH_TIMEOUT = 600


@pytest.fixture(scope="module")
def accelerator():
    return accelerate.Accelerator(cpu=True)


# ----------------------------------------------------------------- in this one process
def test_one_process_accelerator_gives_the_plain_fit(accelerator):
    X = two_clusters(300)
    plain = tiny("CDM", device="cpu", early_stopping=True, n_iter_no_change=2).fit(X)
    accelerated = tiny("CDM", device="auto", early_stopping=True, n_iter_no_change=2,
                       accelerator=accelerator).fit(X)
    assert accelerated.device_ == "cpu"
    np.testing.assert_array_equal(accelerated.score_samples(X), plain.score_samples(X))
    assert accelerated.net_.history[:, "valid_loss"] == plain.net_.history[:, "valid_loss"]
    # After training the module is the plain one (scoring, sampling, pickling).
    assert not isinstance(accelerated.net_.module_, torch.nn.parallel.DistributedDataParallel)


def test_pickled_estimator_is_a_plain_one(accelerator):
    X = two_clusters(200)
    est = tiny("CDM", device="auto", accelerator=accelerator).fit(X)
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.accelerator is None and loaded.net_.accelerator is None
    assert est.accelerator is accelerator  # the fitted estimator keeps its own
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
    loaded.set_params(warm_start=True, max_epochs=1).fit(X)  # trains on, without accelerate


def test_warm_start_and_partial_fit_with_an_accelerator(accelerator):
    X = two_clusters(200)
    est = tiny("CDM", device="auto", accelerator=accelerator, warm_start=True).fit(X)
    est.fit(X)
    est.partial_fit(X)
    assert est.n_iter_ == 2 * tiny("CDM").max_epochs + 1
    assert np.isfinite(est.score_samples(X)).all()


class Tweaked:
    """A real accelerator with some attributes replaced (fp16 cannot be built on a CPU)."""

    def __init__(self, real, **overrides):
        self._real = real
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.mark.parametrize("overrides, message", [
    ({"mixed_precision": "fp16"}, "mixed_precision='fp16' is not supported"),
    ({"gradient_accumulation_steps": 2}, "gradient_accumulation_steps must be 1"),
    ({"distributed_type": accelerate.DistributedType.DEEPSPEED}, "DEEPSPEED is not supported"),
])
def test_unsupported_accelerator_settings_are_refused(accelerator, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny("CDM", device="auto", accelerator=Tweaked(accelerator, **overrides)).fit(
            two_clusters(50))


def test_bad_accelerator_and_device_conflict_are_named(accelerator):
    with pytest.raises(TypeError, match="accelerator must be an accelerate.Accelerator"):
        tiny("CDM", accelerator="cuda").fit(two_clusters(50))
    with pytest.raises(ValueError, match="conflicts with the accelerator's device"):
        tiny("CDM", device="cuda", accelerator=accelerator).fit(two_clusters(50))


@pytest.mark.parametrize("n_rows, batch_size, n_shards", [(10, 4, 2), (9, 4, 2), (13, 5, 3),
                                                          (8, 8, 4), (3, 2, 2)])
def test_shards_cover_each_batch_once(n_rows, batch_size, n_shards):
    class Data:
        X = np.arange(n_rows, dtype=np.float32)[:, None]

    def loader():
        return ArrayBatchLoader(Data, batch_size, shuffle=True,
                                generator=torch.Generator().manual_seed(0))

    whole = [b[:, 0].tolist() for b, _ in loader()]
    parts = [[b[:, 0].tolist() for b, _ in loader().shard(n_shards, i)]
             for i in range(n_shards)]
    assert len({len(p) for p in parts}) == 1  # the processes take the same number of steps
    for j, batch in enumerate(whole[:len(parts[0])]):
        assert sorted(sum((p[j] for p in parts), [])) == sorted(batch)
        assert min(len(p[j]) for p in parts) >= 1
    skipped = whole[len(parts[0]):]  # only a last batch too short to share
    assert all(len(b) < n_shards for b in skipped) and len(skipped) <= 1
    assert len(loader().shard(n_shards, 0)) == len(parts[0])


# ---------------------------------------------------------- two processes over gloo
def launch(args, tmp_path, timeout=LAUNCH_TIMEOUT):
    """Run ``accelerate launch`` with ``args`` from the repository root; its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("WORLD_SIZE", None)
    result = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", *args],
                            cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def test_gradients_are_all_reduced_exactly_once(tmp_path):
    out = tmp_path / "gradients.json"
    launch(["--multi_gpu", "--num_processes", "2",
            str(ROOT / "tests" / "scripts" / "parallel_gradients.py"), str(out)], tmp_path)
    findings = json.loads(out.read_text())
    assert findings["n_processes"] == 2 and findings["finite"]
    assert findings["batches"]
    for batch in findings["batches"]:
        assert batch["rows"] == 32  # half of each 64-row batch
        assert batch["synced_vs_mean_of_local"] <= 1e-6 * batch["gradient_scale"]
        # ...and it is neither this process's own gradient nor the sum (reduced twice).
        assert batch["synced_vs_own_local"] > 1e-3 * batch["gradient_scale"]
        assert batch["synced_vs_sum_of_local"] > 1e-3 * batch["gradient_scale"]


@pytest.mark.slow
def test_example_on_two_cpu_processes(tmp_path):
    """The command of the issue: two processes, identical weights and history, one saved
    model that loads into a plain estimator with the same scores."""
    output = launch(["--cpu", "--num_processes", "2", str(EXAMPLE), "--max-epochs", "2",
                     "--output", str(tmp_path / "out")], tmp_path)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["n_processes"] == 2 and "MULTI_CPU" in report["distributed_type"], output
    assert all(report["processes_agree"].values()), report["processes_agree"]
    history = report["per_process"][1]["history"]  # [train_loss, valid_loss] per epoch
    assert report["epochs"] == 2 and len(history) == 2 and None not in history[0]
    model = joblib.load(tmp_path / "out" / "model.joblib")
    assert model.accelerator is None
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        from multi_gpu import load_data
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    _, test, _ = load_data("digits", 0)
    np.testing.assert_allclose(model.score(test), report["test_score"], rtol=1e-6)


@pytest.mark.slow
def test_two_processes_learn_as_well_as_one(tmp_path):
    """Same total batch, same steps: the 2-process density is as good as the 1-process one
    on a known density (seed-to-seed spread of the 1-process fits: about 0.003 nats)."""
    params = dict(n_train=4000, max_epochs=40, batch_size=256)
    launch(["--multi_gpu", "--num_processes", "2", str(EXAMPLE), "--data", "eight_gaussians",
            *[f"--{k.replace('_', '-')}={v}" for k, v in params.items()],
            "--output", str(tmp_path / "out")], tmp_path)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    X, _ = make_eight_gaussians(params["n_train"], random_state=0)
    test, log_prob = make_eight_gaussians(5000, random_state=1)
    one = ClassificationDensityEstimator(early_stopping=False, max_epochs=params["max_epochs"],
                                         batch_size=params["batch_size"], device="cpu",
                                         random_state=0).fit(X)
    assert report["steps"] == len(one.net_.history) * len(one.net_.history[-1, "batches"])
    truth = float(np.mean(log_prob(test)))
    assert report["test_score"] >= one.score(test) - 0.03, (report["test_score"],
                                                            one.score(test), truth)
    assert abs(report["log_normalizer"]) < 0.2
