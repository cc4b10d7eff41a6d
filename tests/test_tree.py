"""numadam.ravel / unravel (issue 22): a nested structure of arrays as one vector and views into
it, zero-copy both ways; bad leaves and vectors get clear errors."""

import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numadam

Layer = collections.namedtuple("Layer", "W b")


def _leaves(tree):
    if tree is None:
        return []
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _leaves(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


def _same_structure(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(
            _same_structure(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(
            _same_structure(x, y) for x, y in zip(a, b))
    return np.shape(a) == np.shape(b)


def test_views_alias_the_vector_both_ways(rng):
    tree = {"layers": [Layer(rng.standard_normal((3, 2)), rng.standard_normal(2)),
                       Layer(rng.standard_normal((2, 1)), rng.standard_normal(1))],
            "scale": 2.5, "frozen": None}
    flat, views = numadam.ravel(tree)
    assert flat.ndim == 1 and flat.flags.c_contiguous and flat.size == 6 + 2 + 2 + 1 + 1
    assert _same_structure(views, tree) and isinstance(views["layers"][0], Layer)
    for original, view in zip(_leaves(tree), _leaves(views)):
        np.testing.assert_array_equal(view, original)
        assert np.shares_memory(view, flat)
        assert not np.shares_memory(view, np.asarray(original))  # the user's arrays copied
    flat *= 2.0  # the vector -> the views
    np.testing.assert_array_equal(views["layers"][1].W, 2 * tree["layers"][1].W)
    assert views["scale"] == 5.0 and views["scale"].shape == ()
    views["layers"][0].b[:] = 7.0  # a view -> the vector
    # the layout: "layers" before "scale" (sorted keys), each Layer's W (C order) then b
    assert (flat[6:8] == 7.0).all() and flat[-1] == 5.0


def test_an_optimizer_on_the_vector_updates_what_the_user_holds(rng):
    """Adam on the vector equals one Adam per array (an elementwise rule), bitwise, and the
    user's views see every step."""
    params = {"W": rng.standard_normal((4, 3)), "b": np.zeros(3)}
    flat, views = numadam.ravel(params)
    opt = numadam.Adam(flat, lr=0.1)
    separate = {name: numadam.Adam(array.ravel().copy(), lr=0.1)
                for name, array in params.items()}
    for _ in range(3):
        grads = {"b": rng.standard_normal(3), "W": rng.standard_normal((4, 3))}  # other order
        opt.step(numadam.ravel(grads)[0])
        for name, optimizer in separate.items():
            optimizer.step(grads[name].ravel())
    for name, optimizer in separate.items():
        np.testing.assert_array_equal(views[name].ravel(), optimizer.param)
    assert np.shares_memory(views["W"], opt.param)


def test_dict_layout_does_not_depend_on_insertion_order(rng):
    a, b = rng.standard_normal(2), rng.standard_normal(3)
    flat_ab, _ = numadam.ravel({"a": a, "b": b})
    flat_ba, views = numadam.ravel({"b": b, "a": a})
    np.testing.assert_array_equal(flat_ab, flat_ba)
    assert list(views) == ["b", "a"]  # what the user gets back keeps their order


def test_unravel_gives_views_of_any_vector_laid_out_alike(rng):
    tree = [np.ones((2, 2)), (np.zeros(3), {"c": np.ones(1)})]
    flat, _ = numadam.ravel(tree)
    other = rng.standard_normal(flat.size)
    views = numadam.unravel(other, tree)
    assert _same_structure(views, tree)
    assert all(np.shares_memory(view, other) for view in _leaves(views))
    np.testing.assert_array_equal(np.concatenate([v.ravel() for v in _leaves(views)]), other)


def test_mixed_dtypes_are_refused_unless_a_dtype_is_given():
    tree = {"a": np.ones(2), "b": np.ones(2, np.float32), "n": np.arange(3)}
    with pytest.raises(ValueError, match=r"share one dtype: tree\['a'\] is float64 and "
                                         r"tree\['b'\] is float32"):
        numadam.ravel({"a": tree["a"], "b": tree["b"]})
    with pytest.raises(TypeError, match=r"tree\['n'\] holds integers"):
        numadam.ravel({"n": tree["n"]})
    flat, views = numadam.ravel(tree, dtype=np.float32)
    assert flat.dtype == np.float32 and views["n"].dtype == np.float32
    np.testing.assert_array_equal(views["n"], [0, 1, 2])
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        numadam.ravel(tree, dtype=np.int64)


@pytest.mark.parametrize("leaf, match", [
    ("text", "must be an array of real numbers, got dtype <U4"),
    (np.array([1 + 2j]), "got dtype complex128"),
    (np.array([True]), "booleans are not parameters"),
    (object(), "got dtype object"),
    (np.ones(2, np.float16), "float16: optimizers update float32 or float64"),
])
def test_bad_leaves_are_named(leaf, match):
    with pytest.raises(TypeError, match=match):
        numadam.ravel({"good": np.ones(2), "bad": [leaf]} if not isinstance(leaf, np.ndarray)
                      or leaf.dtype != np.float16 else {"bad": [leaf]})


def test_unravel_refuses_vectors_it_cannot_alias():
    like = [np.ones(3), np.ones(2)]
    with pytest.raises(ValueError, match="flat has 4 elements and like's leaves 5"):
        numadam.unravel(np.ones(4), like)
    with pytest.raises(ValueError, match="1-D contiguous"):
        numadam.unravel(np.ones(10)[::2], like)
    with pytest.raises(ValueError, match="1-D contiguous"):
        numadam.unravel(np.ones((5, 1)), like)
    with pytest.raises(TypeError, match="flat must be a NumPy array"):
        numadam.unravel([1.0] * 5, like)
    with pytest.raises(TypeError, match="keys of like must be sortable"):
        numadam.unravel(np.ones(2), {1: np.ones(1), "a": np.ones(1)})


def test_an_empty_structure_is_an_empty_vector():
    flat, views = numadam.ravel({"a": [], "b": None})
    assert flat.shape == (0,) and flat.dtype == np.float64 and views == {"a": [], "b": None}


shapes = st.lists(st.integers(0, 3), min_size=0, max_size=2).map(tuple)
leaves = shapes.map(lambda shape: np.arange(np.prod(shape, dtype=int), dtype=float).reshape(shape))
trees = st.recursive(leaves, lambda children: st.one_of(
    st.lists(children, max_size=3), st.lists(children, max_size=3).map(tuple),
    st.dictionaries(st.text("abc", min_size=1, max_size=2), children, max_size=3)), max_leaves=8)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(tree=trees)
def test_any_structure_round_trips(tree):
    flat, views = numadam.ravel(tree)
    assert _same_structure(views, tree)
    originals, aliased = _leaves(tree), _leaves(views)
    assert flat.size == sum(np.size(leaf) for leaf in originals)
    for original, view in zip(originals, aliased):
        np.testing.assert_array_equal(view, original)
        assert view.dtype == flat.dtype and (view.size == 0 or np.shares_memory(view, flat))
    again = numadam.unravel(flat, views)
    assert all(a is not b and (a.size == 0 or np.shares_memory(a, b))
               for a, b in zip(_leaves(again), aliased))
