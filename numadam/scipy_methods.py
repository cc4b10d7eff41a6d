"""numadam's methods as SciPy custom methods, one function per method of the rule registry::

    scipy.optimize.minimize(fun, x0, jac=grad, method=numadam.adam, options={"lr": 1e-2})

Each is ``numadam.minimize(..., method=<its name>)`` with SciPy's custom-method signature; its
docstring lists its options (:func:`numadam.show_options`). The list at the end is written by
``python -m numadam._generate_classes`` from the registry (a test checks it is in step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scipy.optimize import OptimizeResult

from numadam._minimize import first_order_only, solve
from numadam._options import show_options

SciPyMethod = Callable[..., OptimizeResult]


def scipy_method(name: str) -> SciPyMethod:
    """The SciPy custom method for numadam's method ``name``."""

    def method(fun: Callable[..., Any], x0: Any, args: tuple = (), jac: Any = None,
               hess: Any = None, hessp: Any = None, bounds: Any = None, constraints: Any = (),
               callback: Callable[..., Any] | None = None, **options: Any) -> OptimizeResult:
        first_order_only(name, hess, hessp, constraints, stacklevel=3)
        if "tol" in options:  # SciPy passes minimize's `tol` to custom methods as an option
            options.setdefault("gtol", options.pop("tol"))
        return solve(fun, x0, args, name, jac, bounds, callback, options)

    method.__name__ = method.__qualname__ = name
    method.__module__ = __name__
    method.__doc__ = (
        f"``{name}`` for ``scipy.optimize.minimize(fun, x0, method=numadam.{name}, "
        f"options={{...}})``; the same as ``numadam.minimize(..., method={name!r})``.\n\n"
        f"Options\n-------\n" + show_options(name, disp=False).split("-------\n", 1)[1]
    )
    return method


# <methods> written by python -m numadam._generate_classes, one per method of the registry
__all__ = [
    "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "ademamix", "adopt", "amsgrad",
    "asgd", "dadapt_adam", "dog", "lion", "momentum", "nadam", "nesterov", "prodigy", "radam",
    "rmsprop", "rprop", "schedulefree_adamw", "sgd",
]

adam = scipy_method("adam")
adamw = scipy_method("adamw")
amsgrad = scipy_method("amsgrad")
rmsprop = scipy_method("rmsprop")
sgd = scipy_method("sgd")
momentum = scipy_method("momentum")
nesterov = scipy_method("nesterov")
adamax = scipy_method("adamax")
adagrad = scipy_method("adagrad")
adadelta = scipy_method("adadelta")
schedulefree_adamw = scipy_method("schedulefree_adamw")
nadam = scipy_method("nadam")
radam = scipy_method("radam")
rprop = scipy_method("rprop")
lion = scipy_method("lion")
asgd = scipy_method("asgd")
adopt = scipy_method("adopt")
ademamix = scipy_method("ademamix")
prodigy = scipy_method("prodigy")
dadapt_adam = scipy_method("dadapt_adam")
dog = scipy_method("dog")
adafactor = scipy_method("adafactor")
# </methods>

# method="spsa" is no rule of the registry but SGD, its gain and jac="spsa" (numadam._options)
spsa = scipy_method("spsa")
__all__ += ["spsa"]
