"""Parameters as users hold them: a nested structure of arrays as one flat vector and views.

An optimizer of numadam updates one contiguous vector in place. :func:`ravel` copies a nested
dict/list/tuple of arrays into such a vector once and hands back the same structure made of
views into it, so that from then on every step on the vector is seen through the views with no
copy either way (JAX's ``ravel_pytree`` and torch's ``parameters_to_vector`` copy on every
call). :func:`unravel` makes that structure of views for any vector laid out the same way: the
gradient, a state vector, an answer of ``minimize``.

The layout: leaves in the order of a depth-first walk, sequences in their order, dicts in the
order of their sorted keys (as JAX), so that two dicts with the same keys lay out alike
whatever order they were built in; each leaf's elements in C order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ravel", "unravel"]


def ravel(tree: Any, dtype: Any = None) -> tuple[np.ndarray, Any]:
    """One contiguous vector holding every array of ``tree``, and ``tree`` made of views into it.

    Parameters
    ----------
    tree : array_like, or dict, list or tuple (named tuples too) of them, nested
        The parameters. Each leaf is an array or a number (a 0-d view in the result); ``None``
        is an empty node, kept as it is.
    dtype : {None, float32, float64}, optional
        The vector's dtype. ``None``: the leaves' common floating dtype, which they must share
        (mixed float32 and float64 leaves are refused rather than silently promoted). Given:
        every leaf is converted to it (integer leaves included).

    Returns
    -------
    flat : numpy.ndarray
        A new 1-D C-contiguous array with every leaf's values, in the layout of the module
        docstring. Hand it to an optimizer: ``numadam.Adam(flat)``.
    views : same structure as ``tree``
        Each leaf replaced by a view of ``flat`` with the leaf's shape: writing either changes
        both. The arrays of ``tree`` themselves are copied, not aliased.

    Raises
    ------
    TypeError
        A leaf that is not an array of real numbers (strings, objects, complex numbers,
        booleans), or a ``dtype`` that is not float32 or float64.
    ValueError
        Leaves of different floating dtypes with ``dtype=None``; no leaf at all with
        ``dtype=None`` is allowed (float64).

    Examples
    --------
    >>> import numpy as np, numadam
    >>> flat, views = numadam.ravel({"W": np.ones((2, 2)), "b": np.zeros(2)})
    >>> flat  # "W" sorts before "b"
    array([1., 1., 1., 1., 0., 0.])
    >>> flat -= 0.5
    >>> views["b"]
    array([-0.5, -0.5])
    """
    leaves = []
    _walk(tree, "tree", leaves)
    arrays = [(path, _leaf_array(path, leaf)) for path, leaf in leaves]
    if dtype is None:
        kinds = {array.dtype for _, array in arrays}
        if any(kind.kind in "iu" for kind in kinds):
            path, array = next(item for item in arrays if item[1].dtype.kind in "iu")
            raise TypeError(f"{path} holds integers ({array.dtype}): optimizers update floating "
                            f"parameters; pass dtype=np.float64 (or float32) to convert them")
        if len(kinds) > 1:
            (path_a, a), (path_b, b) = _first_two_dtypes(arrays)
            raise ValueError(f"the leaves must share one dtype: {path_a} is {a.dtype} and "
                             f"{path_b} is {b.dtype}; pass dtype= to convert them all")
        vector_dtype = kinds.pop() if kinds else np.dtype(np.float64)
        if vector_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"the leaves are {vector_dtype}: optimizers update float32 or "
                            f"float64 parameters; pass dtype= to convert them")
    else:
        vector_dtype = np.dtype(dtype)
        if vector_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {vector_dtype}")
    flat = np.empty(sum(array.size for _, array in arrays), vector_dtype)
    start = 0
    for _, array in arrays:
        flat[start:start + array.size] = array.ravel()
        start += array.size
    return flat, _views_of(flat, tree, "tree", [(path, array.shape) for path, array in arrays])


def unravel(flat: np.ndarray, like: Any) -> Any:
    """``like``'s structure made of views into ``flat``, laid out as :func:`ravel` lays it out.

    Parameters
    ----------
    flat : numpy.ndarray
        A 1-D C-contiguous vector with as many elements as ``like``'s leaves hold together (the
        vector of :func:`ravel`, a gradient laid out like it, an answer's ``x``).
    like : same kinds as :func:`ravel`'s ``tree``
        Only its structure and its leaves' shapes are read.

    Returns
    -------
    views : same structure as ``like``
        Views of ``flat`` (no copy): writing them writes ``flat``.

    Raises
    ------
    TypeError
        ``flat`` not a NumPy array.
    ValueError
        ``flat`` not 1-D and contiguous (a view could not alias it), or of another size.
    """
    if not isinstance(flat, np.ndarray):
        raise TypeError(f"flat must be a NumPy array, got {type(flat).__name__}")
    if flat.ndim != 1 or not flat.flags.c_contiguous:
        raise ValueError(f"flat must be a 1-D contiguous array (views of it are returned), got "
                         f"shape {flat.shape}" + ("" if flat.ndim != 1 else ", strided"))
    leaves = []
    _walk(like, "like", leaves)
    shapes = [(path, np.shape(leaf)) for path, leaf in leaves]
    total = sum(int(np.prod(shape, dtype=np.int64)) for _, shape in shapes)
    if flat.size != total:
        raise ValueError(f"flat has {flat.size} elements and like's leaves {total}")
    return _views_of(flat, like, "like", shapes)


def _views_of(flat, like, root, shapes):
    """``like`` with its leaves replaced by views of ``flat``: ``shapes``, ``(path, shape)`` of
    each leaf in the layout's order (paths from the name ``root``), say where each one lies."""
    views, start = {}, 0
    for path, shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        views[path] = flat[start:start + size].reshape(shape)
        start += size
    return _rebuild(like, root, views)


