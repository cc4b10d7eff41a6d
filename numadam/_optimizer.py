"""The machinery of numadam's optimizers: :class:`Optimizer` (validation, state, steps, state
dicts), the hyperparameter attributes, and the binding of a class to its registry entry. The
classes themselves are in :mod:`numadam._optimizer_classes` (generated from the registry) and
are published by :mod:`numadam.optimizers`, whose docstring tells their behaviour."""

from __future__ import annotations

import inspect
import types
import warnings
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from numba.core.errors import TypingError

from numadam import _validation as check
from numadam.backends import NonFiniteGradientError, backend_for
from numadam.rules import VARIANTS, Variant

__all__ = ["Optimizer", "NonFiniteGradientError", "CompiledStep", "GPUArray", "Vector"]


class GPUArray(Protocol):
    """A GPU array: anything exposing ``__cuda_array_interface__`` (a Numba device array, a CuPy
    array, a PyTorch CUDA tensor; see :mod:`numadam.cuda`)."""

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]: ...


#: A parameter or gradient vector, for annotations: a float32 or float64 NumPy array, or a GPU
#: array.
Vector: TypeAlias = npt.NDArray[np.floating[Any]] | GPUArray

_Self = TypeVar("_Self", bound="Modes")

#: PyTorch's implementation flags, accepted so that code written for ``torch.optim`` runs:
#: name -> (default, values accepted, why other values are refused).
TORCH_FLAGS = {
    "foreach": (None, (None, False, True),
                "numadam always updates in one fused pass; foreach selects nothing"),
    "fused": (None, (None, False, True),
              "numadam always updates in one fused pass; fused selects nothing"),
    "capturable": (False, (False,), "numadam has no CUDA-graph capture"),
    "differentiable": (False, (False,), "numadam's step is not differentiable (no autograd)"),
}


def _torch_flag(name, value):
    default, accepted, reason = TORCH_FLAGS[name]
    if not (value is None or isinstance(value, (bool, np.bool_))):
        raise TypeError(f"{name} must be None, True or False, got {value!r}")
    if value not in accepted:
        raise ValueError(f"{name}={value!r} is not supported: {reason}; leave it at {default!r}")


