"""Benchmark: speed of the paper's CIFAR-size U-Net classifier, step by step.

The network is :class:`cdm_estimators.image_networks.UNetClassifier` in the paper's CIFAR-10
configuration (base 128 channels, multipliers 1-2-2-2, 2 residual blocks per resolution,
attention at 16x16, dropout 0.1: about 33 M parameters), T = 1000 (linear schedule), 32x32x3
inputs. Timed, each the median of ``--repeats`` after warm-up:

* a training step: the CDM objective (CE + MSE of the denoiser, double backpropagation) and
  an Adam step, in float32 (TF32 matrix products on CUDA) and under bfloat16 autocast;
* a forward pass, and a denoiser step (forward + input-gradient);
* single-pass log-likelihood throughput at batch 512.

The reference figures for one H100 (the paper's own code, PyTorch 2.11, batch 128): 275 ms
per training step fp32 (466 images/s), 253 ms bf16 (506 images/s), 21.7 ms forward, 49 ms
denoiser step, 6,751 (fp32) and 7,905 (bf16) images/s log-likelihood. On a CPU, run it at a
stated smaller size (``--base-channels 32 --batch-size 8``). Not a test::

    python benchmarks/unet_step.py                        # CUDA when available
    python benchmarks/unet_step.py --device cpu --base-channels 32 --batch-size 8 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from harness import Provenance, save_result

from cdm_estimators.image_networks import UNetClassifier
from cdm_estimators.objective import (
    cdm_loss,
    classifier_logits,
    log_density_from_logits,
    predict_noise,
)
from cdm_estimators.schedules import make_schedule


def timed(fn, device: torch.device, repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--base-channels", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--score-batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--name", default=None, help="results file stem (default by device)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()

    device = torch.device(args.device)
    provenance = Provenance()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    schedule = make_schedule("linear", 1000)
    net = UNetClassifier((3, 32, 32), schedule.n_classes, base_channels=args.base_channels,
                         channel_mults=(1, 2, 2, 2), n_res_blocks=2,
                         attention_resolutions=(16,), dropout=0.1).to(device)
    for p in net.parameters():  # the zero-initialised head would make the graph trivial
        if p.dim() > 1 and torch.count_nonzero(p) == 0:
            torch.nn.init.normal_(p, std=0.01)
    n_params = sum(p.numel() for p in net.parameters())
    alpha = torch.as_tensor(schedule.alpha, dtype=torch.float32, device=device)
    sigma = torch.as_tensor(schedule.sigma, dtype=torch.float32, device=device)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    x = torch.randn(args.batch_size, 3 * 32 * 32, device=device)
    rows = []

    def record(what, precision, seconds, batch):
        row = {"what": what, "precision": precision, "batch": batch,
               "ms": 1000 * seconds, "images_per_s": batch / seconds}
        rows.append(row)
        print(row, flush=True)

    for precision in ("fp32", "bf16"):
        autocast = dict(device_type=device.type, dtype=torch.bfloat16,
                        enabled=precision == "bf16")

        def train_step(autocast=autocast):
            net.train()
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(**autocast):
                loss = cdm_loss(net, x, alpha, sigma, 1e-3, create_graph=True).loss
            loss.backward()
            optimizer.step()

        record("training step", precision, timed(train_step, device, args.repeats),
               args.batch_size)
        if device.type == "cuda" and precision == "fp32":
            torch.cuda.reset_peak_memory_stats(device)
            train_step()
            rows[-1]["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30

        net.eval()

        def forward(autocast=autocast):
            with torch.no_grad(), torch.autocast(**autocast):
                net(x)

        record("forward", precision, timed(forward, device, args.repeats), args.batch_size)

        def denoiser_step(autocast=autocast):
            t = torch.full((len(x),), 500, device=device, dtype=torch.long)
            with torch.autocast(**autocast):
                predict_noise(net, x.detach().requires_grad_(True), t, sigma)

        record("denoiser step", precision, timed(denoiser_step, device, args.repeats),
               args.batch_size)
        score_x = torch.randn(args.score_batch_size, 3 * 32 * 32, device=device)

        def likelihood(autocast=autocast, score_x=score_x):
            with torch.no_grad(), torch.autocast(**autocast):
                log_density_from_logits(classifier_logits(net, score_x).double(),
                                        score_x.double())

        record("log-likelihood", precision, timed(likelihood, device, args.repeats),
               args.score_batch_size)

    lines = ["| what | precision | batch | ms | images/s |", "|---|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['precision']} | {r['batch']} | {r['ms']:.1f} | "
              f"{r['images_per_s']:.0f} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if not args.no_save:
        name = args.name or f"unet_step_{device.type}"
        provenance.record["network"] = {"parameters": n_params,
                                        "base_channels": args.base_channels}
        path = save_result(
            name, f"CIFAR-size U-Net classifier, {n_params / 1e6:.1f} M parameters, on "
            f"{device.type}", __doc__.split("\n\n")[1] + "\n\n" + __doc__.split("\n\n")[2],
            {"Timings (median)": text}, rows, provenance)
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()
