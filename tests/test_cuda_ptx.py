"""Every CUDA kernel compiles for real GPUs: PTX for compute capabilities 8.0 and 9.0, without a
GPU (numba-cuda's NVVM from PyPI, ``pip install -e ".[cuda]"``).

The simulator that tests/test_cuda.py runs executes each kernel as Python, so it cannot tell
whether numba-cuda compiles it; this test compiles them all with :func:`numadam.cuda.kernel_ptx`
and fails on any compile error, on any float64 instruction in a float32 kernel (a literal or a
helper promoting the arithmetic), and on any kernel argument typed ``none`` (numba-cuda's
launch cannot pass it). It skips where numba-cuda or its NVVM is missing.

The compilation runs in a fresh process per dtype: the simulator is chosen for the whole process
when ``numba.cuda`` is first imported, and tests/test_cuda.py chooses it. Typing and lowering the
kernels is Python-bound (about 1 s each); the second compute capability reuses the lowering and
only runs NVVM again. The fast suite compiles float32 (where a float64 instruction would be a
bug); float64, the same code with the other type, runs under ``-m slow``.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numadam.rules import VARIANTS
from tests.rule_table import ROWS

ROOT = Path(__file__).resolve().parent.parent
COMPUTE_CAPABILITIES = [(8, 0), (9, 0)]
DTYPES = ["float32", "float64"]
HELPERS = ["fill", "copy", "count_nonfinite"]
#: the rules whose parameter groups' kernel is compiled (numadam.cuda._GROUPED_SAMPLE)
GROUPED_SAMPLE = ["Adam", "SGD"]

# Run in a fresh interpreter for one dtype: prints one JSON object, {"skip": reason} when NVVM is
# missing, else the kernels' argument types and, per compute capability, their PTX or the error.
SCRIPT = """
import json, sys
from numba import cuda, types

def probe(a):  # no numadam code: whether NVVM compiles at all
    a[0] = 1.0
try:
    cuda.compile_ptx(probe, (types.float32[::1],), cc=(8, 0))
except Exception as error:
    print(json.dumps({"skip": f"numba-cuda cannot compile PTX here: "
                              f"{type(error).__name__}: {error}"}))
    sys.exit()

import numadam.cuda as nc
dtypes = [sys.argv[1]]
result = {"signatures": {label: [str(t) for t in argument_types] for label, argument_types
                         in nc.kernel_signatures(dtypes).items()}, "ptx": {}, "errors": {}}
for cc in json.loads(sys.argv[2]):
    try:
        result["ptx"][str(cc)] = nc.kernel_ptx(cc=tuple(cc), dtypes=dtypes)
    except RuntimeError as error:
        result["errors"][str(cc)] = str(error)
print(json.dumps(result))
"""

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                                reason="numba-cuda is not installed (pip install -e '.[cuda]')")


class Compiled(dict):
    """``{dtype: result}``, each dtype compiled in its own process when first asked for."""

    def __missing__(self, dtype):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        env.pop("NUMBA_ENABLE_CUDASIM", None)  # numba-cuda's real compiler, not the simulator
        process = subprocess.run(
            [sys.executable, "-c", SCRIPT, dtype, json.dumps(COMPUTE_CAPABILITIES)], cwd=ROOT,
            env=env, capture_output=True, text=True, timeout=600)
        assert process.returncode == 0, process.stderr[-3000:]
        result = self[dtype] = json.loads(process.stdout)
        if "skip" in result:
            pytest.skip(result["skip"])
        return result


@pytest.fixture(scope="module")
def compiled():
    """The kernels' PTX and signatures per dtype (see :class:`Compiled`)."""
    return Compiled()


#: float32 in the fast suite (where a float64 instruction would be a bug); float64 compiles the
#: same code with the other type, under ``-m slow``
DTYPE_PARAMS = [pytest.param(dtype, marks=[pytest.mark.slow] if dtype == "float64" else [])
                for dtype in DTYPES]


