"""Several GPUs (or CPU processes), one CDM: data-parallel training with Hugging Face accelerate.

    pip install -e ".[accelerate]"
    accelerate launch --multi_gpu --num_processes 4 examples/multi_gpu.py   # 4 GPUs, one node
    accelerate launch --cpu --num_processes 2 examples/multi_gpu.py --max-epochs 2   # 2 CPU
    python examples/multi_gpu.py --max-epochs 2                            # one process

Every process runs this whole script on the same data and calls ``fit`` with
``accelerator=Accelerator()``: each trains on its share of every batch (``--batch-size`` is the
total), DistributedDataParallel averages the gradients, and all end with the same weights.
Process 0 reports the fit (steps/s, held-out log-likelihood, ``log Z``), checks that the
processes agree, and alone saves the model (``joblib``), which loads anywhere as a plain
one-process estimator. Data: the image CDM on scikit-learn's 8x8 digits (default), or a
built-in 2-D density (``--data eight_gaussians``).

``accelerate launch --cpu`` starts ONE process whatever ``--num_processes`` says (accelerate's
simple launcher; several CPU processes there need mpirun). This script notices that case and
starts the processes itself through ``torch.distributed.run`` (torchrun). Your own scripts:
``torchrun --nproc_per_node N script.py``, or ``accelerate launch --multi_gpu --num_processes
N`` (on a machine without GPUs that also runs N CPU processes over gloo).
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from accelerate import Accelerator
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.datasets import KNOWN_DENSITIES_2D

N_LEVELS = 17  # digits' grey levels


def cpu_processes_requested() -> int:
    """Processes that ``accelerate launch --cpu --num_processes N`` asked for when it started
    only this one (0 when that is not how this process was started)."""
    env = os.environ
    launched_alone = (env.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
                      and "MASTER_ADDR" in env and "WORLD_SIZE" not in env)
    if not launched_alone:
        return 0
    try:  # the launcher is this process's parent; its command line has the number
        import psutil

        words = psutil.Process().parent().cmdline()
    except Exception:  # noqa: BLE001 - no psutil, no parent: run as one process
        return 0
    for i, word in enumerate(words):
        match = re.fullmatch(r"--num[_-]processes(?:=(\d+))?", word)
        if match:
            value = match.group(1) or (words[i + 1] if i + 1 < len(words) else "")
            return int(value) if value.isdigit() else 0
    return 0


def relaunch_with_torchrun(n: int) -> int:
    """Run this script on ``n`` CPU processes (gloo) through torchrun; its exit status."""
    print(f"accelerate launch --cpu started one process; starting {n} with torchrun.",
          flush=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={n}", __file__, *sys.argv[1:]]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true"}
    env.pop("MASTER_ADDR", None)
    env.pop("MASTER_PORT", None)
    return subprocess.run(command, env=env, check=False).returncode


def load_data(name: str, n_train: int):
    """Training and test rows, the estimator for them, and the test score's label."""
    if name == "digits":
        images = load_digits().images.astype(int)
        train, test = train_test_split(images, test_size=0.3, random_state=0)
        rng = np.random.RandomState(1)  # one dequantised draw of the test images
        test = (test + rng.uniform(size=test.shape)) / N_LEVELS
        est = ClassificationDensityEstimator(image_shape=(1, 8, 8), dequantize=1 / N_LEVELS)
        return train / N_LEVELS, test, est
    make = KNOWN_DENSITIES_2D[name]
    train, _ = make(n_train, random_state=0)
    test, _ = make(5000, random_state=1)
    return train, test, ClassificationDensityEstimator(early_stopping=False)


def weights_digest(est) -> str:
    """SHA-256 of the trained and the averaged weights, bit for bit."""
    digest = hashlib.sha256()
    for module in (est.net_.module_, est.net_.ema_module_):
        for tensor in module.state_dict().values():
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits",
                        choices=["digits", *sorted(KNOWN_DENSITIES_2D)],
                        help="8x8 digits (image CDM) or a built-in 2-D density")
    parser.add_argument("--max-epochs", default="auto",
                        help="epochs ('auto': the estimator's default budget)")
    parser.add_argument("--batch-size", default="auto",
                        help="total batch over all processes ('auto': the default)")
    parser.add_argument("--n-train", type=int, default=20_000, help="rows of a 2-D density")
    parser.add_argument("--seed", type=int, default=0, help="random_state of the estimator")
    parser.add_argument("--output", default="examples/output/multi_gpu",
                        help="folder for model.joblib and report.json (process 0 writes)")
    args = parser.parse_args()

    requested = cpu_processes_requested()
    if requested > 1:
        sys.exit(relaunch_with_torchrun(requested))

    accelerator = Accelerator()
    train, test, est = load_data(args.data, args.n_train)
    auto_or_int = {"max_epochs": args.max_epochs, "batch_size": args.batch_size}
    est.set_params(accelerator=accelerator, random_state=args.seed,
                   verbose=int(accelerator.is_main_process),
                   **{k: v if v == "auto" else int(v) for k, v in auto_or_int.items()})
    accelerator.print(f"{accelerator.num_processes} process(es), {accelerator.distributed_type}"
                      f", device {accelerator.device}; fitting a CDM on {len(train)} rows of "
                      f"{args.data}")

    start = time.perf_counter()
    est.fit(train)
    seconds = time.perf_counter() - start
    history = est.net_.history
    steps = int(sum(len(epoch["batches"]) for epoch in history))
    score = float(est.score(test))

    # What every process ends with, compared on process 0.
    mine = {"rank": accelerator.process_index, "weights": weights_digest(est),
            "history": [[epoch.get("train_loss"), epoch.get("valid_loss")]
                        for epoch in history],
            "score": score, "log_normalizer": float(est.log_normalizer_)}
    everyone = accelerator.gather_for_metrics([mine], use_gather_object=True)

    out = Path(args.output)
    if accelerator.is_main_process:  # only one process saves
        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(est, out / "model.joblib")  # stored with accelerator=None
        agree = {key: all(p[key] == everyone[0][key] for p in everyone)
                 for key in ("weights", "history", "score", "log_normalizer")}
        report = {
            "data": args.data, "n_processes": accelerator.num_processes,
            "distributed_type": str(accelerator.distributed_type),
            "device": str(accelerator.device), "n_train": len(train),
            "epochs": est.n_iter_, "steps": steps, "fit_seconds": seconds,
            "steps_per_second": steps / seconds, "test_score": score,
            "log_normalizer": float(est.log_normalizer_),
            "batch_size": est.net_.batch_size, "processes_agree": agree,
            "per_process": everyone, "torch": torch.__version__,
        }
        (out / "report.json").write_text(json.dumps(report, indent=1))
        print(f"\n{steps} steps in {seconds:.1f} s ({steps / seconds:.1f} steps/s); "
              f"test log-likelihood {score:.3f} per row (log Z {est.log_normalizer_:.3f})")
        print(f"Processes agree: {agree}")
        print(f"Wrote {out / 'model.joblib'} and {out / 'report.json'}")
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main()
