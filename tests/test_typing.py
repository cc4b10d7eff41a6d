"""Type checkers see the optimizer classes (numadam ships py.typed): mypy on a small user script.

One mypy run, on two files: one that must check clean and one whose every marked line must be
reported. ``--follow-imports=silent`` reads numadam (and NumPy) without reporting their own
errors; the cache starts empty, so the run takes ~10 s.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import numadam

pytest.importorskip("mypy")

CLEAN = """\
import numpy as np
import numadam

x = np.zeros(3)
opt = numadam.Adam(x, 1e-3, (0.9, 0.99), maximize=True, check_finite="before")
opt.step(2 * x)
opt.lr = 1e-4
saved: dict = opt.state_dict()
base: numadam.Optimizer = numadam.Momentum(np.zeros(3, dtype=np.float32), lr=0.1)
schedule_free = numadam.ScheduleFreeAdamW(x, warmup_steps=10).eval()
numadam.RMSprop(x, alpha=0.9, foreach=None).step(x)
reveal_type(opt.step)
reveal_type(opt.lr)
reveal_type(schedule_free)
numadam.minimize(lambda v: float(v @ v), x, method=numadam.nadam, options={"lr": 0.1})
"""

FLAGGED = """\
import numpy as np
import numadam

x = np.zeros(3)
numadam.Adam(x, lrr=1e-3)  # flagged: Unexpected keyword argument "lrr" for "Adam"
numadam.AdamW(x, 1e-3, (0.9, 0.999), 1e-8, 1e-2, False, True)  # flagged: Too many positional
numadam.SGD(x, lr="0.1")  # flagged: Argument "lr" to "SGD" has incompatible type "str"
numadam.Adam(x).step("g")  # flagged: Argument 1 to "step" of "Optimizer" has incompatible type
numadam.Lion(x).lr = None  # flagged: Incompatible types in assignment
numadam.adamm  # flagged: Module has no attribute "adamm"
"""


def test_mypy_sees_the_classes_signatures(tmp_path):
    (tmp_path / "clean.py").write_text(CLEAN)
    (tmp_path / "flagged.py").write_text(FLAGGED)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")  # none of the user's or the project's
    root = Path(numadam.__file__).resolve().parents[1]  # this checkout's numadam, not another
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "--hide-error-context",
         "--no-pretty", "--show-error-codes", "clean.py", "flagged.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "MYPYPATH": str(root)},
    )
    output = result.stdout + result.stderr
    lines = output.splitlines()
    assert not [line for line in lines if line.startswith("clean.py") and "error" in line], output
    assert 'Revealed type is "def (grad: ' in output and "GPUArray" in output, output
    assert 'clean.py:13: note: Revealed type is "builtins.float"' in output or \
        'clean.py:13: note: Revealed type is "float"' in output, output
    assert re.search(r'clean.py:14: note: Revealed type is ".*ScheduleFreeAdamW"', output), output
    for number, line in enumerate(FLAGGED.splitlines(), 1):
        if "# flagged: " in line:
            message = line.split("# flagged: ")[1]
            assert re.search(rf"flagged.py:{number}: error: {re.escape(message)}", output), (
                f"line {number} ({message}) not reported:\n{output}")
    assert 'did you mean "lr"' in output, output
    assert result.returncode == 1, output
