"""Observing a run: callbacks for :func:`numadam.minimize` and :func:`numadam.minimize_batch`.

Each is a callable taking SciPy's ``intermediate_result`` (an ``OptimizeResult``), passed as
``callback=``::

    history = numadam.callbacks.History(every=10)
    result = numadam.minimize(fun, x0, jac=jac, callback=history)
    plt.semilogy(history.iteration, history.fun)

- :class:`ProgressBar`: a progress bar on stderr, drawn by ``tqdm`` when it is installed
  (``pip install numadam[progress]``), else one line rewritten in place;
  ``options={"progress": True}`` is the shortcut;
- :class:`History`: records the iteration, ``fun``, the gradient norm and the learning rate
  every ``every`` iterations, as NumPy arrays;
- :class:`CSVLogger`: writes the same to a CSV file.

What a callback sees: ``minimize``'s ``intermediate_result`` holds ``x``, ``fun``, ``jac``,
``nit`` (this call's iterations), ``lr`` (the learning rate of the step just taken, after a
schedule) and ``grad_norm`` (the Euclidean norm of ``jac``); ``minimize_batch``'s holds the same
for the whole batch, as arrays with one entry (or row) per problem (``lr`` a scalar, or an array
for a per-problem one), and ``status``.

Cost: with no callback nothing is computed for them (the loops that run without one are
unchanged); a callback makes ``minimize`` run its Python loop, and recording costs about a
microsecond an iteration (``benchmarks/README.md``).
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from typing import IO, Any

import numpy as np

__all__ = ["CSVLogger", "History", "ProgressBar", "chain"]


def _field(result: Any, name: str) -> Any:
    """``result[name]`` (an ``OptimizeResult`` is a dict), ``None`` where it has none."""
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def _grad_norm(result: Any) -> Any:
    """``result``'s ``grad_norm``, computed from ``jac`` when it has none (a result from
    another library)."""
    norm = _field(result, "grad_norm")
    if norm is None:
        jac = _field(result, "jac")
        if jac is None:
            return math.nan
        jac = np.asarray(jac)
        norm = np.linalg.norm(jac, axis=-1) if jac.ndim > 1 else float(np.linalg.norm(jac))
    return norm


def _kept(value: Any) -> Any:
    """``value`` as a record keeps it: a number as it is, an array copied (a batch's)."""
    return np.copy(value) if isinstance(value, np.ndarray) else value


def _largest(nit: Any) -> int:
    """``nit``, or a batch's largest."""
    return int(nit.max()) if isinstance(nit, np.ndarray) else int(nit)


def _count(every: int) -> int:
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}")
    return int(every)