def _check_finite_mode(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value == "before":
        return value
    error = ValueError if isinstance(value, str) else TypeError
    raise error(f"check_finite must be True, False or 'before', got {value!r}")


def _read_only(vector):
    """A read-only view of a NumPy ``vector``; a GPU array as it is (it has no such flag)."""
    if not isinstance(vector, np.ndarray):
        return vector
    view = vector.view()
    view.flags.writeable = False
    return view


def _as_python(values):
    """Floats as Python floats (exact: they hold values of the parameters' dtype), flags as
    bools: the fastest types for Numba's dispatcher to unbox."""
    return tuple(value if isinstance(value, bool) else float(value) for value in values)


class CompiledStep(NamedTuple):
    """What a compiled loop needs to run an optimizer's update itself (``minimize``'s
    compiled loop): the kernel, the rule's per-step scalar function, and the values they take.
    Only for float64 parameters on the CPU."""

    kernel: Any
    step_scalars: Any
    state: tuple
    constants: tuple
    inputs: tuple
    carry: tuple


class _Hyperparameter:
    """A validated hyperparameter attribute: ``opt.lr = -1`` raises, ``opt.lr = 1e-4`` sticks."""

    def __init__(self, validate, *, settable=True):
        self.validate = validate
        self.settable = settable

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        values = obj._hyperparameters
        if self.name in values:
            return values[self.name]
        if self.name in obj._fixed:  # a subclass fixes it (AdamW's decoupled_weight_decay)
            return obj._fixed[self.name]
        raise AttributeError(f"{type(obj).__name__} has no hyperparameter {self.name!r}")

    def __set__(self, obj, value):
        if not self.settable and self.name in obj._hyperparameters:
            raise AttributeError(
                f"{self.name} is fixed when the optimizer is created (it decides which state "
                f"vectors exist); create a new optimizer to change it"
            )
        obj._set_hyperparameters({self.name: value})


class Optimizer:
    """Base class: owns the parameter vector, the state vectors and the step count.

    Each subclass is one :class:`numadam.rules.Variant` (``Adam``, ``AdamW`` ...); its
    constructor takes the parameter vector, the rule's hyperparameters, PyTorch's implementation
    flags (``foreach``, ``fused``, ``capturable``, ``differentiable``: accepted at the values
    that change nothing) and ``check_finite``. ``class Adam(Optimizer, variant="Adam")`` binds a
    subclass to the registry entry with that class name, whose rule, hyperparameters and
    defaults it takes; the classes are written so in ``numadam/_optimizer_classes.py``,
    generated from the registry. A subclass without ``variant=`` is its base's variant.

    Parameters
    ----------
    params : ndarray or GPU array
        The parameter vector, 1-D, C-contiguous, writeable, float32 or float64. It is updated in
        place and never copied. A GPU array (a Numba device array, a CuPy array, a PyTorch CUDA
        tensor: anything exposing ``__cuda_array_interface__``) puts the optimizer on the GPU:
        its state lives there, gradients must be GPU arrays too, and ``self.device`` is
        ``"cuda"`` (see :mod:`numadam.cuda`).
    check_finite : True, False or "before"
        What a non-finite gradient does; see the module docstring.
    """

    variant: Variant
    #: Names of the state vectors.
    state_names: tuple[str, ...] = ()
    _names: tuple[str, ...]  # the hyperparameters'
    _defaults: dict[str, Any]  # of every argument but params

    def __init_subclass__(cls, variant: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if variant is not None:
            bind(cls, variant)

    def __init__(self, params, *args, **kwargs):
        if not args and kwargs.keys() <= self._defaults.keys():
            # the common call, by keyword (minimize's): the signature's binding, without the
            # ~15 us of inspect's (half the construction of a small optimizer)
            values = {**self._defaults, **kwargs}
        else:
            bound = self.__signature__.bind(params, *args, **kwargs)
            bound.apply_defaults()
            values = dict(bound.arguments)
            values.pop("params")
        for name in TORCH_FLAGS:
            _torch_flag(name, values.pop(name))
        check_finite = values.pop("check_finite")
        rule = self.variant.rule
        self._rule = rule
        self._step_scalars = rule.step_scalars
        self._backend = backend = backend_for(params)
        self.device = backend.device
        self._param = backend.parameter_vector("params", params)
        self._param_owns_memory = isinstance(self._param, np.ndarray) and self._param.base is None
        self.dtype = self._param.dtype
        # Host scalars are converted to the parameter dtype. For float64 a Python float is that
        # dtype already, and Numba's dispatcher unboxes it faster than an np.float64.
        self._to_dtype = float if self.dtype == np.float64 else self.dtype.type
        self._fixed = dict(self.variant.fixed)
        self._hyperparameters = {}
        self._set_hyperparameters(values)
        self.step_count = 0
        self._carry = rule.carry
        n = self._param.shape[0]
        every = self._all_hyperparameters()
        self._state = {}
        for name in rule.state:
            initial = rule.initial_state(name, every)
            if isinstance(initial, str) and initial == "params":
                self._state[name] = backend.copy(self._param)
            else:
                self._state[name] = backend.full(n if rule.state_is_used(name, every) else 0,
                                                 initial, self.dtype)
        self._state_view = None  # made on first use: ~10 us of a small optimizer's creation
        self._mode = next(iter(rule.modes), None)
        # The kernel's 3 state slots, None for a vector the rule does not use.
        vectors = [vector if vector.shape[0] == n and rule.state_is_used(name, every) else None
                   for name, vector in self._state.items()]
        self._state_vectors = tuple(vectors + [None] * (3 - len(vectors)))
        # where the GPU's counts of skipped entries wait for the host (None on the CPU)
        self._reports = backend.nonfinite_reports()
        self.check_finite = check_finite

    @property
    def param(self) -> Vector:
        """The parameter vector, updated in place by :meth:`step` (the array given at
        creation; not re-assignable: the state vectors are sized for it)."""
        return self._param

    @property
    def state(self) -> Mapping[str, Vector]:
        """The state vectors by name, read-only views (saving and restoring them:
        :meth:`state_dict`, :meth:`load_state_dict`)."""
        if self._state_view is None:
            self._state_view = types.MappingProxyType(
                {name: _read_only(vector) for name, vector in self._state.items()})
        return self._state_view

    @property
    def check_finite(self) -> bool | Literal["before"]:
        """``True``, ``False`` or ``"before"``: what a non-finite gradient does (module
        docstring); settable."""
        return self._check_finite

    @check_finite.setter
    def check_finite(self, value: bool | Literal["before"]) -> None:
        self._check_finite = _check_finite_mode(value)
        checked = self._check_finite is True
        self._kernel = self._backend.update(self._rule, self._param.shape[0], checked=checked,
                                            reports=self._reports if checked else None)

    # -- hyperparameters --------------------------------------------------------------------

    def _all_hyperparameters(self):
        return {**self._hyperparameters, **self._fixed}

    def _set_hyperparameters(self, values):
        """Validate ``values``, check them together with the rest, then apply them all or none."""
        unknown = set(values) - set(self.hyperparameter_names())
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected hyperparameter(s) {sorted(unknown)}; "
                f"it takes {list(self.hyperparameter_names())}"
            )
        candidate = dict(self._hyperparameters)
        for name, value in values.items():
            candidate[name] = getattr(type(self), name).validate(name, value)
        every = {**candidate, **self._fixed}
        current = self._all_hyperparameters() if self._hyperparameters else {}
        self._rule.check_combination(current, every)
        self._hyperparameters = candidate
        # Computed in the parameters' dtype, handed over as Python floats (see kernels).
        self._constants = _as_python(self._rule.constants(every, self._to_dtype))
        self._inputs = self._rule.step_inputs(every)

    @classmethod
    def hyperparameter_names(cls) -> tuple[str, ...]:
        """Names of the hyperparameters, in declaration order."""
        return cls._names

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """A copy of the current hyperparameters, as a dict."""
        return dict(self._hyperparameters)

    # -- stepping ----------------------------------------------------------------------------

    def step(self, grad: Vector) -> None:
        """Update the parameters in place with one step along ``grad``.

        Parameters
        ----------
        grad : ndarray or GPU array
            The gradient of the objective at the current parameters: same shape, dtype and
            device as the parameters. It is only read (read-only arrays are fine).

        Raises
        ------
        TypeError, ValueError
            ``grad`` of another dtype or shape; nothing is changed then.
        NonFiniteGradientError
            A gradient holding NaN or inf, with ``check_finite``: see the module docstring for
            what was updated. On the GPU, with ``check_finite=True``, raised by a later step
            for an earlier one (this step was taken then): see :meth:`synchronize`.
        """
        param = self._param
        # The common case in a few attribute reads (a microsecond is a third of a small step):
        # a NumPy gradient that owns its memory, as the parameters do, cannot overlap them.
        if not (type(grad) is np.ndarray and grad.base is None and self._param_owns_memory
                and grad.dtype is param.dtype and grad.shape == param.shape
                and grad is not param and grad.flags.c_contiguous):
            grad = self._backend.check_grad(grad, param)
        if self._mode is not None and self._mode != next(iter(self._rule.modes)):
            raise RuntimeError(
                f"{type(self).__name__}.step needs train mode; the parameters hold the "
                f"evaluation point now: call train() first (and eval() before evaluating)"
            )
        if self._check_finite == "before":
            bad = self._backend.count_nonfinite(grad)
            if bad:
                raise NonFiniteGradientError.unchanged(bad)
        # the step is counted once it ran: one that raises leaves the count (and the bias
        # corrections of the steps after it) as they were
        step = self.step_count + 1
        try:
            scalars, carry = self._step_scalars(self._inputs, self._carry, step)
        except (OverflowError, ZeroDivisionError) as error:
            raise ValueError(
                f"{type(self).__name__}: the per-step scalars of step {step} cannot be computed "
                f"with these hyperparameters ({error}); nothing was changed"
            ) from None
        reports = self._reports
        # on the GPU: the counts of earlier steps that have arrived, read without waiting
        late = reports.ready() if reports is not None else None
        try:
            skipped = self._kernel(param, grad, *self._state_vectors, self._constants, scalars)
        except TypingError:
            if isinstance(param, np.ndarray) and not param.flags.writeable:
                raise ValueError("params became read-only after the optimizer was created; it "
                                 "updates them in place") from None
            raise
        self.step_count, self._carry = step, carry
        if skipped:
            raise NonFiniteGradientError.skipped(skipped, step)
        if reports is not None:
            reports.launched(step)
            if late:
                raise NonFiniteGradientError.late(late, step)

    def step_prechecked(self, grad: Vector) -> int:
        """:meth:`step` for callers that checked ``grad`` themselves (``minimize``): an array of
        the parameters' type, dtype and shape, C-contiguous, not overlapping them.

        Returns the number of non-finite entries skipped (with ``check_finite=True``), else 0;
        on the GPU, those of earlier steps whose counts have arrived (see :meth:`synchronize`).
        """
        step = self.step_count + 1
        scalars, carry = self._step_scalars(self._inputs, self._carry, step)
        reports = self._reports
        late = reports.ready() if reports is not None else None
        skipped = self._kernel(self._param, grad, *self._state_vectors, self._constants, scalars)
        self.step_count, self._carry = step, carry  # counted once it ran, as in step
        if reports is not None:
            reports.launched(step)
            skipped += sum(count for _, count in late)
        return skipped

    def synchronize(self) -> None:
        """Wait until the steps launched so far have run, and report what they skipped.

        On the CPU a step is done when :meth:`step` returns: this does nothing. On the GPU a
        step returns without waiting for the GPU, and with ``check_finite=True`` the count of
        the non-finite gradient entries it skipped reaches the host later, without the host
        waiting for it: the first :meth:`step` after it arrived raises
        :class:`NonFiniteGradientError` for it (having taken its own step). This waits for every
        launched step and raises for the counts not reported yet, if any: call it after the last
        step, or wherever the error must be raised at a known point.

        Raises
        ------
        NonFiniteGradientError
            Steps not reported yet skipped non-finite entries; its ``counts`` attribute maps
            each such step to its count.
        """
        if self._reports is None:
            return
        late = self._backend.synchronize(self._reports)
        if late:
            raise NonFiniteGradientError.late(late)

    def compiled_step(self) -> CompiledStep | None:
        """The :class:`CompiledStep` of this optimizer, for a loop compiled with Numba that runs
        its updates (the unchecked serial kernel); after it ran, :meth:`advance` records the
        steps. ``None`` unless the parameters are float64 NumPy arrays."""
        if self.device != "cpu" or self.dtype != np.float64:
            return None
        from numadam import kernels
        from numadam.rules._jit import jitted_step_scalars

        return CompiledStep(kernels.for_rule(self._rule.element).serial,
                            jitted_step_scalars(self._rule), self._state_vectors,
                            self._constants, self._inputs, self._carry)

    def advance(self, steps: int, carry: tuple) -> None:
        """Record ``steps`` updates made by a compiled loop from :meth:`compiled_step`, with the
        scalar state ``carry`` it ended with."""
        self.step_count += steps
        self._carry = tuple(carry)

    # -- saving and restoring ---------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain Python and NumPy objects (copies).

        Returns
        -------
        dict
            ``{"step": int, "hyperparameters": dict, "state": {name: ndarray}}``, plus the scalar
            state of rules that carry one. Vectors unused with these hyperparameters (e.g.
            ``max_exp_avg_sq`` without AMSGrad) are empty.
        """
        saved = {
            "step": self.step_count,
            "hyperparameters": self.hyperparameters,
            "state": {name: self._backend.to_host(vector) for name, vector in self._state.items()},
        }
        if self._rule.carry_names:
            saved["carry"] = dict(zip(self._rule.carry_names, self._carry))
        if self._mode is not None:
            saved["mode"] = self._mode
        return saved

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`, checked whole before anything changes.

        Raises
        ------
        ValueError, TypeError
            Missing or unexpected entries, a vector of another size or dtype, a negative step,
            a state no step of the rule could produce (its module's ``STATE_INVARIANTS``: a
            negative second moment, an AMSGrad max below ``exp_avg_sq``, Rprop step sizes
            outside ``step_sizes``, ...).
        """
        keys = {"step", "hyperparameters", "state"}
        keys |= {"carry"} if self._rule.carry_names else set()
        keys |= {"mode"} if self._rule.modes else set()
        if not isinstance(state_dict, dict) or set(state_dict) != keys:
            raise ValueError(
                f"state_dict must be a dict with the keys {sorted(keys)}, as returned by "
                f"state_dict()"
            )
        step = state_dict["step"]
        if (isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer))
                or not 0 <= step < 2**62):  # a count the compiled loops can take
            raise ValueError(f"state_dict['step'] must be a non-negative integer below 2**62, "
                             f"got {step!r:.40}")
        vectors = state_dict["state"]
        if not isinstance(vectors, dict) or set(vectors) != set(self.state_names):
            raise ValueError(
                f"state_dict['state'] must hold exactly the vectors {list(self.state_names)}, "
                f"got {sorted(vectors) if isinstance(vectors, dict) else vectors!r}"
            )
        for name, vector in vectors.items():
            expected = self._state[name]
            if not isinstance(vector, np.ndarray) or vector.dtype != self.dtype:
                raise TypeError(
                    f"loaded state {name!r} must be an array of dtype {self.dtype}, got "
                    f"{check.describe_array(vector)}"
                )
            if vector.shape != tuple(expected.shape):
                raise ValueError(
                    f"loaded state {name!r} has shape {vector.shape}, the optimizer's has "
                    f"{tuple(expected.shape)} (parameters of size {self._param.shape[0]})"
                )
            if not np.isfinite(vector).all():
                raise ValueError(f"loaded state {name!r} holds NaN or inf")
        carry = self._carry
        if self._rule.carry_names:
            saved_carry = state_dict["carry"]
            if not isinstance(saved_carry, dict) or set(saved_carry) != set(
                    self._rule.carry_names):
                raise ValueError(f"state_dict['carry'] must hold exactly "
                                 f"{list(self._rule.carry_names)}, got {saved_carry!r}")
            carry = tuple(check.finite_real(f"state_dict['carry'][{name!r}]", saved_carry[name])
                          for name in self._rule.carry_names)
        mode = state_dict.get("mode", self._mode)
        if self._rule.modes and mode not in self._rule.modes:
            raise ValueError(f"state_dict['mode'] must be one of {list(self._rule.modes)}, "
                             f"got {mode!r}")
        hyperparameters = state_dict["hyperparameters"]
        if not isinstance(hyperparameters, dict) or set(hyperparameters) != set(
            self.hyperparameter_names()
        ):
            raise ValueError(
                f"state_dict['hyperparameters'] must hold exactly "
                f"{list(self.hyperparameter_names())}, got {hyperparameters!r}"
            )
        for name in self.hyperparameter_names():
            if not getattr(type(self), name).settable and hyperparameters.get(name) != getattr(
                self, name
            ):
                raise ValueError(
                    f"loaded hyperparameter {name}={hyperparameters.get(name)!r} differs from "
                    f"this optimizer's {getattr(self, name)!r}, which is fixed at creation"
                )
        saved = self._hyperparameters
        try:  # against the current ones: momentum may not switch on or off
            self._set_hyperparameters(hyperparameters)
            self._check_invariants(vectors, carry, int(step))
        except Exception:
            self._hyperparameters = {}
            self._set_hyperparameters(saved)
            raise
        for name, vector in vectors.items():
            if vector.shape[0]:
                self._backend.copy_in(self._state[name], vector)
        self.step_count = int(step)
        self._carry = carry
        self._mode = mode  # the saved parameters are at that mode's point

    def _check_invariants(self, vectors, carry, step):
        """The rule's state invariants (its module's ``STATE_INVARIANTS``) on a state about to
        be loaded, with the loaded hyperparameters: a ValueError naming the first entry that
        breaks one. A negative second moment, say, would make the next step NaN everywhere."""
        values = {**vectors, **dict(zip(self._rule.carry_names, carry))}
        every = self._all_hyperparameters()
        for invariant in self._rule.state_invariants:
            names = (invariant.entry, *invariant.reads)
            if any(np.size(values[name]) == 0 for name in names):
                continue  # a vector unused with these hyperparameters
            holds = np.asarray(invariant.holds(values, every, step))
            if not holds.all():
                where = int(np.argmin(holds.ravel()))
                value = float(np.ravel(values[invariant.entry])[where])
                at = f" at index {where}" if np.ndim(values[invariant.entry]) else ""
                raise ValueError(f"loaded state {invariant.entry!r} must be {invariant.text}; "
                                 f"it is {value!r}{at}")

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={value!r}" for name, value in self._hyperparameters.items())
        return (
            f"{type(self).__name__}(<{self._param.shape[0]} x {self.dtype}>, {settings}, "
            f"step={self.step_count})"
        )


