"""Command line: ``python -m numadam <command> [options]``.

Each command lives in its own module, imported only when it runs, so ``--help`` stays fast.
"""

import importlib
import sys

#: command -> ("module", "function taking argv", one-line description)
COMMANDS = {
    "mnist": ("numadam.mnist", "main", "train the MNIST MLP (PyTorch's example) with numadam"),
    "gallery": ("numadam._scripts", "gallery", "regenerate gallery/images (--quick: small)"),
    "bench": ("numadam._scripts", "bench", "run the benchmark scripts in benchmarks/"),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:10} {description}" for name, (_, _, description) in COMMANDS.items()]
        print("usage: python -m numadam <command> [options]\n\ncommands:\n" + "\n".join(lines))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module, function, _ = COMMANDS[argv[0]]
    return getattr(importlib.import_module(module), function)(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