class History:
    """Record a run every ``every`` iterations: ``iteration``, ``fun``, ``grad_norm``, ``lr``.

    Parameters
    ----------
    every : int, default 1
        Record every ``every``-th call (one call per iteration in ``minimize``; in
        ``minimize_batch``, one per ``callback_every`` iterations).
    keep_x : bool, default False
        Also record the iterates (``x``, one row per record).

    Attributes
    ----------
    iteration, fun, grad_norm, lr : numpy.ndarray
        One entry per record (for a batch, one row per record with one column per problem;
        ``iteration`` holds the batch's largest ``nit``). They plot directly:
        ``plt.semilogy(history.iteration, history.fun)``.
    x : numpy.ndarray
        With ``keep_x``: the iterates, shape (records, n) (a batch: (records, B, n)).

    Examples
    --------
    >>> import numpy as np, numadam
    >>> history = numadam.callbacks.History(every=5)
    >>> result = numadam.minimize(lambda x: float(x @ x), np.ones(3), jac=lambda x: 2 * x,
    ...                           callback=history, options={"lr": 0.1, "maxiter": 20})
    >>> history.iteration
    array([ 5, 10, 15, 20])
    >>> bool(history.fun[-1] < history.fun[0])
    True
    """

    def __init__(self, every: int = 1, *, keep_x: bool = False) -> None:
        self.every = _count(every)
        self.keep_x = bool(keep_x)
        self._calls = 0
        self._rows: dict[str, list] = {"iteration": [], "fun": [], "grad_norm": [], "lr": [],
                                       "x": []}

    def __call__(self, intermediate_result: Any) -> None:
        self._calls += 1
        if self._calls % self.every:
            return
        result = intermediate_result
        nit = _field(result, "nit")
        lr = _field(result, "lr")
        rows = self._rows
        rows["iteration"].append(self._calls if nit is None else _largest(nit))
        rows["fun"].append(_kept(_field(result, "fun")))
        rows["grad_norm"].append(_kept(_grad_norm(result)))
        rows["lr"].append(math.nan if lr is None else _kept(lr))
        if self.keep_x:
            rows["x"].append(np.copy(_field(result, "x")))

    def __len__(self) -> int:
        return len(self._rows["iteration"])

    def _array(self, name: str, dtype: Any = float) -> np.ndarray:
        return np.asarray(self._rows[name], dtype=dtype)

    @property
    def iteration(self) -> np.ndarray:
        """The iteration of each record (``nit``), int64."""
        return self._array("iteration", np.int64)

    @property
    def fun(self) -> np.ndarray:
        """``fun`` at each record."""
        return self._array("fun")

    @property
    def grad_norm(self) -> np.ndarray:
        """The Euclidean norm of the gradient at each record (from ``jac`` when the result has
        no ``grad_norm``; NaN when it has neither, as SciPy's BFGS gives)."""
        return self._array("grad_norm")

    @property
    def lr(self) -> np.ndarray:
        """The learning rate of the step before each record (NaN where unknown)."""
        return self._array("lr")

    @property
    def x(self) -> np.ndarray:
        """The iterates (with ``keep_x=True``)."""
        if not self.keep_x:
            raise AttributeError("History(keep_x=False) records no iterates")
        return self._array("x")

    def __repr__(self) -> str:
        return f"History(every={self.every}, records={len(self)})"


