r"""Stateful optimizers on one flat parameter vector, shaped like ``torch.optim``.

::

    x = np.zeros(1000, dtype=np.float32)
    opt = numadam.Adam(x, lr=1e-3)
    for _ in range(100):
        opt.step(gradient(x))      # updates x in place

One class per entry of :data:`numadam.rules.VARIANTS`, written out in
``numadam/_optimizer_classes.py`` (generated from the rule modules by
``python -m numadam._generate_classes``) and bound to its rule by :class:`Optimizer`: each
validates its arguments once, keeps its state as arrays of the parameter's dtype on the
parameter's device, computes the per-step scalars on the host and hands the arrays to one fused
compiled loop (see :mod:`numadam.backends`).

Hyperparameters are attributes (``opt.lr = 1e-4``) validated when set, so a schedule can change
them between steps. ``state_dict()`` / ``load_state_dict()`` save and restore the step count, the
hyperparameters and every state vector exactly.

Parameter groups
----------------
``Adam([{"params": views["W"]}, {"params": views["b"], "lr": 1e-2}], lr=1e-3)`` (PyTorch's form,
over views of one flat vector as :func:`numadam.ravel` makes) or ``Adam(x, lr=1e-3,
groups=[{"range": (0, 10), "lr": 1e-2}])`` (ranges of a flat vector; the elements no range
covers form a last group with the constructor's hyperparameters) give parts of the vector
hyperparameters of their own; ``step(g)`` takes the gradient laid out like the vector, and one
compiled pass updates every group. ``opt.param_groups`` is PyTorch's list of dicts: a
hyperparameter set there applies from the next step, which validates it first, so a scheduler
loop written for ``torch.optim`` runs unchanged; with groups, ``opt.lr`` reads the constructor's
value and setting it raises. See :mod:`numadam._groups` for the rules of the layout.

Non-finite gradients
--------------------
With ``check_finite=True`` (the default) the finiteness test is fused into the update pass (a
block of the gradient is tested while in cache, then updated), at a small cost: every gradient
entry that is NaN or infinite is skipped (its parameter and state entries keep their values,
so no NaN ever enters them), every finite entry is updated, the step counts, and
:class:`~numadam.backends.NonFiniteGradientError` (a ``ValueError``) is raised after the pass,
saying how many entries were skipped. ``check_finite="before"`` checks the whole
gradient in a separate read-only pass first and, on a bad gradient, raises with nothing changed
(one more read of the gradient). ``check_finite=False`` does no check: NaN propagates, as in
PyTorch.

On the GPU (:mod:`numadam.cuda`) ``check_finite=True`` skips the same entries, but a step does
not wait for the GPU: the count reaches the host after the step has run, so the error is raised
by the first ``step()`` that finds it arrived (a later step, which takes its own step first) or by
``opt.synchronize()``, which waits for every launched step; its message and its ``counts``
attribute (``{step: count}``) name the step that skipped the entries. ``check_finite="before"``
waits for its count and raises with nothing changed, as on the CPU.

.. warning::
   The formulas are PyTorch's. Other libraries differ: scikit-learn and TensorFlow/Keras add
   :math:`\epsilon` to the *bias-corrected* step in the "efficient" form, and optax's RMSProp
   can put :math:`\epsilon` inside the square root. Trajectories then agree only approximately.
"""

from __future__ import annotations

from numadam import _optimizer_classes
from numadam._optimizer import CompiledStep, Optimizer, Vector, optimizer_class
from numadam._optimizer_classes import *  # noqa: F403  (the classes, one per registry entry)
from numadam._optimizer_classes import RMSProp as RMSprop  # PyTorch's spelling
from numadam.backends import NonFiniteGradientError
from numadam.rules import VARIANTS

__all__ = ["CLASSES", "CompiledStep", "NonFiniteGradientError", "Optimizer", "RMSprop", "Vector"]
__all__ += _optimizer_classes.__all__

#: class name -> optimizer class, one per registered variant that has a class.
CLASSES: dict[str, type[Optimizer]] = {}
for _variant in VARIANTS:
    if _variant.class_name:
        _class = getattr(_optimizer_classes, _variant.class_name, None)
        if _class is None or _class.__dict__.get("variant") is not _variant:
            _class = optimizer_class(_variant, CLASSES)  # out of step: warns
        CLASSES[_variant.class_name] = _class