class Modes:
    """``train()`` / ``eval()`` for rules whose parameter vector holds one of several points
    (schedule-free): each switch is one compiled pass of the rule's mode element."""

    def _switch(self, mode):
        if self._mode == mode:
            return
        rule = self._rule
        every = self._all_hyperparameters()
        # A pass of the mode's element: it reads no gradient (the parameters stand in for one).
        move = self._backend.update(_ModeSwitch(rule.modes[mode]), self._param.shape[0],
                                    checked=False)
        move(self._param, self._param, *self._state_vectors,
             _as_python(rule.mode_constants(mode, every, self._to_dtype)), ())
        self._mode = mode

    def train(self: _Self) -> _Self:
        """Move the parameters to the point where gradients are taken (train mode)."""
        self._switch("train")
        return self

    def eval(self: _Self) -> _Self:
        """Move the parameters to the point to evaluate, test or save (eval mode)."""
        self._switch("eval")
        return self

    @property
    def mode(self) -> str:
        """``"train"`` or ``"eval"``."""
        return self._mode


class _ModeSwitch(NamedTuple):
    element: Any


# ------------------------------------------------------------------------------------------------
# One class per registered variant
# ------------------------------------------------------------------------------------------------


def signature_of(variant):
    """``(params, <hyperparameters>, *, <keyword-only ones>, foreach, ..., check_finite)``."""
    P = inspect.Parameter
    hyperparameters = variant.hyperparameters()
    positional = [P("params", P.POSITIONAL_OR_KEYWORD)] + [
        P(name, P.POSITIONAL_OR_KEYWORD, default=spec.default)
        for name, spec in hyperparameters.items() if not spec.keyword_only
    ]
    keyword = [P(name, P.KEYWORD_ONLY, default=spec.default)
               for name, spec in hyperparameters.items() if spec.keyword_only]
    keyword += [P(name, P.KEYWORD_ONLY, default=default)
                for name, (default, _, _) in TORCH_FLAGS.items()]
    keyword.append(P("check_finite", P.KEYWORD_ONLY, default=True))
    return inspect.Signature(positional + keyword)


