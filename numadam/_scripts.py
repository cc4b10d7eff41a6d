"""``python -m numadam gallery`` and ``bench``: run the repository's gallery or benchmark scripts.

The scripts live beside the package in a source checkout (``gallery/``, ``benchmarks/``); each
runs in its own process, as a user would run it, with the options given here passed on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_folder(folder, prefix, argv):
    scripts = sorted(path for path in (ROOT / folder).glob(f"{prefix}*.py")
                     if not path.name.startswith("_"))
    if not scripts:
        print(f"no scripts found in {ROOT / folder} (they ship with the source repository)",
              file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        print(f"== {script.relative_to(ROOT)} {' '.join(argv)}", flush=True)
        if subprocess.run([sys.executable, str(script), *argv]).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def gallery(argv):
    """Regenerate every gallery image (pass ``--quick`` for small budgets)."""
    return _run_folder("gallery", "", argv)


def bench(argv):
    """Run every benchmark script (pass ``--quick`` where a script takes it)."""
    return _run_folder("benchmarks", "bench_", argv)
