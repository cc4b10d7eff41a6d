"""The machinery of numadam's optimizers: :class:`Optimizer` (validation, state, steps, state
dicts), the hyperparameter attributes, and the binding of a class to its registry entry. The
classes themselves are in :mod:`numadam._optimizer_classes` (generated from the registry) and
are published by :mod:`numadam.optimizers`, whose docstring tells their behaviour."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import warnings
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, Protocol, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from numba import get_num_threads
from numba.core.errors import TypingError

from numadam import _validation as check
from numadam._groups import GroupLayout, ParamGroup, layout_from_ranges, layout_from_views
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


def _equal(value, applied):
    """``value`` is the applied hyperparameter ``applied`` still (same type, equal)."""
    try:
        return type(value) is type(applied) and bool(value == applied)
    except (TypeError, ValueError):
        return False


def _same_entry(value, original):
    """A group's ``"params"`` (the same arrays) or ``"range"`` (equal) as created."""
    if isinstance(original, list):
        return (isinstance(value, (list, tuple)) and len(value) == len(original)
                and all(a is b for a, b in zip(value, original)))
    return _equal(value, original)


class CompiledStep(NamedTuple):
    """What a compiled loop needs to run an optimizer's update itself (``minimize``'s
    compiled loop): the kernel, the rule's per-step scalar function, the values they take,
    and what the loops step by (``stepper``: the rule, or for an optimizer with parameter
    groups a :class:`numadam._compiled_loop.GroupedRule`, whose ``constants`` are the segment
    table, ``inputs`` the group table and its scratch, ``carry`` empty). Only for float64
    parameters on the CPU."""

    kernel: Any
    step_scalars: Any
    state: tuple
    constants: tuple
    inputs: tuple
    carry: tuple
    stepper: Any


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
        if obj._layout is not None:
            raise AttributeError(
                f"this optimizer has parameter groups: set {self.name} per group, "
                f"opt.param_groups[i][{self.name!r}] = ... (it applies from the next step)"
            )
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
        ``"cuda"`` (see :mod:`numadam.cuda`). Or PyTorch's parameter groups: a list of
        dicts, each with ``"params"`` (views of one such vector, the vector then updated) and
        any hyperparameters of its own (see :mod:`numadam._groups`; on the CPU: on the GPU,
        give them as ``groups``).
    groups : list of dict, optional
        Parameter groups of the vector ``params`` as ranges, ``[{"range": (start, stop),
        **hyperparameters}, ...]``; the elements no range covers form a last group with the
        constructor's hyperparameters. On the CPU and the GPU.
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
        layout = self._layout_of(params, values.pop("groups"))
        rule = self.variant.rule
        self._rule = rule
        self._step_scalars = rule.step_scalars
        self._layout = None  # set below, once the constructor's hyperparameters are
        self._param_groups = None  # made on first use without groups
        self._slow = False  # take the step's slow path: groups, or param_groups edited
        self._stale = False  # param_groups edited since the last step
        if layout is not None:
            params = layout.vector
        self._backend = backend = backend_for(params)
        self.device = backend.device
        self._reduction = rule.reduction
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
        groups = None
        state_length = n
        if layout is not None:
            groups = self._group_hyperparameters(layout)
            every = {**groups[0], **self._fixed}
            state_length = self._lay_out_state(layout)
        self._state = {}
        for name in rule.state:
            initial = rule.initial_state(name, every)
            if isinstance(initial, str) and initial == "params":
                self._state[name] = backend.copy(self._param)
            else:
                self._state[name] = backend.full(
                    state_length if rule.state_is_used(name, every) else 0, initial, self.dtype)
        self._state_view = None  # made on first use: ~10 us of a small optimizer's creation
        self._mode = next(iter(rule.modes), None)
        # The kernel's 3 state slots, None for a vector the rule does not use.
        vectors = [vector if vector.shape[0] == state_length and rule.state_is_used(name, every)
                   else None for name, vector in self._state.items()]
        self._state_vectors = tuple(vectors + [None] * (
            (4 if rule.reduction is not None else 3) - len(vectors)))
        # where the GPU's counts of skipped entries wait for the host (None on the CPU)
        self._reports = backend.nonfinite_reports()
        self._threaded = True
        if layout is not None:
            self._set_up_groups(layout, groups)
        self.check_finite = check_finite

    def _layout_of(self, params, groups):
        """The :class:`~numadam._groups.GroupLayout` of the parameter groups given, or
        ``None`` for an optimizer without groups."""
        if isinstance(params, (list, tuple)) and any(isinstance(group, Mapping)
                                                     for group in params):
            if groups is not None:
                raise TypeError("give the parameter groups either as params (a list of dicts "
                                "with 'params' views) or as groups= beside a flat vector, not "
                                "both")
            return layout_from_views(params, self.hyperparameter_names())
        if groups is None:
            return None
        vector = backend_for(params).parameter_vector("params", params)
        return layout_from_ranges(vector, groups, self.hyperparameter_names())

    @property
    def param(self) -> Vector:
        """The parameter vector, updated in place by :meth:`step` (the array given at
        creation; not re-assignable: the state vectors are laid out for it)."""
        return self._param

    @property
    def state(self) -> Mapping[str, Vector]:
        """The state vectors by name, read-only views (saving and restoring them:
        :meth:`state_dict`, :meth:`load_state_dict`). Each is laid out as the parameters,
        except where a parameter group steps in its shape (Adafactor's factored form): then
        it holds each group's state in group order (see the rule's documentation)."""
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
        self._choose_loops()

    @property
    def threaded(self) -> bool:
        """Whether a step may run on all of Numba's threads (on the CPU, from
        ``numadam.kernels.PARALLEL_THRESHOLD`` elements on); ``True`` by default, settable.

        Set it to ``False`` where the code between two steps runs threads of its own, as
        NumPy's BLAS does in an objective: each thread pool's threads spin for a while after
        their work, and on a machine with few cores the two pools starve each other
        (``benchmarks/bench_blas_contention.py``). ``minimize`` does so for its Python loop.
        Results are the same bit for bit either way. The GPU ignores it.
        """
        return self._threaded

    @threaded.setter
    def threaded(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"threaded must be True or False, got {value!r}")
        self._threaded = bool(value)
        self._choose_loops()

    def _choose_loops(self):
        """Pick the compiled loops for ``check_finite`` and ``threaded``."""
        from numadam import kernels

        checked = self._check_finite is True
        n = self._param.shape[0]
        self._threads = self._threaded and n >= kernels.PARALLEL_THRESHOLD
        if self._reduction is not None:  # the two passes of a rule with a reduction stage
            self._kernel = None
            self._reduce, self._update, self._update_all_finite = self._backend.reduction(
                self._rule, n, checked, self._threaded)
            if self._layout is not None:  # each group's, for its length
                self._group_passes = [
                    self._backend.reduction(self._rule, sum(b - a for a, b in runs), checked,
                                            self._threaded)
                    for runs in self._layout.segments]
            return
        self._kernel = self._backend.update(self._rule, n, checked=checked,
                                            reports=self._reports if checked else None,
                                            threads=self._threaded)
        if self._layout is not None and self.device == "cpu":  # the GPU launches per run
            self._grouped_loop = self._grouped_driver(checked, self._threads)

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
        if self._param_groups is not None and self._layout is None:  # keep param_groups[0]
            for name in values:
                dict.__setitem__(self._param_groups[0], name, candidate[name])

    @classmethod
    def hyperparameter_names(cls) -> tuple[str, ...]:
        """Names of the hyperparameters, in declaration order."""
        return cls._names

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """A copy of the current hyperparameters, as a dict (with parameter groups: the
        constructor's, which each group's dict in :attr:`param_groups` overrides)."""
        return dict(self._hyperparameters)

    # -- parameter groups -------------------------------------------------------------------

    def _group_hyperparameters(self, layout, label=None, current=None):
        """Every group's hyperparameters, validated: the constructor's overridden by the
        group's own (``layout.overrides``), checked against ``current`` (each group's so far,
        when loading a state: momentum may not switch on or off). A ValueError or TypeError
        names the group (as ``label[i]``) and the key."""
        if label is None:
            label = "groups" if "range" in layout.entries[0] else "params"
        fixed_names = [name for name in self.hyperparameter_names()
                       if not getattr(type(self), name).settable]
        groups = []
        for index, overrides in enumerate(layout.overrides):
            where = f"{label}[{index}]"
            values = dict(self._hyperparameters)
            for name, value in overrides.items():
                try:
                    values[name] = getattr(type(self), name).validate(name, value)
                except (TypeError, ValueError) as error:
                    raise type(error)(f"{where}[{name!r}]: {error}") from None
                if name in fixed_names and values[name] != self._hyperparameters[name]:
                    raise ValueError(
                        f"{where}[{name!r}] = {value!r} differs from the optimizer's "
                        f"{self._hyperparameters[name]!r}: {name} is fixed for the whole "
                        f"optimizer (it decides which state vectors exist and which compiled "
                        f"loop runs), so it cannot differ between groups; give it to the "
                        f"constructor, or use one optimizer per setting"
                    )
            self._check_group(where, current[index] if current else {}, values)
            groups.append(values)
        self._check_same_state(label, groups)
        return groups

    def _check_group(self, where, current, values):
        """The rule's checks of several hyperparameters together, for one group."""
        try:
            self._rule.check_combination({**current, **self._fixed} if current else {},
                                         {**values, **self._fixed})
        except (TypeError, ValueError) as error:
            raise type(error)(f"{where}: {error}") from None

    def _check_same_state(self, label, groups):
        """Groups must agree on which state vectors exist: one pass updates them all."""
        rule = self._rule
        for name in rule.state:
            used = [rule.state_is_used(name, {**h, **self._fixed}) for h in groups]
            if any(used) and not all(used):
                first, other = used.index(True), used.index(False)
                keys = sorted(key for key in groups[first]
                              if groups[first][key] != groups[other][key])
                raise ValueError(
                    f"{label}[{first}] uses the state vector {name!r} and {label}[{other}] does "
                    f"not (they differ in {keys}): every group of one optimizer must use the "
                    f"same state vectors, as one compiled pass updates them all (a momentum "
                    f"of 0 switches SGD's buffer off, say); use one optimizer per setting"
                )

    def _group_row(self, values):
        """A group's constants and per-step inputs, as the group table holds them."""
        every = {**values, **self._fixed}
        return (_as_python(self._rule.constants(every, self._to_dtype)),
                tuple(self._rule.step_inputs(every)))

    def _set_group_row(self, index, values):
        """Group ``index``'s constants and step inputs from its hyperparameters ``values``,
        in the group table (the compiled pass's) and as Python values (the host's steps)."""
        nc, ni, _ = self._widths
        constants, inputs = self._group_rows[index] = self._group_row(values)
        self._table[index, :nc] = constants
        self._table[index, nc:nc + ni] = inputs

    def _lay_out_state(self, layout: GroupLayout) -> int:
        """Each group's step in its shape (``self._group_shaped``: Adafactor's factored form,
        else ``None``) and the runs of the state vectors that hold each group's state
        (``self._state_runs``); returns the state vectors' length.

        The state vectors are laid out as the parameters (a group's state on its elements)
        unless a group steps in its shape: then they are compact, each group's state one span
        in group order (a factored group's as its step lays it out, any other's its elements'
        state in run order), elements in no group holding none."""
        reduction = self._rule.reduction
        shaped = None if reduction is None else reduction.shaped
        self._group_shaped = [None if shaped is None or shape is None else shaped(shape)
                              for shape in layout.shapes]
        self._state_runs = layout.segments
        if all(step is None for step in self._group_shaped):
            return self._param.shape[0]
        if self.device != "cpu":
            raise ValueError(f"{type(self).__name__}: a group with a shape of two or more "
                             f"dimensions steps in its factored form, which runs on the CPU "
                             f"only; on the GPU leave the groups' 'shape' out (unfactored)")
        spans, offset = [], 0
        for step, runs in zip(self._group_shaped, layout.segments):
            size = sum(stop - start for start, stop in runs) if step is None else step.state_size
            spans.append(((offset, offset + size),))
            offset += size
        self._state_runs = tuple(spans)
        return offset

    def _set_up_groups(self, layout: GroupLayout, groups):
        """The segment table, the group table and ``param_groups`` of a grouped optimizer."""
        from numadam import kernels
        from numadam.rules._jit import jitted_step_scalars

        rule = self._rule
        # a group's initial state (Adagrad's initial_accumulator_value) may be its own
        for name, vector in self._state.items():
            for values, runs in zip(groups, self._state_runs):
                initial = rule.initial_state(name, {**values, **self._fixed})
                if vector.shape[0] and not isinstance(initial, str):
                    for start, stop in runs:
                        self._backend.fill(vector[start:stop], initial)
        rows = [self._group_row(values) for values in groups]
        self._group_rows = rows  # as Python values, for a rule with a reduction stage
        constants, inputs = rows[0]
        carry = tuple(rule.carry)
        self._widths = (len(constants), len(inputs), len(carry))
        self._table = np.array([[*c, *i, *carry] for c, i in rows], dtype=np.float64).reshape(
            len(rows), sum(self._widths))
        try:
            scalars = len(rule.step_scalars(inputs, carry, 1)[0])
        except (OverflowError, ZeroDivisionError):
            scalars = 16
        self._scratch = np.zeros((len(rows), scalars + len(carry)))
        self._segments = layout.table()
        self._device_segments = None  # the GPU's copy, made at the first step
        like = kernels.group_like(constants, inputs, carry)
        self._like = like
        self._grouped_driver = functools.partial(kernels.grouped_for_rule, rule.element,
                                                 jitted_step_scalars(rule), like)
        self._groups = groups
        self._layout = layout
        if rule.reduction is not None:
            self._group_parts = [self._group_part(runs, state_runs) for runs, state_runs
                                 in zip(layout.segments, self._state_runs)]
        self._param_groups = [ParamGroup(self, {**entry, **values})
                              for entry, values in zip(layout.entries, groups)]
        self._slow = True

    def _group_part(self, runs, state_runs):
        """``(param, grad, states, gathered)``: the parts of a group given by its runs (and
        those of its state, ``state_runs``), for a rule with a reduction stage. A part is a
        view of its vector where the group is one run of it, made once (the vectors are never
        replaced), else a contiguous vector as long as the group, which each step fills with
        the group's elements in run order and copies back: ``grad`` is ``None`` for a group
        of one run (its view is taken at each step), ``gathered`` says which state parts are
        such copies."""
        size = sum(stop - start for start, stop in runs)
        if len(runs) > 1:
            param = self._backend.full(size, 0.0, self.dtype)
            grad = self._backend.full(size, 0.0, self.dtype)
        else:
            start, stop = runs[0] if runs else (0, 0)
            param, grad = self._param[start:stop], None
        states, gathered = [], []
        for vector in self._state_vectors:
            copied = vector is not None and len(state_runs) > 1
            if vector is None:
                states.append(None)
            elif copied:
                states.append(self._backend.full(size, 0.0, self.dtype))
            else:
                start, stop = state_runs[0] if state_runs else (0, 0)
                states.append(vector[start:stop])
            gathered.append(copied)
        return param, grad, tuple(states), tuple(gathered)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The parameter groups, as ``torch.optim``'s: a list of dicts, each with ``"params"``
        (the views of the vector it updates; ``"range"`` too for a group given as a range) and
        every hyperparameter. An optimizer without groups has one, the whole vector.

        Setting a hyperparameter of a group (``opt.param_groups[0]["lr"] = 1e-4``, what a
        PyTorch scheduler does) takes effect at the next :meth:`step`, which validates it
        first (a ValueError or TypeError naming the group and the key, with nothing changed).
        Other keys added later (a scheduler's ``"initial_lr"``) are kept and ignored;
        ``"params"`` and ``"range"`` are fixed at creation.
        """
        if self._param_groups is None:
            self._param_groups = [ParamGroup(self, {"params": [self._param],
                                                    **self._hyperparameters})]
        return self._param_groups

    def _param_groups_changed(self):
        self._stale = self._slow = True

    def _apply_param_groups(self):
        """Validate and apply the edits of ``param_groups`` since the last step: all or none."""
        layout = self._layout
        label = "param_groups"
        groups = self._groups if layout is not None else [self._hyperparameters]
        entries = layout.entries if layout is not None else [{"params": [self._param]}]
        updated = []
        for index, (group, applied, entry) in enumerate(zip(self._param_groups, groups,
                                                            entries)):
            where = f"{label}[{index}]"
            for key, value in entry.items():
                if key not in group or not _same_entry(group[key], value):
                    raise ValueError(f"{where}[{key!r}] was changed: which elements a group "
                                     f"holds is fixed when the optimizer is created")
            values = dict(applied)
            for name in self.hyperparameter_names():
                if name not in group:
                    raise ValueError(f"{where} has no {name!r} entry any more; put it back")
                value = group[name]
                if value is applied[name] or _equal(value, applied[name]):
                    continue
                descriptor = getattr(type(self), name)
                if not descriptor.settable:
                    raise ValueError(f"{where}[{name!r}] was changed: {name} is fixed when "
                                     f"the optimizer is created")
                try:
                    values[name] = descriptor.validate(name, value)
                except (TypeError, ValueError) as error:
                    raise type(error)(f"{where}[{name!r}]: {error}") from None
            if values != applied:
                self._check_group(where, applied, values)
            updated.append(values)
        self._check_same_state(label, updated)
        if layout is None:
            self._set_hyperparameters(updated[0])
        else:
            for index, values in enumerate(updated):
                if values != self._groups[index]:
                    self._set_group_row(index, values)
            self._groups = updated
        for group, values in zip(self._param_groups, updated):
            dict.update(group, values)  # the validated values (a list of betas as a tuple)
        self._stale = False
        self._slow = layout is not None

    def _grouped_step(self, grad, prechecked=False):
        """The step of an optimizer with groups: one pass of the grouped loop. Returns the
        number of skipped non-finite entries."""
        param = self._param
        if not prechecked:
            if not (type(grad) is np.ndarray and grad.base is None and self._param_owns_memory
                    and grad.dtype is param.dtype and grad.shape == param.shape
                    and grad is not param and grad.flags.c_contiguous):
                grad = self._backend.check_grad(grad, param)
            self._check_train_mode()
            if self._check_finite == "before":
                bad = self._backend.count_nonfinite(grad, self._threaded)
                if bad:
                    raise NonFiniteGradientError.unchanged(bad)
        step = self.step_count + 1
        if self._reduction is not None:
            skipped = self._grouped_reduced_step(param, grad, step)
            self.step_count = step
            return skipped
        if self.device != "cpu":
            late = self._grouped_launches(param, grad, step)
            self.step_count = step
            if late and not prechecked:
                raise NonFiniteGradientError.late(late, step)
            return sum(count for _, count in late)
        skipped = self._grouped_loop(param, grad, *self._state_vectors, self._segments,
                                     self._table, self._scratch, step,
                                     get_num_threads() if self._threads else 1)
        if skipped < 0:  # a group's per-step scalars are not finite: nothing was changed
            self._group_plans(step)  # raises for a group whose scalars Python cannot compute
            raise ValueError(f"{type(self).__name__}: the per-step scalars of step {step} are "
                             f"not finite for some parameter group; nothing was changed")
        self.step_count = step
        return skipped

    def _check_train_mode(self):
        if self._mode is not None and self._mode != next(iter(self._rule.modes)):
            raise RuntimeError(
                f"{type(self).__name__}.step needs train mode; the parameters hold the "
                f"evaluation point now: call train() first (and eval() before evaluating)"
            )

    def _step_slow(self, grad):
        """:meth:`step` with groups, or after ``param_groups`` was edited."""
        if self._stale:
            self._apply_param_groups()
        if self._layout is None:
            self.step(grad)
            return
        skipped = self._grouped_step(grad)
        if skipped:
            raise NonFiniteGradientError.skipped(skipped, self.step_count)

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
        ValueError, TypeError
            A hyperparameter of ``param_groups`` set since the last step is invalid (the
            message names the group and the key); nothing is changed then.
        """
        if self._slow:  # parameter groups, or param_groups edited since the last step
            self._step_slow(grad)
            return
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
            bad = self._backend.count_nonfinite(grad, self._threaded)
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
            if self._reduction is not None:
                skipped, carry = self._reduced_step(param, grad, scalars, carry, step)
            else:
                skipped = self._kernel(param, grad, *self._state_vectors, self._constants,
                                       scalars)
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
        if self._slow:
            if self._stale:
                self._apply_param_groups()
            if self._layout is not None:
                return self._grouped_step(grad, prechecked=True)
        step = self.step_count + 1
        scalars, carry = self._step_scalars(self._inputs, self._carry, step)
        reports = self._reports
        late = reports.ready() if reports is not None else None
        if self._reduction is not None:
            skipped, carry = self._reduced_step(self._param, grad, scalars, carry, step)
        else:
            skipped = self._kernel(self._param, grad, *self._state_vectors, self._constants,
                                   scalars)
        self.step_count, self._carry = step, carry  # counted once it ran, as in step
        if reports is not None:
            reports.launched(step)
            skipped += sum(count for _, count in late)
        return skipped

    def _reduced_step(self, param, grad, scalars, carry, step, group=None):
        """The step of a rule with a reduction stage (:class:`~numadam.rules._rule.Reduction`):
        the reduction pass, its sums turned into the update's scalars and the new carry on the
        host, then the update pass (none where ``finish`` says so). Returns
        ``(skipped, carry)``. ``group``: ``(states, constants, inputs, passes)`` of one
        parameter group, ``param`` and ``grad`` being its elements."""
        if group is None:
            states, constants, inputs = self._state_vectors, self._constants, self._inputs
            reduce, update, update_all_finite = (self._reduce, self._update,
                                                 self._update_all_finite)
        else:
            states, constants, inputs, (reduce, update, update_all_finite) = group
        skipped, sum_a, sum_b = reduce(param, grad, *states, constants, scalars)
        update_due, update_scalars, carry = self._reduction.finish(inputs, carry, step,
                                                                   (sum_a, sum_b))
        if update_due:
            loop = update if skipped else update_all_finite
            loop(param, grad, *states, constants, update_scalars)
        return skipped, carry

    def _grouped_reduced_step(self, param, grad, step):
        """:meth:`_grouped_step` for a rule with a reduction stage: each group stepped as a
        separate optimizer on its elements would step them (its own sums, step size and
        carry), one group after the other. A group of one run steps views of the vectors; one
        of several runs steps copies of its elements, concatenated in the order of its runs,
        which are copied back: its sums are then those of the concatenation, bit for bit.
        Every group's step scalars are computed before anything changes."""
        skipped = 0
        for index, (constants, inputs, scalars, carry) in enumerate(self._group_plans(step)):
            runs = self._layout.segments[index]
            param_part, grad_part, states, gathered = self._group_parts[index]
            if grad_part is None:  # one run (or none): views of the vectors
                start, stop = runs[0] if runs else (0, 0)
                grad_part = grad[start:stop]
            else:  # several runs: their elements copied, in run order
                self._backend.gather(param, runs, param_part)
                self._backend.gather(grad, runs, grad_part)
            for vector, part, copied in zip(self._state_vectors, states, gathered):
                if copied:
                    self._backend.gather(vector, runs, part)
            shaped = self._group_shaped[index]
            if shaped is not None:  # one run: views
                from numadam.kernels import PARALLEL_THRESHOLD

                threads = self._threaded and param_part.shape[0] >= PARALLEL_THRESHOLD
                bad, carry = shaped(param_part, grad_part, states,
                                    {**self._groups[index], **self._fixed}, inputs, scalars,
                                    carry, step, self._check_finite is True, threads)
            else:
                group = (states, constants, inputs, self._group_passes[index])
                bad, carry = self._reduced_step(param_part, grad_part, scalars, carry, step,
                                                group)
            if len(runs) > 1:  # and back
                self._backend.scatter(param_part, runs, param)
            for vector, part, copied in zip(self._state_vectors, states, gathered):
                if copied:
                    self._backend.scatter(part, runs, vector)
            self._set_group_carry(index, carry)
            skipped += bad
        return skipped

    def _group_plans(self, step):
        """``[(constants, inputs, scalars, carry)]`` of every group at step ``step``: its step
        scalars and the carry after them, all computed before anything changes."""
        plans = []
        for index, (constants, inputs) in enumerate(self._group_rows):
            try:
                scalars, carry = self._step_scalars(inputs, self._group_carry(index), step)
            except (OverflowError, ZeroDivisionError) as error:
                raise ValueError(
                    f"{type(self).__name__}: the per-step scalars of step {step} cannot be "
                    f"computed with the hyperparameters of param_groups[{index}] ({error}); "
                    f"nothing was changed") from None
            plans.append((constants, inputs, scalars, carry))
        return plans

    def _grouped_launches(self, param, grad, step):
        """:meth:`_grouped_step` on the GPU, for an elementwise rule: every group's step
        scalars on the host, then one launch of the rule's grouped kernel over the segment
        table (kept on the device), each run with its group's constants and scalars. Returns
        the counts of skipped entries of earlier steps that have arrived (see
        :meth:`synchronize`)."""
        plans = self._group_plans(step)
        if self._device_segments is None:
            self._device_segments = self._backend.segments(self._segments)
        self._kernel.grouped(param, grad, *self._state_vectors, self._device_segments,
                             [(constants, scalars) for constants, _, scalars, _ in plans],
                             self._segments)
        late = self._reports.ready()  # after the launch: a launch that raises loses none
        for index, (_, _, _, carry) in enumerate(plans):
            self._set_group_carry(index, carry)
        self._reports.launched(step)
        return late

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
        steps. ``None`` unless the parameters are float64 NumPy arrays; with parameter groups,
        an elementwise rule's (the groups' serial driver steps them). (A rule
        with a reduction stage has no single kernel: ``kernel`` is ``None``, and the compiled
        loops take its passes from :func:`numadam.kernels.for_reduction`.)"""
        if self.device != "cpu" or self.dtype != np.float64:
            return None
        from numadam import kernels
        from numadam._compiled_loop import GroupedRule
        from numadam.rules._jit import jitted_step_scalars

        if self._layout is not None:
            if self._reduction is not None or self._stale:  # their steps: the host's
                return None
            return CompiledStep(None, jitted_step_scalars(self._rule), self._state_vectors,
                                self._segments, (self._table, self._scratch), (),
                                GroupedRule.of(self._rule, self._like))
        kernel = None if self._reduction else kernels.for_rule(self._rule.element).serial
        return CompiledStep(kernel, jitted_step_scalars(self._rule), self._state_vectors,
                            self._constants, self._inputs, self._carry, self._rule)

    def advance(self, steps: int, carry: tuple) -> None:
        """Record ``steps`` updates made by a compiled loop from :meth:`compiled_step`, with the
        scalar state ``carry`` it ended with (with parameter groups, each group's is in the
        group table, which the loop updated)."""
        self.step_count += steps
        if self._layout is None:
            self._carry = tuple(carry)

    # -- saving and restoring ---------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain Python and NumPy objects (copies).

        Returns
        -------
        dict
            ``{"step": int, "hyperparameters": dict, "state": {name: ndarray}}``, plus the scalar
            state of rules that carry one (``"carry"``). Vectors unused with these
            hyperparameters (e.g. ``max_exp_avg_sq`` without AMSGrad) are empty. With parameter
            groups, ``"hyperparameters"`` holds the constructor's, ``"param_groups"`` each
            group's as ``{"segments": [[start, stop], ...], **hyperparameters}`` (edits of
            ``param_groups`` not applied yet are applied first), and ``"carry"`` is a list
            with each group's.
        """
        if self._stale:
            self._apply_param_groups()
        saved = {
            "step": self.step_count,
            "hyperparameters": self.hyperparameters,
            "state": {name: self._backend.to_host(vector) for name, vector in self._state.items()},
        }
        carry_names = self._rule.carry_names
        if self._layout is not None:
            saved["param_groups"] = [
                {"segments": [list(run) for run in runs], **self._saved_shape(index),
                 **values}
                for index, (runs, values) in enumerate(zip(self._layout.segments,
                                                           self._groups))]
            if carry_names:
                saved["carry"] = [dict(zip(carry_names, self._group_carry(index)))
                                  for index in range(len(self._groups))]
        elif carry_names:
            saved["carry"] = dict(zip(carry_names, self._carry))
        if self._mode is not None:
            saved["mode"] = self._mode
        return saved

    def _saved_shape(self, index):
        """``{"shape": [...]}`` for a group stepped in its shape (its part of the state
        vectors is laid out by it), else ``{}``."""
        if self._group_shaped[index] is None:
            return {}
        return {"shape": list(self._layout.shapes[index])}

    def _group_carry(self, index):
        nc, ni, nk = self._widths
        return tuple(self._table[index, nc + ni:nc + ni + nk].tolist())

    def _set_group_carry(self, index, carry):
        nc, ni, nk = self._widths
        self._table[index, nc + ni:nc + ni + nk] = carry

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`, checked whole before anything changes.

        Raises
        ------
        ValueError, TypeError
            Missing or unexpected entries, a vector of another size or dtype, a negative step,
            a state no step of the rule could produce (its module's ``STATE_INVARIANTS``: a
            negative second moment, an AMSGrad max below ``exp_avg_sq``, Rprop step sizes
            outside ``step_sizes``, ...); with groups, groups that differ in number or
            segments from this optimizer's, or bad hyperparameters of a group.
        """
        grouped = self._layout is not None
        keys = {"step", "hyperparameters", "state"}
        keys |= {"carry"} if self._rule.carry_names else set()
        keys |= {"mode"} if self._rule.modes else set()
        keys |= {"param_groups"} if grouped else set()
        if not isinstance(state_dict, dict) or set(state_dict) != keys:
            also = ("" if grouped or not isinstance(state_dict, dict)
                    or "param_groups" not in state_dict else
                    "; it was saved by an optimizer with parameter groups")
            raise ValueError(
                f"state_dict must be a dict with the keys {sorted(keys)}, as returned by "
                f"state_dict(){also}"
            )
        step = state_dict["step"]
        if (isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer))
                or not 0 <= step < 2**62):  # a count the compiled loops can take
            raise ValueError(f"state_dict['step'] must be a non-negative integer below 2**62, "
                             f"got {step!r:.40}")
        # the groups first: how they lie (and a factored group's shape) decide the state's
        # length
        layout = self._loaded_layout(state_dict["param_groups"]) if grouped else None
        compact = grouped and self._state_runs is not self._layout.segments
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
                    f"{tuple(expected.shape)} (parameters of size {self._param.shape[0]}"
                    f"{'; factored groups keep a compact state' if compact else ''})"
                )
            if not np.isfinite(vector).all():
                raise ValueError(f"loaded state {name!r} holds NaN or inf")
        carry = self._carry
        if self._rule.carry_names:
            saved_carry = state_dict["carry"]
            if grouped:
                if not isinstance(saved_carry, list) or len(saved_carry) != len(self._groups):
                    raise ValueError(f"state_dict['carry'] must be a list of "
                                     f"{len(self._groups)} dicts, one per parameter group")
                carry = [self._loaded_carry(f"state_dict['carry'][{index}]", entry)
                         for index, entry in enumerate(saved_carry)]
            else:
                carry = self._loaded_carry("state_dict['carry']", saved_carry)
        mode = state_dict.get("mode", self._mode)
        if self._rule.modes and mode not in self._rule.modes:
            raise ValueError(f"state_dict['mode'] must be one of {list(self._rule.modes)}, "
                             f"got {mode!r}")
        hyperparameters = state_dict["hyperparameters"]
        self._check_loaded_hyperparameters("state_dict['hyperparameters']", hyperparameters)
        saved = self._hyperparameters
        try:  # against the current ones: momentum may not switch on or off
            self._set_hyperparameters(hyperparameters)
            if grouped:
                groups = self._group_hyperparameters(layout, "state_dict['param_groups']",
                                                     self._groups)
                for index, (values, runs) in enumerate(zip(groups, self._state_runs)):
                    every = {**values, **self._fixed}
                    where = np.concatenate([np.arange(a, b) for a, b in runs] or [[]]).astype(
                        np.intp)
                    self._check_invariants(
                        {name: vector[where] if vector.shape[0] else vector
                         for name, vector in vectors.items()},
                        carry[index] if self._rule.carry_names else (), int(step), every)
            else:
                self._check_invariants(vectors, carry, int(step))
        except Exception:
            self._hyperparameters = {}
            self._set_hyperparameters(saved)
            raise
        for name, vector in vectors.items():
            if vector.shape[0]:
                self._backend.copy_in(self._state[name], vector)
        self.step_count = int(step)
        if grouped:
            nc, ni, nk = self._widths
            for index, values in enumerate(groups):
                self._set_group_row(index, values)
                if nk:
                    self._table[index, nc + ni:] = carry[index]
            self._groups = groups
        else:
            self._carry = carry
        if self._param_groups is not None:  # the loaded hyperparameters replace any edits
            for group, values in zip(self._param_groups,
                                     self._groups if grouped else [self._hyperparameters]):
                dict.update(group, values)
            self._stale = False
            self._slow = grouped
        self._mode = mode  # the saved parameters are at that mode's point

    def _loaded_carry(self, label, entry):
        names = self._rule.carry_names
        if not isinstance(entry, dict) or set(entry) != set(names):
            raise ValueError(f"{label} must hold exactly {list(names)}, got {entry!r}")
        return tuple(check.finite_real(f"{label}[{name!r}]", entry[name]) for name in names)

    def _check_loaded_hyperparameters(self, label, hyperparameters):
        if not isinstance(hyperparameters, dict) or set(hyperparameters) != set(
            self.hyperparameter_names()
        ):
            raise ValueError(
                f"{label} must hold exactly {list(self.hyperparameter_names())}, got "
                f"{hyperparameters!r}"
            )
        for name in self.hyperparameter_names():
            if not getattr(type(self), name).settable and hyperparameters.get(name) != getattr(
                self, name
            ):
                raise ValueError(
                    f"loaded hyperparameter {name}={hyperparameters.get(name)!r} differs from "
                    f"this optimizer's {getattr(self, name)!r}, which is fixed at creation"
                )

    def _loaded_layout(self, groups):
        """The saved groups as a layout whose overrides are their hyperparameters, checked to
        lie as this optimizer's."""
        layout = self._layout
        if not isinstance(groups, list) or len(groups) != len(layout.segments):
            raise ValueError(f"state_dict['param_groups'] must be a list of "
                             f"{len(layout.segments)} dicts, as this optimizer has groups")
        overrides = []
        for index, (group, runs) in enumerate(zip(groups, layout.segments)):
            label = f"state_dict['param_groups'][{index}]"
            if not isinstance(group, dict) or "segments" not in group:
                raise ValueError(f"{label} must be a dict with 'segments' and the "
                                 f"hyperparameters")
            try:
                same = [tuple(run) for run in group["segments"]] == [tuple(r) for r in runs]
            except TypeError:
                same = False
            if not same:
                raise ValueError(f"{label}['segments'] = {group['segments']!r:.80} differs from "
                                 f"this optimizer's group {index}, {[list(r) for r in runs]}: "
                                 f"the groups must lie as when the state was saved")
            shape = self._saved_shape(index).get("shape")
            saved_shape = group.get("shape")
            try:
                same = saved_shape is None if shape is None else (
                    saved_shape is not None and [int(v) for v in saved_shape] == shape)
            except (TypeError, ValueError):
                same = False
            if not same:
                raise ValueError(f"{label}['shape'] = {group.get('shape')!r:.40} differs from "
                                 f"this optimizer's group {index}, {shape!r} (None: stepped "
                                 f"unfactored): its state is laid out by the shape it was "
                                 f"saved with")
            values = {key: value for key, value in group.items()
                      if key not in ("segments", "shape")}
            self._check_loaded_hyperparameters(label, values)
            overrides.append(values)
        return dataclasses.replace(layout, overrides=tuple(overrides))

    def _check_invariants(self, vectors, carry, step, every=None):
        """The rule's state invariants (its module's ``STATE_INVARIANTS``) on a state about to
        be loaded, with the loaded hyperparameters (``every``: a group's): a ValueError naming
        the first entry that breaks one. A negative second moment, say, would make the next
        step NaN everywhere."""
        values = {**vectors, **dict(zip(self._rule.carry_names, carry))}
        every = self._all_hyperparameters() if every is None else every
        for invariant in self._rule.state_invariants:
            names = (invariant.entry, *invariant.reads)
            if any(name not in values or np.size(values[name]) == 0 for name in names):
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
        groups = "" if self._layout is None else f", {len(self._groups)} parameter groups"
        return (
            f"{type(self).__name__}(<{self._param.shape[0]} x {self.dtype}>, {settings}, "
            f"step={self.step_count}{groups})"
        )


class Modes:
    """``train()`` / ``eval()`` for rules whose parameter vector holds one of several points
    (schedule-free): each switch is one compiled pass of the rule's mode element."""

    def _switch(self, mode):
        if self._mode == mode:
            return
        rule = self._rule
        element = _ModeSwitch(rule.modes[mode])
        if self._layout is None:
            every = self._all_hyperparameters()
            # A pass of the mode's element: it reads no gradient (the parameters stand in for
            # one).
            move = self._backend.update(element, self._param.shape[0], checked=False)
            move(self._param, self._param, *self._state_vectors,
                 _as_python(rule.mode_constants(mode, every, self._to_dtype)), ())
        else:  # each group's segments with its constants (a switch is rare: a call each)
            if self._stale:
                self._apply_param_groups()
            for values, runs in zip(self._groups, self._layout.segments):
                constants = _as_python(rule.mode_constants(mode, {**values, **self._fixed},
                                                           self._to_dtype))
                for start, stop in runs:
                    move = self._backend.update(element, stop - start, checked=False)
                    part = self._param[start:stop]
                    move(part, part, *(None if vector is None else vector[start:stop]
                                       for vector in self._state_vectors), constants, ())
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
    """``(params, <hyperparameters>, *, <keyword-only ones>, groups, foreach, ...,
    check_finite)``."""
    P = inspect.Parameter
    hyperparameters = variant.hyperparameters()
    positional = [P("params", P.POSITIONAL_OR_KEYWORD)] + [
        P(name, P.POSITIONAL_OR_KEYWORD, default=spec.default)
        for name, spec in hyperparameters.items() if not spec.keyword_only
    ]
    keyword = [P(name, P.KEYWORD_ONLY, default=spec.default)
               for name, spec in hyperparameters.items() if spec.keyword_only]
    keyword.append(P("groups", P.KEYWORD_ONLY, default=None))
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
    lines = ["Parameters", "----------", "params : ndarray, GPU array or list of dicts",
             "    1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or",
             "    PyTorch's parameter groups, ``[{\"params\": views, \"lr\": ...}, ...]``, whose",
             "    views share one such vector (see :mod:`numadam._groups`)."]
    for name, spec in variant.hyperparameters().items():
        lines.append(f"{name} : {annotation(spec)}, default {spec.default!r}")
        lines.append(f"    {spec.doc[0].upper()}{spec.doc[1:]}"
                     + (". Fixed at creation." if spec.fixed else "."))
    lines += ["groups : list of dict, optional",
              "    Parameter groups of the vector ``params``: ``[{\"range\": (start, stop),",
              "    \"lr\": ...}, ...]``; elements outside every range form one more group, last,",
              "    with the hyperparameters above (see :mod:`numadam._groups`).",
              "foreach, fused, capturable, differentiable",
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
