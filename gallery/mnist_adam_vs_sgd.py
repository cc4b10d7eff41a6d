"""MNIST: the experiment's Adam (lr=1e-3) against its comparison, plain SGD (lr=0.01).

    python gallery/mnist_adam_vs_sgd.py [--quick]

Trains the 784-128-10 MLP with each, 5 epochs of batch 64 (``--quick``: 2 epochs on 10,000
images), and plots the average training loss and the test accuracy per epoch. Needs the MNIST
files (see ``numadam.datasets``). Writes ``images/mnist_adam_vs_sgd.png``.
"""

import numpy as np
from _common import parse_args, plt, save

from numadam import mnist
from numadam.datasets import load_mnist

RUNS = [("Adam, lr=1e-3", "adam", 1e-3, "tab:red"), ("SGD, lr=0.01", "sgd", 1e-2, "tab:gray")]


def main():
    args = parse_args(__doc__.splitlines()[0])
    data = load_mnist()
    epochs, subset = (2, 10_000) if args.quick else (5, None)
    histories = {}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, optimizer, lr, color in RUNS:
        history = mnist.train(data, epochs=epochs, optimizer=optimizer, lr=lr,
                              train_subset=subset, out=lambda line: None)
        histories[label] = history
        epoch = np.arange(1, epochs + 1)
        ax_loss.plot(epoch, history.train_loss, "o-", color=color, label=label)
        ax_acc.plot(epoch, 100 * np.array(history.test_accuracy), "o-", color=color,
                    label=label)
    ax_loss.set(xlabel="epoch", ylabel="average training loss", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.set_xticks(np.arange(1, epochs + 1))  # whole epochs only
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save(fig, args.out, "mnist_adam_vs_sgd.png")
    for label, history in histories.items():
        print(f"{label:14} test accuracy per epoch: "
              + ", ".join(f"{100 * a:.2f}%" for a in history.test_accuracy))
    return histories


if __name__ == "__main__":
    main()
