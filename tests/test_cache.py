"""Numba's disk cache of numadam's per-rule loops follows edits of any numadam source file."""

import shutil
import subprocess
import sys

STEP = """
import numpy as np, numadam
optimizer = numadam.SGD(np.ones(3), lr=0.25)
optimizer.step(np.ones(3))
print(optimizer.param.tolist())
"""


def test_an_edited_rule_is_compiled_afresh_not_loaded_from_the_cache(tmp_path):
    """The SGD kernel is a closure in kernels.py over the element function in rules/sgd.py;
    Numba alone would key its cache by kernels.py and load the old kernel after an edit of
    rules/sgd.py."""
    import numadam

    package = tmp_path / "numadam"
    shutil.copytree(numadam.__path__[0], package,
                    ignore=shutil.ignore_patterns("__pycache__"))

    def step():
        return subprocess.run([sys.executable, "-c", STEP], cwd=tmp_path, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert step() == "[0.75, 0.75, 0.75]"  # compiles and caches the kernel
    assert step() == "[0.75, 0.75, 0.75]"  # loads it
    rule = package / "rules" / "sgd.py"
    source = rule.read_text()
    assert "param[i] = p + neg_lr * g" in source
    rule.write_text(source.replace("param[i] = p + neg_lr * g", "param[i] = p + 2 * neg_lr * g"))
    assert step() == "[0.5, 0.5, 0.5]"