class CSVLogger:
    """Write ``iteration, fun, grad_norm, lr`` to a CSV file every ``every`` iterations.

    The file is created (or truncated) with its header line when the logger is; every record
    is written at once (flushed). A batch writes one line per problem, with a ``problem``
    column. Close it with :meth:`close` or use it as a context manager.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file.
    every : int, default 1
        Write every ``every``-th call.
    """

    COLUMNS = ("iteration", "fun", "grad_norm", "lr")

    def __init__(self, path: str | os.PathLike, every: int = 1) -> None:
        self.every = _count(every)
        self.path = os.fspath(path)
        self._calls = 0
        self._file: IO[str] | None = open(self.path, "w", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file)
        self._header_written = False

    def __call__(self, intermediate_result: Any) -> None:
        self._calls += 1
        if self._calls % self.every or self._file is None:
            return
        result = intermediate_result
        nit, fun = _field(result, "nit"), _field(result, "fun")
        lr = _field(result, "lr")
        lr = math.nan if lr is None else lr
        norm = _grad_norm(result)
        if np.ndim(fun):  # a batch: a line per problem
            if not self._header_written:
                self._writer.writerow(("problem",) + self.COLUMNS)
            nits, funs = np.broadcast_to(nit, np.shape(fun)), np.asarray(fun)
            norms, lrs = np.broadcast_to(norm, funs.shape), np.broadcast_to(lr, funs.shape)
            self._writer.writerows(
                (b, int(nits[b]), repr(float(funs[b])), repr(float(norms[b])),
                 repr(float(lrs[b]))) for b in range(funs.shape[0]))
        else:
            if not self._header_written:
                self._writer.writerow(self.COLUMNS)
            self._writer.writerow((self._calls if nit is None else int(nit), repr(float(fun)),
                                   repr(float(norm)), repr(float(lr))))
        self._header_written = True
        self._file.flush()

    def close(self) -> None:
        """Close the file (later calls write nothing)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> CSVLogger:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CSVLogger({self.path!r}, every={self.every})"


def _tqdm_class() -> Any:
    """``tqdm.tqdm``, or ``None`` when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class ProgressBar:
    """A progress bar on stderr, as a callback (one call per iteration) or driven by hand.

    Drawn by ``tqdm`` when it is installed, else as one line rewritten in place
    (``\\r``), at most every ``mininterval`` seconds. Close it when the run ends
    (:meth:`close`, or use it as a context manager); ``options={"progress": True}`` makes and
    closes one.

    Parameters
    ----------
    total : int, optional
        The number of iterations expected (``maxiter``); unknown when omitted.
    desc : str, optional
        A label before the bar.
    leave : bool, default True
        Keep the finished bar on its line; ``False`` erases it.
    file : file object, optional
        Where to draw (default ``sys.stderr``).
    mininterval : float, default 0.1
        Seconds between two redraws.
    """

    def __init__(self, total: int | None = None, *, desc: str | None = None,
                 leave: bool = True, file: IO[str] | None = None,
                 mininterval: float = 0.1) -> None:
        self.total, self.desc, self.leave = total, desc, bool(leave)
        self.file = sys.stderr if file is None else file
        self.mininterval = float(mininterval)
        self.n = 0
        self.postfix = ""
        self._last_draw = -math.inf
        self._drawn = None  # the count last drawn
        self._closed = False
        tqdm = _tqdm_class()
        self._tqdm = None if tqdm is None else tqdm(
            total=total, desc=desc, leave=leave, file=self.file, mininterval=mininterval,
            dynamic_ncols=True)

    def __call__(self, intermediate_result: Any) -> None:
        nit = _field(intermediate_result, "nit")
        fun = _field(intermediate_result, "fun")
        done = self.n + 1 if nit is None else _largest(nit)
        postfix = {}
        if fun is not None:
            postfix["fun"] = (f"{float(fun):.6g}" if np.ndim(fun) == 0
                              else f"{float(np.min(fun)):.6g} (min)")
        self.update(done - self.n, **postfix)

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Advance by ``n``; the keyword arguments are shown after the bar (``loss=0.3``)."""
        if self._closed:
            return
        self.n += n
        text = ", ".join(f"{key}={value}" for key, value in postfix.items())
        if self._tqdm is not None:
            if text and text != self.postfix:
                self._tqdm.set_postfix_str(text, refresh=False)
            self._tqdm.update(n)
            self.postfix = text
            return
        self.postfix = text or self.postfix
        now = time.monotonic()
        if now - self._last_draw >= self.mininterval or self.n == self.total:
            self._last_draw = now
            self._draw()

    def _line(self) -> str:
        label = f"{self.desc}: " if self.desc else ""
        if self.total:
            width = 30
            filled = width * min(self.n, self.total) // self.total
            line = f"{label}[{'#' * filled}{'.' * (width - filled)}] {self.n}/{self.total}"
        else:
            line = f"{label}{self.n} it"
        return f"{line} {self.postfix}".rstrip()

    def _draw(self) -> None:
        self._drawn = self.n
        self.file.write(f"\r{self._line()}\033[K")
        self.file.flush()

    def close(self) -> None:
        """End the bar: the last state drawn and a new line (``leave``), or the line erased."""
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.close()
            return
        if self.leave:
            if self._drawn != self.n:
                self._draw()
            self.file.write("\n")
        else:
            self.file.write("\r\033[K")
        self.file.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProgressBar(n={self.n}, total={self.total})"


def chain(*callbacks: Any) -> Any:
    """One callback calling each of ``callbacks`` (``None`` ones left out) in turn, or
    ``None`` when there is none; a ``StopIteration`` of any stops the run."""
    present = [callback for callback in callbacks if callback is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def call(intermediate_result: Any) -> None:
        for callback in present:
            callback(intermediate_result)

    return call
