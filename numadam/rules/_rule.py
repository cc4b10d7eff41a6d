"""What a rule module declares, and the helpers its element function may call.

A rule module (``numadam/rules/adam.py`` ...) holds everything about one update rule:

* ``element(i, g, param, state0, state1, state2, c, s)``: the update of element ``i`` given its
  gradient value ``g``, written once as a plain Python function. :func:`element` registers it
  with Numba's generic target, so that the same source is inlined into the CPU loops of
  :mod:`numadam.kernels` and compiled into the CUDA kernel of :mod:`numadam.cuda` (and run as
  Python by the CUDA simulator). Up to three state vectors; one the rule does not use with the
  current hyperparameters arrives as ``None``, and the code guarded by ``if v is not None`` is
  compiled away (see :func:`load`). ``c`` are the constants (a tuple in the parameters' dtype),
  ``s`` the per-step scalars.
* ``constants(h, to_dtype)``: the tuple ``c`` from the hyperparameters ``h`` (a dict).
* ``step_inputs(h)``: the float64 values the per-step scalars are computed from.
* ``step_scalars(inputs, carry, step)``: plain Python, also compiled by Numba for the compiled
  minimize loop; returns ``(s, carry)``. ``carry`` is scalar state that runs across steps (NAdam's
  product of momentum factors), ``()`` for most rules; ``step`` counts from 1.
* ``STATE_INVARIANTS``: what every state the rule produces satisfies (second moments are
  non-negative, AMSGrad's running max is at least ``v``, ...), as :class:`Invariant` records:
  :meth:`numadam.Optimizer.load_state_dict` refuses a state that breaks one, since the next
  step would turn it into NaN (a square root of a negative) or a silently wrong step;
* optionally a :class:`Reduction`: per-step global sums over the vector (Prodigy's estimate of
  the distance to the solution), computed by a pass before the update pass (or fused with it);
* a :class:`Rule` named ``RULE`` that ties these together with the state names, the
  hyperparameters and the docstring.

Arithmetic in an element must stay in the dtype of its inputs: a Python literal such as ``1`` is
an int64 inside Numba and would promote float32 to float64, so every constant comes in ``c`` or
``s`` already converted. Operations follow ``numadam._reference`` (PyTorch's single-tensor path)
in order, so every target agrees with it bitwise (``fastmath`` stays off: no reassociation, no
fused multiply-adds on the CPU).

Two compilers inline these helpers: Numba's own (the CPU loops, and Numba's built-in CUDA target)
and the numba-cuda package's copy of it, which keeps registries of its own and does not inline
what ``numba.extending`` registers (NVIDIA/numba-cuda#624). :func:`element` and the overloads
below therefore record what they register, and :func:`register_for_cuda` (called once by
:mod:`numadam.cuda`) registers the same functions with ``numba.cuda.extending``: one source,
two registrations, and ``import numadam`` never imports ``numba.cuda``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FunctionType
from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import overload, register_jitable

from numadam import _validation as check

#: Every function :func:`element` registered, and every ``(function, typer)`` pair registered by
#: :func:`_element_overload`: what :func:`register_for_cuda` registers with numba-cuda.
_ELEMENTS: list[Callable] = []
_OVERLOADS: list[tuple[Callable, Callable]] = []
#: numba-cuda's ``(register_jitable, overload, NoneType)`` once :func:`register_for_cuda` ran
#: with numba-cuda installed; ``None`` before (and with Numba's built-in CUDA target).
_cuda_extending = None


def element(function):
    """Register ``function`` for every Numba target, inlined at the call site.

    Inlining happens on Numba's IR, before LLVM sees the loop: a real call per element that
    passes arrays costs reference counting and blocks vectorization (20x slower).
    """
    _ELEMENTS.append(function)
    if _cuda_extending is not None:  # a rule defined after numadam.cuda was imported
        _cuda_extending[0](inline="always")(function)
    return register_jitable(inline="always")(function)


def element_name(function) -> str:
    """``<rule module>_<function>`` (``adam_update``): the part of the names of the loops built
    around an element that tells them apart in Numba's disk cache, which files a function under
    its name."""
    return f"{function.__module__.rsplit('.', 1)[-1]}_{function.__name__}"


def inlined_by(jit_inline):
    """A function that makes the copy of an :func:`element` that ``jit_inline`` (a compiler's
    decorator that inlines on Numba's untyped IR) compiles, with every element it names copied
    so in turn (see :func:`inlined_on_cpu`)."""

    @functools.cache
    def inlined(function):
        registered = {id(helper) for helper in _ELEMENTS}
        namespace = dict(function.__globals__)
        for name in function.__code__.co_names:
            if id(namespace.get(name)) in registered:
                namespace[name] = inlined(namespace[name])
        copy = FunctionType(function.__code__, namespace, function.__name__,
                            function.__defaults__, function.__closure__)
        copy.__qualname__, copy.__module__ = function.__qualname__, function.__module__
        return jit_inline(copy)

    return inlined


#: ``inlined_on_cpu(function)``: ``function`` (an :func:`element`) as the CPU loops call it: a
#: Numba function that Numba inlines on its untyped IR, before it types the loop, with the
#: elements it calls inlined so too.
#:
#: What :func:`element` registers is inlined only after Numba has typed and compiled it on its
#: own, for every signature it meets, and compiled its helpers so as well: that makes a kernel
#: take about twice as long to compile, for the same code. The GPU compilers cannot call a CPU
#: Numba function, so the rule modules keep the registered functions and the CPU loops take this
#: copy: the same code, with globals in which each element it names is this copy of that
#: element in turn (:mod:`numadam.cuda` makes its own with :func:`inlined_by`). A loop must
#: name it among its globals, not close over it: Numba's disk cache keys a closure by the
#: pickle of what it closes over, and a Numba function's pickle changes from process to process.
inlined_on_cpu = inlined_by(njit(inline="always"))


def _element_overload(function):
    """``overload(function, inline="always")`` for every Numba target, as :func:`element` does.

    The decorated typer is called as ``typer(none_type)`` and returns the typing function:
    numba-cuda may have its own ``NoneType`` class, against which it must test.
    """

    def decorate(typer):
        _OVERLOADS.append((function, typer))
        if _cuda_extending is not None:
            _cuda_extending[1](function, inline="always")(typer(_cuda_extending[2]))
        overload(function, inline="always")(typer(types.NoneType))
        return typer

    return decorate


def register_for_cuda():
    """Register every element helper with numba-cuda too, so that its compiler inlines them.

    Called by :mod:`numadam.cuda` when it is imported (only then is ``numba.cuda`` loaded);
    later calls do nothing. With Numba's built-in CUDA target (no numba-cuda package), which
    shares Numba's registries, there is nothing to add.
    """
    global _cuda_extending
    if _cuda_extending is not None:
        return
    try:
        from numba.cuda import types as cuda_types
        from numba.cuda.extending import overload as cuda_overload
        from numba.cuda.extending import register_jitable as cuda_register_jitable
    except ImportError:  # Numba's built-in target: numba.extending's registrations serve it
        return
    for function in _ELEMENTS:
        cuda_register_jitable(inline="always")(function)
    for function, typer in _OVERLOADS:
        cuda_overload(function, inline="always")(typer(cuda_types.NoneType))
    _cuda_extending = (cuda_register_jitable, cuda_overload, cuda_types.NoneType)


@element
def lerp(start, end, weight, one_minus_weight):
    """``torch.lerp(start, end, weight)`` for one element.

    PyTorch switches to ``end - (end - start) * (1 - weight)`` for ``|weight| >= 0.5`` to keep
    precision; ``one_minus_weight`` is ``1 - weight`` computed in the element dtype.
    """
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * one_minus_weight


@element
def maximum(a, b):
    """``np.maximum`` / ``torch.maximum`` for two scalars: the larger, or NaN if either is NaN."""
    if a > b or a != a:
        return a
    return b


@element
def minimum(a, b):
    """``np.minimum`` for two scalars: the smaller, or NaN if either is NaN."""
    if a < b or a != a:
        return a
    return b


def load(vector, i):
    """``vector[i]``; ``0`` when ``vector`` is an absent (``None``) state vector.

    Numba types both branches of ``if vector is not None`` before it removes the dead one, so the
    guarded code must type with ``None`` too: these two helpers make it so, and LLVM then drops
    the branch. Without them a runtime flag would guard the loads and stores, and LLVM would not
    vectorize the loop. The zero is a float32: where a loop inlines the element before typing
    it (:func:`inlined_on_cpu`), Numba cannot remove the dead branch first, and its values meet
    the live ones; the narrowest float leaves the live ones' dtype as it is.
    """
    return vector[i]


def store(vector, i, value):
    """``vector[i] = value``; nothing when ``vector`` is ``None`` (see :func:`load`)."""
    vector[i] = value


@_element_overload(load)
def _load(none_type):
    def typer(vector, i):
        if isinstance(vector, none_type):
            return lambda vector, i: np.float32(0.0)
        return lambda vector, i: vector[i]

    return typer


@_element_overload(store)
def _store(none_type):
    def typer(vector, i, value):
        if isinstance(vector, none_type):
            return lambda vector, i, value: None

        def implementation(vector, i, value):
            vector[i] = value

        return implementation

    return typer


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter: its PyTorch default, its validator and one line of documentation.

    ``fixed`` ones decide which state vectors exist and cannot change after creation.
    """

    default: Any
    validate: Callable[[str, Any], Any]
    doc: str
    fixed: bool = False
    #: Keyword-only in the optimizer's signature, as in PyTorch's (``maximize``).
    keyword_only: bool = False
    #: Its type in the optimizer's signature, as source text (``"float"``); ``None`` derives it
    #: from the default (a bool, an int, a float or a tuple of floats).
    annotation: str | None = None


#: The hyperparameter every rule has, as PyTorch spells it.
MAXIMIZE = Hyperparameter(False, check.flag, "ascend instead of descend", keyword_only=True)
#: The Adam family's choice between an L2 term and AdamW's decoupled decay (PyTorch 2.x).
DECOUPLED_WEIGHT_DECAY = Hyperparameter(False, check.flag,
                                        "decay the weights, not the gradient", keyword_only=True)


@dataclass(frozen=True)
class Invariant:
    """A property of the state that every step of the rule keeps, checked when a state is loaded.

    ``holds(state, h, step)`` returns a boolean (array) that is true where the property holds;
    ``state`` maps the state vectors' names (and the carried scalars' names) to their loaded
    values, ``h`` holds the loaded hyperparameters with the fixed ones, ``step`` is the loaded
    step count. ``entry`` is the vector (or carried scalar) the message names, ``reads`` the
    other vectors it reads: an invariant whose vectors are empty (unused with these
    hyperparameters) is not checked. ``text`` completes "loaded state 'entry' must be ...".
    """

    entry: str
    holds: Callable[[dict, dict, int], Any]
    text: str
    reads: tuple[str, ...] = ()


def nonnegative(name: str) -> Invariant:
    """The invariant of a running mean (or sum, or max) of squares or absolute values."""
    return Invariant(name, lambda state, h, step: state[name] >= 0,
                     "non-negative (a running mean or sum of squares or magnitudes)")


def _no_combination_check(current: dict, candidate: dict) -> None:
    """Most rules have no check that involves several hyperparameters."""


def _all_state_used(name: str, hyperparameters: dict) -> bool:
    return True


def _no_step_inputs(hyperparameters: dict) -> tuple:
    return ()


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Rule:
    """Everything about one update rule; see the module docstring."""

    name: str
    class_name: str
    doc: str
    hyperparameters: dict[str, Hyperparameter]
    state: tuple[str, ...]
    element: Callable
    constants: Callable[[dict, Callable], tuple]
    step_scalars: Callable[[tuple, tuple, int], tuple]
    step_inputs: Callable[[dict], tuple] = _no_step_inputs
    #: Initial value of the scalar state carried from step to step (``()`` for none).
    carry: tuple = ()
    #: Names of the carried scalars, for ``state_dict()``.
    carry_names: tuple[str, ...] = ()
    state_is_used: Callable[[str, dict], bool] = _all_state_used
    check_combination: Callable[[dict, dict], None] = _no_combination_check
    #: Initial value of each state vector (PyTorch's: zeros unless the rule says otherwise), or
    #: ``"params"`` for a copy of the parameters.
    initial_state: Callable[[str, dict], Any] = field(default=lambda name, h: 0.0)
    #: Rules whose parameter vector holds one of several points (schedule-free's gradient point
    #: and evaluation point): mode name -> element function that moves ``param`` into that mode,
    #: called with ``mode_constants(mode, h, to_dtype)`` as ``c``. The first mode is the initial
    #: one and the only one in which ``step`` may run. Empty for ordinary rules.
    modes: dict[str, Callable] = field(default_factory=dict)
    mode_constants: Callable[[str, dict, Callable], tuple] | None = None
    #: What every state the rule produces satisfies (the module's ``STATE_INVARIANTS``),
    #: checked by ``load_state_dict``.
    state_invariants: tuple[Invariant, ...] = ()
    #: Per-step global sums (:class:`Reduction`), ``None`` for the elementwise rules.
    reduction: Reduction | None = None


#: The order of a reduction's sums: every loop reads the vector in blocks of
#: ``REDUCTION_BLOCK`` consecutive elements, each block as rows of ``REDUCTION_LANES``; lane
#: ``j`` adds the ``j``-th term of the block's rows from 0.0 in float64, the block's sum adds
#: its lanes in order, and the total the blocks' sums in block order (see
#: :func:`numadam.kernels.for_reduction`). The serial and the parallel loops share the order,
#: so they agree bitwise, and so does ``numadam._reference``'s NumPy form.
REDUCTION_BLOCK = 4096
REDUCTION_LANES = 256


@dataclass(frozen=True)
class Reduction:
    """Global sums a rule needs each step, before (or while) it updates the vector.

    A step of a rule with a reduction runs so (host, then kernels)::

        s, carry = rule.step_scalars(inputs, carry, step)       # the first pass's scalars
        sums = reduce pass: element(i, g, param, *state, c, s) -> (a_i, b_i), summed
        update, s2, carry = finish(inputs, carry, step, sums)
        update pass: rule.element(i, g, param, *state, c, s2)   # if update

    * ``element(i, g, param, state0, state1, state2, state3, c, s)``: the first pass for one
      element: it updates state vectors, and ``param`` too where the update does not need the
      sums (the pass is then fused: D-Adaptation's Adam); it returns two terms ``(a, b)`` in
      the parameters' dtype, each converted to float64 and summed over the vector in the
      order of :data:`REDUCTION_BLOCK` and :data:`REDUCTION_LANES`. Elements whose gradient is
      not finite are skipped by the checked loops (they add nothing, and change nothing). It
      is called with an unsigned index; a store it makes under a condition is written as an
      unconditional store of a chosen value (a conditional store keeps LLVM from vectorizing
      the pass).
    * ``finish(inputs, carry, step, sums)``: from the two float64 sums, ``(update, scalars,
      carry)``: whether an update pass is due, its scalars and the new carry. No update pass
      where the first pass updated ``param`` itself (fused), or where the step ends early
      (Prodigy's zero denominator); ``scalars`` is then a tuple of the same types, unused.
      Plain Python that Numba compiles too (as ``step_scalars``), so one type per value.
    * ``shaped(shape)`` (optional): for a parameter group whose elements have ``shape``
      (:mod:`numadam._groups`), the step the optimizer classes take on them instead of the
      two passes (Adafactor's factored second moment), or ``None`` to step them as a vector
      (Adafactor's answer below two dimensions). The step is called as ``step(param, grad,
      states, h, inputs, scalars, carry, step, checked, threads)`` with the group's elements
      (1-D, C-contiguous), its views of the state vectors, its hyperparameters ``h``, step
      inputs and scalars, whether to skip non-finite gradient entries and whether to run on
      Numba's threads; it returns ``(skipped, carry)``.

    Rules with a reduction have up to four state vectors; their loops are
    :func:`numadam.kernels.for_reduction`'s. The optimizer classes, ``minimize``'s loops
    (Python, lean and compiled) and ``minimize_batch`` (each problem's step on its own row, in
    both forms) run them, and so does the GPU (:mod:`numadam.cuda`, the same order of sums);
    parameter groups step each group as a separate optimizer on its elements would (its own
    sums and carry); ZeRO-1 refuses them (see :func:`refuse`).
    """

    element: Callable
    finish: Callable[[tuple, tuple, int, tuple], tuple]
    shaped: Callable[[tuple], Callable | None] | None = None


def refuse(rule: Rule, what: str) -> None:
    """Raise a clear error where ``what`` (a target) cannot run a rule with a reduction."""
    if rule.reduction is not None:
        raise NotImplementedError(
            f"method {rule.name!r} ({rule.class_name}) needs global sums over the vector each "
            f"step (a reduction stage), which {what} does not support yet; use the optimizer "
            f"class, minimize or minimize_batch")
