"""Parameter groups: parts of one parameter vector, each with hyperparameters of its own.

An optimizer updates one contiguous vector in one pass. Groups cut that vector into
*segments*, runs of elements ``[start, stop)``, each belonging to one group; the compiled pass
(:func:`numadam.kernels.grouped_for_rule`) walks a small table of segments and gives each its
group's constants and per-step scalars (on the GPU, one launch does the same); a rule with a
reduction stage steps one group after the other instead, each with its own sums, as a separate
optimizer on the group's elements. Two ways to say which elements form a group (on the GPU,
ranges only):

* PyTorch's: ``Adam([{"params": views["W"]}, {"params": views["b"], "lr": 1e-2}], lr=1e-3)``,
  where every group's ``"params"`` (an array or a list of arrays) are views of one 1-D
  C-contiguous vector, as :func:`numadam.ravel` makes. The vector is found through the views'
  ``.base``: it is the array that owns their memory (NumPy keeps no record of a slice in
  between, so views of ``big[10:110]`` are views of ``big``; pass such a slice itself, with
  ``groups=`` ranges). Each view must be C-contiguous (then it is one run of the vector's
  elements).
  Elements of the vector in no group are not updated (as PyTorch leaves a tensor that is in no
  group), and their state stays at its initial value (they have none where the state is
  compact, below).
* Ranges of a flat vector: ``Adam(x, lr=1e-3, groups=[{"range": (0, 10), "lr": 1e-2}])``. The
  elements no range covers form one more group, last, with the constructor's hyperparameters.
  A range may say the shape its elements have, ``{"range": (0, 12), "shape": (3, 4)}`` (in C
  order; its ``"params"`` is then the range so shaped).

A group's *shape*: that of its one view (a group of one array), or its range's ``"shape"``;
``None`` otherwise. Only a rule that steps a shaped group differently reads it (and decides
which shapes it steps so) (Adafactor's factored second moment: the ``shaped`` of
:class:`~numadam.rules._rule.Reduction`); the others step every group as a vector. With a
group so stepped the state vectors are compact, each group's state in group order
(``Optimizer._lay_out_state``).

Each group's dictionary holds any hyperparameter of the optimizer; those it leaves out take the
constructor's value. Hyperparameters that decide the state vectors or the compiled loop
(``amsgrad``, RMSProp's ``centered``, a momentum switched on in one group and off in another)
must agree between groups: the pass updates every segment with the same state vectors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from numadam import _validation as check

__all__ = ["ParamGroup", "GroupLayout", "layout_from_views", "layout_from_ranges"]


class ParamGroup(dict):
    """One entry of ``opt.param_groups``: a dict, as PyTorch's, that tells its optimizer when it
    changes, so that the next step validates and applies the change (a scheduler's
    ``group["lr"] = ...``) while a step with nothing changed checks nothing."""

    __slots__ = ("_owner",)

    def __init__(self, owner, values):
        super().__init__(values)
        self._owner = owner

    def _changed(self):
        owner = self._owner
        if owner is not None:
            owner._param_groups_changed()

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key):
        super().__delitem__(key)
        self._changed()

    def update(self, *args, **kwargs):
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key, default=None):
        value = super().setdefault(key, default)
        self._changed()
        return value

    def pop(self, *args):
        value = super().pop(*args)
        self._changed()
        return value

    def popitem(self):
        item = super().popitem()
        self._changed()
        return item

    def clear(self):
        super().clear()
        self._changed()

    def __ior__(self, other):
        super().__ior__(other)
        self._changed()
        return self

    def __reduce__(self):  # a copy or a pickle is a plain dict, tied to no optimizer
        return dict, (dict(self),)

    def __copy__(self):
        return dict(self)

    def __deepcopy__(self, memo):
        import copy

        return copy.deepcopy(dict(self), memo)


@dataclass(frozen=True)
class GroupLayout:
    """Where the groups lie in the vector.

    ``vector`` is the parameter vector; ``segments[i]`` the ``(start, stop)`` runs of group
    ``i``; ``overrides[i]`` the hyperparameters group ``i`` sets; ``entries[i]`` what
    ``param_groups[i]`` holds besides hyperparameters (``"params"``, and ``"range"`` for a group
    given as a range, ``"shape"`` for a range given a shape); ``shapes[i]`` group ``i``'s shape
    (module docstring), or ``None``.
    """

    vector: np.ndarray
    segments: tuple[tuple[tuple[int, int], ...], ...]
    overrides: tuple[dict, ...]
    entries: tuple[dict, ...]
    shapes: tuple[tuple[int, ...] | None, ...]

    def table(self) -> np.ndarray:
        """The segments as the compiled pass takes them: int64 rows ``(start, stop, group)``,
        sorted by start, empty runs left out."""
        rows = sorted((start, stop, group) for group, runs in enumerate(self.segments)
                      for start, stop in runs if stop > start)
        return np.array(rows, dtype=np.int64).reshape(len(rows), 3)


def _group_dicts(name, groups):
    if isinstance(groups, Mapping) or not isinstance(groups, Sequence) or isinstance(
            groups, (str, bytes)):
        raise TypeError(f"{name} must be a list of dicts (one per parameter group), got "
                        f"{type(groups).__name__}")
    if not groups:
        raise ValueError(f"{name} is empty: give at least one parameter group")
    for index, group in enumerate(groups):
        if not isinstance(group, Mapping):
            raise TypeError(f"{name}[{index}] must be a dict, got {type(group).__name__}")
    return list(groups)


def _split(name, index, group, layout_keys, hyperparameters):
    """``group``'s hyperparameters, after checking that its other keys are only
    ``layout_keys`` (the first of which it must have)."""
    if layout_keys[0] not in group:
        raise ValueError(f"{name}[{index}] has no {layout_keys[0]!r} entry")
    unknown = set(group) - set(layout_keys) - set(hyperparameters)
    if unknown:
        raise TypeError(f"{name}[{index}] has unknown key(s) {sorted(map(str, unknown))}; a "
                        f"group takes {' and '.join(map(repr, layout_keys))} and the "
                        f"hyperparameters {list(hyperparameters)} (the implementation flags "
                        f"and check_finite are the optimizer's, not a group's)")
    return {key: value for key, value in group.items() if key not in layout_keys}


def _root(array):
    """The array at the end of ``array``'s chain of ``.base``s: the one owning the memory (or
    viewing memory that is not an array's)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _check_disjoint(name, runs, what):
    """``runs``: ``(start, stop, group, label)``; a ValueError naming the first two that
    overlap."""
    ordered = sorted(run for run in runs if run[1] > run[0])
    for before, after in zip(ordered, ordered[1:]):
        if after[0] < before[1]:
            a, b = sorted((before, after), key=lambda run: (run[2], run[0]))
            raise ValueError(f"{name}: {a[3]} and {b[3]} overlap (elements "
                             f"[{max(a[0], b[0])}, {min(a[1], b[1])}) of the vector are in "
                             f"both): each element may be in one {what} only")


