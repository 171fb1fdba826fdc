"""MAML-RL meta-gradient speed, CPU (tasks looped) vs CUDA (tasks vmapped), same meta-batch.

Times one second-order meta-gradient (``baselines.maml.meta_loss`` forward + backward) on
rollout-sized batches of CartPole shape (the env's sampling cost is not part of it), for a few
meta-batch sizes, and prints the GPU / CPU speed ratio. Without CUDA it prints the CPU figures.

    python scripts/maml_device_bench.py [--rows 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import torch

from baselines.common import Actions
from baselines.maml import CONFIG, Policy, TaskBatch, meta_loss


def batch(rows: int, obs_dim: int, n_actions: int, device: torch.device) -> TaskBatch:
    return TaskBatch(
        obs=torch.randn(rows, obs_dim, device=device),
        actions=torch.randint(0, n_actions, (rows,), device=device),
        masks=torch.ones(rows, n_actions, dtype=torch.bool, device=device),
        advantages=torch.randn(rows, device=device),
        logp_old=torch.full((rows,), -0.69, device=device),
    )


def seconds_per_meta_gradient(device: torch.device, meta_batch: int, rows: int, repeats: int) -> float:
    torch.manual_seed(0)
    actions = Actions(gym.spaces.Discrete(2))
    policy = Policy(4, actions, CONFIG.hidden).to(device)
    params = {k: v.detach().requires_grad_(True) for k, v in policy.named_parameters()}
    tasks = [([batch(rows, 4, 2, device)], batch(rows, 4, 2, device)) for _ in range(meta_batch)]
    use_vmap = device.type == "cuda"
    times = []
    for attempt in range(repeats + 2):  # two warm-ups
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss = meta_loss(policy, params, tasks, CONFIG, use_vmap)
        torch.autograd.grad(loss, list(params.values()))
        if device.type == "cuda":
            torch.cuda.synchronize()
        if attempt >= 2:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows per task batch (20 episodes of 100 steps)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as an agent worker runs
    cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}; cuda: {torch.cuda.get_device_name(0) if cuda else 'none'}")
    print(f"{'meta-batch':>10} {'cpu s':>9} {'cuda s':>9} {'gpu/cpu speed':>14}")
    for meta_batch in (4, 20, 40, 160):
        cpu = seconds_per_meta_gradient(torch.device("cpu"), meta_batch, args.rows, args.repeats)
        gpu = seconds_per_meta_gradient(torch.device("cuda"), meta_batch, args.rows, args.repeats) if cuda else None
        ratio = f"{cpu / gpu:14.1f}" if gpu else f"{'-':>14}"
        print(f"{meta_batch:>10} {cpu:9.4f} {gpu if gpu else float('nan'):9.4f} {ratio}")


if __name__ == "__main__":
    main()