def annotation(spec):
    """The type of a hyperparameter in its optimizer's signature, as source text."""
    if spec.annotation is not None:
        return spec.annotation
    default = spec.default
    if type(default) in (bool, int, float):
        return type(default).__name__
    if isinstance(default, tuple) and default and all(type(v) is float for v in default):
        return f"tuple[{', '.join(['float'] * len(default))}]"
    raise TypeError(f"no type to derive from the default {default!r}: give the Hyperparameter "
                    f"an annotation")


def _parameters_doc(variant):
    lines = ["Parameters", "----------", "params : ndarray or GPU array",
             "    1-D, C-contiguous, writeable float32 or float64 vector, updated in place."]
    for name, spec in variant.hyperparameters().items():
        lines.append(f"{name} : {annotation(spec)}, default {spec.default!r}")
        lines.append(f"    {spec.doc[0].upper()}{spec.doc[1:]}"
                     + (". Fixed at creation." if spec.fixed else "."))
    lines += ["foreach, fused, capturable, differentiable",
              "    PyTorch's implementation flags, accepted at the values that change nothing.",
              "check_finite : True, False or 'before', default True",
              "    See :mod:`numadam.optimizers`."]
    return "\n".join(lines)


def class_doc(variant):
    """The docstring of ``variant``'s class: the rule's (or the variant's) own, then its
    parameters."""
    doc = inspect.cleandoc(variant.doc or variant.rule.doc)
    return f"{doc}\n\n{_parameters_doc(variant)}\n"