def layout_from_views(groups: Any, hyperparameters: Sequence[str]) -> GroupLayout:
    """The layout of PyTorch's form: a list of ``{"params": views, **hyperparameters}``.

    Raises
    ------
    TypeError
        Not a list of dicts, a key that is neither ``"params"`` nor a hyperparameter, a member of
        ``"params"`` that is not a NumPy array.
    ValueError
        Views of different vectors, of a vector that is not 1-D C-contiguous, views that are not
        C-contiguous, views that overlap, no view at all.
    """
    name = "params"
    groups = _group_dicts(name, groups)
    overrides, entries, views, shapes = [], [], [], []
    for index, group in enumerate(groups):
        overrides.append(_split(name, index, group, ("params",), hyperparameters))
        members = group["params"]
        if isinstance(members, np.ndarray) or not isinstance(members, (list, tuple)):
            members = [members]
        for position, view in enumerate(members):
            label = f"params[{index}]['params']" + (
                f"[{position}]" if isinstance(group["params"], (list, tuple)) else "")
            if not isinstance(view, np.ndarray):
                if hasattr(view, "__cuda_array_interface__"):
                    raise TypeError(f"{label} is a GPU array: on the GPU give the groups as "
                                    f"ranges of the flat vector, groups=[{{'range': (start, "
                                    f"stop), ...}}] (a view of a device array does not lead "
                                    f"back to its vector)")
                raise TypeError(f"{label} must be a NumPy array (a view of the flat parameter "
                                f"vector, as numadam.ravel makes), got "
                                f"{check.describe_array(view)}")
            views.append((index, label, view))
        entries.append({"params": list(members)})
        shapes.append(members[0].shape if len(members) == 1 and isinstance(
            members[0], np.ndarray) else None)
    if not views:
        raise ValueError("params: the groups hold no array; give each group's 'params' as "
                         "views of one flat vector (numadam.ravel makes one)")
    vector = _root(views[0][2])
    first_label = views[0][1]
    for _, label, view in views:
        if _root(view) is not vector:
            raise ValueError(f"{label} and {first_label} are not views of one vector: every "
                             f"group's 'params' must view the same flat vector (make one with "
                             f"numadam.ravel), or pass the vector with groups=[{{'range': "
                             f"(start, stop), ...}}]")
    try:
        check.parameter_vector("the vector the groups' views share", vector)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{error} (the groups' views must be views of one flat vector, as "
                          f"numadam.ravel makes)") from None
    itemsize = vector.itemsize
    base_address = vector.ctypes.data
    runs = []
    segments = [[] for _ in groups]
    for index, label, view in views:
        if view.dtype != vector.dtype:
            raise ValueError(f"{label} has dtype {view.dtype}, its vector {vector.dtype}: pass "
                             f"views of the vector as they are")
        if not view.flags.c_contiguous:
            raise ValueError(f"{label} is not C-contiguous (shape {view.shape}, strides "
                             f"{view.strides}): a group's views must each be one run of the "
                             f"vector's elements, as numadam.ravel's views are")
        offset = view.ctypes.data - base_address
        start = offset // itemsize
        if offset % itemsize or not 0 <= start <= vector.shape[0] - view.size:
            raise ValueError(f"{label} does not lie on the vector's elements")
        runs.append((start, start + view.size, index, label))
        segments[index].append((start, start + view.size))
    _check_disjoint(name, runs, "group's 'params'")
    return GroupLayout(vector, tuple(tuple(runs) for runs in segments), tuple(overrides),
                       tuple(entries), tuple(shapes))


