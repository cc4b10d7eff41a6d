"""Seconds per MNIST training epoch and peak memory: numadam beside PyTorch (data preloaded).

Usage::

    python benchmarks/bench_mnist.py [--epochs 3] [--data-dir DIR]

Each contender runs in its own subprocess so that its peak resident memory (``ru_maxrss``) is its
own: the same 784-128-10 ReLU MLP, cross-entropy, Adam(lr=1e-3), batch 64 shuffled. PyTorch gets
the data preloaded as float32 tensors (the fast way to write it, not the example's DataLoader).
Training time per epoch excludes evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

NUMADAM = r"""
import json, resource, sys, time
from numadam import mnist
from numadam.datasets import load_mnist
data = load_mnist(sys.argv[2] or None)
history = mnist.train(data, epochs=int(sys.argv[1]), out=lambda line: None)
print(json.dumps({"seconds": history.seconds, "accuracy": history.test_accuracy[-1],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

TORCH = r"""
import json, resource, sys, time
import numpy as np, torch
from numadam.datasets import load_mnist
data = load_mnist(sys.argv[2] or None)
torch.manual_seed(0)
X = torch.from_numpy(data.train_images.reshape(-1, 784).astype(np.float32) / 255)
y = torch.from_numpy(data.train_labels.astype(np.int64))
Xt = torch.from_numpy(data.test_images.reshape(-1, 784).astype(np.float32) / 255)
yt = torch.from_numpy(data.test_labels.astype(np.int64))
model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
seconds = []
for epoch in range(int(sys.argv[1])):
    start = time.perf_counter()
    order = torch.randperm(X.shape[0])
    for b in range(0, X.shape[0], 64):
        idx = order[b:b + 64]
        opt.zero_grad()
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
    seconds.append(time.perf_counter() - start)
with torch.no_grad():
    accuracy = (model(Xt).argmax(1) == yt).float().mean().item()
print(json.dumps({"seconds": seconds, "accuracy": accuracy,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code, epochs, data_dir):
    result = subprocess.run([sys.executable, "-c", code, str(epochs), data_dir or ""],
                            capture_output=True, text=True, check=True, env=os.environ.copy())
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    contenders = [("numadam (NumPy MLP + numadam.Adam)", NUMADAM)]
    try:
        import torch  # noqa: F401

        contenders.append(("PyTorch, data preloaded as tensors", TORCH))
    except ImportError:
        print("(PyTorch not installed: numadam only)")
    print(f"{'implementation':38} {'s/epoch (median)':>17} {'first epoch':>12} "
          f"{'peak MB':>8} {'test acc.':>10}")
    results = {}
    for label, code in contenders:
        r = run(code, args.epochs, args.data_dir)
        median = sorted(r["seconds"])[len(r["seconds"]) // 2]
        results[label] = median
        print(f"{label:38} {median:17.3f} {r['seconds'][0]:12.3f} {r['peak_mb']:8.0f} "
              f"{100 * r['accuracy']:9.2f}%")
    if len(results) == 2:
        ours, theirs = results.values()
        print(f"numadam is {theirs / ours:.1f}x faster per epoch")


if __name__ == "__main__":
    main()