def base_names(variant, made):
    """The names of the bases of ``variant``'s class, given the names of the classes ``made``
    before it. AdamW is an Adam, Momentum an SGD, as in PyTorch: a variant subclasses its
    rule's class; a rule with modes (schedule-free) adds ``train()`` and ``eval()``."""
    base = variant.rule.class_name if variant.rule.class_name in made else "Optimizer"
    return ("Modes", base) if variant.rule.modes and base == "Optimizer" else (base,)


#: Where the classes are written, for the messages saying that it is out of step.
GENERATED = "numadam/_optimizer_classes.py"
REGENERATE = "python -m numadam._generate_classes"


def _out_of_step(message):
    warnings.warn(f"{GENERATED} is out of step with the registry (numadam.rules): {message}; "
                  f"regenerate it with `{REGENERATE}`", RuntimeWarning, stacklevel=4)


def _comparable(signature):
    return [(p.name, p.kind, repr(p.default)) for p in signature.parameters.values()]


def bind(cls, class_name):
    """Make ``cls`` (``class Adam(Optimizer, variant="Adam")``) the optimizer of the registry
    entry with that class name: its hyperparameter attributes, state names, signature and
    defaults all come from the registry. The generated class's own ``__init__`` spells out the
    same signature (checked here: a file out of step warns, and still imports, so that it can
    be regenerated)."""
    variant = next((v for v in VARIANTS if v.class_name == class_name), None)
    if variant is None:
        _out_of_step(f"the registry has no class {class_name}")
        return
    namespace = {
        name: _Hyperparameter(spec.validate, settable=not spec.fixed)
        for name, spec in variant.hyperparameters().items()
    }
    for name, descriptor in namespace.items():
        descriptor.__set_name__(cls, name)
        setattr(cls, name, descriptor)
    signature = signature_of(variant)
    cls.variant = variant
    cls.state_names = variant.rule.state
    cls._names = tuple(namespace)
    # every argument but params has a default: a call by keyword binds as {**these, ...}
    cls._defaults = {name: parameter.default for name, parameter in
                     signature.parameters.items() if name != "params"}
    init = cls.__dict__.get("__init__", Optimizer.__init__)
    if init is not Optimizer.__init__:  # the generated class's: the same signature, annotated
        written = inspect.signature(init)
        written = written.replace(parameters=list(written.parameters.values())[1:],
                                  return_annotation=inspect.Signature.empty)
        if _comparable(written) != _comparable(signature):
            _out_of_step(f"{class_name}{written} differs from the registry's "
                         f"{class_name}{signature}")
        signature = written
    cls.__signature__ = signature


def optimizer_class(variant, classes):
    """The class of ``variant`` made from the registry alone, for a variant the generated
    module lacks (it warns): what every class was before the module was generated."""
    _out_of_step(f"it has no class {variant.class_name}")
    # Optimizer's __init__, taking the signature below, not its base class's (AdamW's are not
    # Adam's)
    namespace = {"__doc__": class_doc(variant), "__module__": __name__,
                 "__init__": Optimizer.__init__}
    every = {"Optimizer": Optimizer, "Modes": Modes, **classes}
    bases = tuple(every[name] for name in base_names(variant, classes))
    return type(variant.class_name, bases, namespace, variant=variant.class_name)