def _ptx(compiled, dtype, cc):
    """``{label: PTX}`` of ``dtype``'s kernels for ``cc``, or the failure listing every kernel
    that did not compile."""
    errors = compiled[dtype]["errors"]
    assert str(list(cc)) not in errors, errors.get(str(list(cc)))
    return compiled[dtype]["ptx"][str(list(cc))]


def _expected_kernels():
    """How many distinct kernels one dtype needs, from the tests' own option grids: per rule,
    one update kernel for each pattern of state vectors its options reach (and one first pass
    for a rule with a reduction stage), plus its mode switches; plus the helpers."""
    patterns = {}
    for row in ROWS:
        rule = row.cls.variant.rule
        for options in row.cases():
            optimizer = row.cls(np.zeros(1), **options)
            present = tuple(vector is not None for vector in optimizer._state_vectors)
            patterns.setdefault(rule, set()).add(present)
    return (sum(len(found) * (1 if rule.reduction is None else 2) + len(rule.modes)
                for rule, found in patterns.items()) + len(HELPERS) + len(GROUPED_SAMPLE))


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("cc", COMPUTE_CAPABILITIES, ids=lambda cc: f"cc{cc[0]}{cc[1]}")
def test_every_kernel_compiles(compiled, dtype, cc):
    """Every kernel of ``dtype`` compiles for ``cc``; each rule and each state pattern the
    option grids reach is among them."""
    ptx = _ptx(compiled, dtype, cc)
    assert len(ptx) == _expected_kernels()
    assert set(ptx) == set(compiled[dtype]["signatures"])
    for variant in VARIANTS:  # each rule by the name of its class
        assert any(label.startswith(variant.rule.class_name + "(") for label in ptx)
        if variant.rule.reduction is not None:
            assert any(label.startswith(variant.rule.class_name + "(")
                       and label.endswith(f").reduce {dtype}") for label in ptx)
    assert {label for label in ptx if label.endswith(f" groups {dtype}")} == {
        f"{name}() groups {dtype}" for name in GROUPED_SAMPLE}
    target = f".target sm_{cc[0]}{cc[1]}"
    for label, code in ptx.items():
        assert label.endswith(" " + dtype)
        assert target in code and ".entry" in code, label


@pytest.mark.parametrize("cc", COMPUTE_CAPABILITIES, ids=lambda cc: f"cc{cc[0]}{cc[1]}")
def test_float32_kernels_use_no_float64(compiled, cc):
    """No ``.f64`` instruction (arithmetic, conversion, load) in a float32 kernel: arithmetic in
    an element stays in the dtype of its inputs (see numadam.rules._rule). The first passes of
    the rules with a reduction stage are the exception by design: they add their terms in
    float64, as the CPU loops do (``add.f64``, which this checks they hold)."""
    ptx = _ptx(compiled, "float32", cc)
    promoted = [label for label, code in ptx.items()
                if re.search(r"\.f64\b", code) and not label.endswith(").reduce float32")]
    assert promoted == []
    first_passes = [code for label, code in ptx.items() if label.endswith(").reduce float32")]
    assert first_passes and all("add.f64" in code or "add.rn.f64" in code
                                for code in first_passes)


@pytest.mark.slow
@pytest.mark.parametrize("cc", COMPUTE_CAPABILITIES, ids=lambda cc: f"cc{cc[0]}{cc[1]}")
def test_the_float64_pattern_finds_float64_kernels(compiled, cc):
    """The pattern of the test above does find ``.f64`` where it belongs."""
    assert all(re.search(r"\.f64\b", code) for label, code
               in _ptx(compiled, "float64", cc).items() if not label.startswith(tuple(HELPERS)))


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_no_kernel_takes_none(compiled, dtype):
    """numba-cuda cannot pass ``None`` to a kernel: no argument of any launch is typed
    ``none`` (absent state vectors go as placeholders, see numadam.cuda._kernel_for)."""
    signatures = compiled[dtype]["signatures"]
    assert signatures
    with_none = {label: types for label, types in signatures.items() if "none" in types}
    assert with_none == {}
    assert all(f"array({dtype}, 1d, C)" in types for types in signatures.values())