def _integers(value):
    """Whether ``value`` is a tuple or list of integers (bools are not)."""
    return isinstance(value, (tuple, list)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
        for v in value)


def _range(label, value, n):
    if not _integers(value) or len(value) != 2:
        raise TypeError(f"{label} must be a pair of integers (start, stop), got {value!r:.60}")
    start, stop = int(value[0]), int(value[1])
    if not 0 <= start < stop <= n:
        raise ValueError(f"{label} = {value!r} must satisfy 0 <= start < stop <= {n} (the "
                         f"vector's size)")
    return start, stop


def _shape(label, value, size):
    """A range's ``"shape"``: a tuple of positive integers whose product is the range's size."""
    if not _integers(value) or not value:
        raise TypeError(f"{label} must be a tuple of integers (a shape), got {value!r:.60}")
    shape = tuple(int(v) for v in value)
    if min(shape) < 1 or math.prod(shape) != size:
        raise ValueError(f"{label} = {value!r} must be positive integers whose product is the "
                         f"range's size, {size}")
    return shape


def layout_from_ranges(vector: np.ndarray, groups: Any,
                       hyperparameters: Sequence[str]) -> GroupLayout:
    """The layout of ``groups=[{"range": (start, stop), **hyperparameters}, ...]`` over the flat
    ``vector`` (checked already): one run per group, and the elements no range covers as a last
    group with no overrides (if there are any). A group may give ``"shape"`` too.

    Raises
    ------
    TypeError
        Not a list of dicts, a key that is neither ``"range"``, ``"shape"`` nor a
        hyperparameter, a range that is not a pair of integers, a shape not a tuple of them.
    ValueError
        An empty or out-of-bounds range, ranges that overlap, a shape of another size.
    """
    name = "groups"
    groups = _group_dicts(name, groups)
    n = vector.shape[0]
    overrides, runs, entries, shapes = [], [], [], []
    for index, group in enumerate(groups):
        overrides.append(_split(name, index, group, ("range", "shape"), hyperparameters))
        start, stop = _range(f"groups[{index}]['range']", group["range"], n)
        runs.append((start, stop, index, f"groups[{index}]['range']"))
        if "shape" in group:
            shape = _shape(f"groups[{index}]['shape']", group["shape"], stop - start)
            entries.append({"params": [vector[start:stop].reshape(shape)],
                            "range": (start, stop), "shape": shape})
        else:
            shape = None
            entries.append({"params": [vector[start:stop]], "range": (start, stop)})
        shapes.append(shape)
    _check_disjoint(name, runs, "group's range")
    segments = [((start, stop),) for start, stop, _, _ in runs]
    rest, position = [], 0
    for start, stop, _, _ in sorted(runs):
        if start > position:
            rest.append((position, start))
        position = stop
    if position < n:
        rest.append((position, n))
    if rest:
        segments.append(tuple(rest))
        overrides.append({})
        entries.append({"params": [vector[start:stop] for start, stop in rest]})
        shapes.append(None)
    return GroupLayout(vector, tuple(segments), tuple(overrides), tuple(entries),
                       tuple(shapes))