def _walk(node, path, leaves):
    """Append ``(path, leaf)`` for every leaf under ``node``, in the layout's order."""
    if node is None:
        return
    if isinstance(node, dict):
        for key in _sorted_keys(node, path):
            _walk(node[key], f"{path}[{key!r}]", leaves)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            _walk(item, f"{path}[{index}]", leaves)
    else:
        leaves.append((path, node))


def _rebuild(node, path, views):
    """``node``'s structure with the leaf at each path replaced by ``views[path]``."""
    if node is None:
        return None
    if isinstance(node, dict):
        # the caller's key order is kept in what it gets back; only the layout sorts them
        return type(node)((key, _rebuild(value, f"{path}[{key!r}]", views))
                          for key, value in node.items())
    if isinstance(node, (list, tuple)):
        items = [_rebuild(item, f"{path}[{index}]", views) for index, item in enumerate(node)]
        if isinstance(node, tuple) and hasattr(node, "_fields"):  # a named tuple
            return type(node)(*items)
        return type(node)(items)
    return views[path]


def _sorted_keys(mapping, path):
    try:
        return sorted(mapping)
    except TypeError:
        raise TypeError(f"the keys of {path} must be sortable (they order the layout), got "
                        f"{sorted({type(key).__name__ for key in mapping})}") from None


def _leaf_array(path, leaf):
    """The leaf as an array of real numbers, or a TypeError naming its path."""
    try:
        array = np.asarray(leaf)
    except Exception as error:  # noqa: BLE001 - any failure is the same bad leaf
        raise TypeError(f"{path} must be an array of real numbers: {error}") from None
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{path} must be an array of real numbers, got dtype {array.dtype}"
                        + (" (booleans are not parameters)" if array.dtype.kind == "b" else ""))
    return array


def _first_two_dtypes(arrays):
    first = arrays[0]
    return first, next(item for item in arrays if item[1].dtype != first[1].dtype)
