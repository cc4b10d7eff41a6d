"""A multilayer perceptron whose weights and biases all live in one flat parameter vector.

Every layer's weight matrix and bias is a *view* into ``mlp.params``, and every gradient a view
into ``mlp.grad``, so one optimizer step, ``numadam.Adam(mlp.params).step(mlp.grad)``, updates
the whole network with one fused kernel.

Weights are stored ``(fan_in, fan_out)`` so that the forward pass is ``X @ W`` on C-contiguous
arrays (PyTorch's ``nn.Linear`` stores the transpose); initialisation is ``nn.Linear``'s default,
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
Hidden layers use ReLU, the output layer feeds a softmax cross-entropy averaged over the batch.
Matrix products go through NumPy's BLAS; the elementwise parts (bias + ReLU, the loss and its
gradient, the ReLU mask) are small fused Numba kernels. Activation buffers are allocated once for
the largest batch seen and reused, so a training step allocates nothing of the network's size.

BLAS threads: by default the network runs its matrix products on *one* BLAS thread. MNIST's
products are small (64 x 784 x 128), a second OpenBLAS thread does not help them, and OpenBLAS's
threads wait for each other by spinning, which on a small machine beside other busy threads
makes an epoch many times slower (figures in ``benchmarks/README.md``).
``blas_threads=None`` leaves BLAS as it is. The limit is set through threadpoolctl around each
call and restored after; OpenBLAS's limit is process-wide, so other threads' BLAS calls
meanwhile run on one thread too.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
from numba import njit

from numadam._tree import ravel, unravel

_jit = njit(cache=True, error_model="numpy")

#: predict / logits / accuracy run over this many rows at a time, which bounds the activation
#: buffers a large evaluation set would otherwise keep alive.
EVAL_CHUNK_ROWS = 4096


@functools.lru_cache(maxsize=1)
def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded now (NumPy's among them)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # a declared dependency; without it BLAS simply keeps its threads
        return ()
    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


class _BlasThreads:
    """``with _BlasThreads(n):`` caps every BLAS library at ``n`` threads, then restores them.

    About half the cost of ``threadpoolctl``'s own context managers, as it runs around every
    training step. Libraries already at or below ``n`` are left
    alone, so nesting inside the caller's own limit costs one call per library.
    """

    __slots__ = ("limit", "saved")

    def __init__(self, limit):
        self.limit = limit
        self.saved = []

    def __enter__(self):
        if self.limit is not None:
            for lib in _blas_libraries():
                threads = lib.get_num_threads()
                if threads is not None and threads > self.limit:
                    lib.set_num_threads(self.limit)
                    self.saved.append((lib, threads))
        return self

    def __exit__(self, *exc_info):
        while self.saved:
            lib, threads = self.saved.pop()
            lib.set_num_threads(threads)


@_jit
def _add_bias_relu(h, bias, relu):
    """``h += bias`` row by row, then ``h = max(h, 0)`` when ``relu``; in place."""
    rows, cols = h.shape
    for i in range(rows):
        for j in range(cols):
            value = h[i, j] + bias[j]
            if relu and value < 0:
                h[i, j] = 0
            else:
                h[i, j] = value


@_jit
def _softmax_cross_entropy(logits, labels, grad_logits):
    """Mean cross-entropy of ``logits`` and, into ``grad_logits``, its gradient.

    Stable for any logits: each row is shifted by its maximum before exponentiating (the
    log-sum-exp trick). The loss is accumulated in float64, the gradient keeps the input dtype.
    """
    rows, cols = logits.shape
    total = 0.0
    scale = 1.0 / rows
    for i in range(rows):
        peak = logits[i, 0]
        for j in range(1, cols):
            peak = max(peak, logits[i, j])
        norm = 0.0
        for j in range(cols):
            e = np.exp(logits[i, j] - peak)
            grad_logits[i, j] = e
            norm += e
        total += np.log(norm) + peak - logits[i, labels[i]]
        for j in range(cols):
            grad_logits[i, j] = grad_logits[i, j] / norm * scale
        grad_logits[i, labels[i]] -= scale
    return total * scale


@_jit
def _relu_backward(grad, activation):
    """``grad *= (activation > 0)`` in place: the ReLU's derivative."""
    rows, cols = grad.shape
    for i in range(rows):
        for j in range(cols):
            if activation[i, j] <= 0:
                grad[i, j] = 0


@_jit
def _column_sums(matrix, out):
    """``out[:] = matrix.sum(axis=0)`` without a temporary."""
    out[:] = 0
    rows, cols = matrix.shape
    for i in range(rows):
        for j in range(cols):
            out[j] += matrix[i, j]


class MLP:
    """A ReLU network on one flat parameter vector, with softmax cross-entropy.

    Parameters
    ----------
    layer_sizes : sequence of int
        Input size, hidden sizes, number of classes; ``(784, 128, 10)`` is the MNIST model.
    dtype : float32 or float64, default float32
        dtype of the parameters, gradients and activations (float64 for gradient checks).
    rng : numpy.random.Generator or int, optional
        Source of the initial weights (a seed makes them reproducible; ``None``, fresh entropy).
    blas_threads : int or None, default 1
        BLAS threads for the network's matrix products (see the module notes: one is fastest
        for small batches on few cores); ``None`` leaves BLAS's setting alone.

    Attributes
    ----------
    params, grad : ndarray
        The flat parameter and gradient vectors (1-D, C-contiguous).
    weights, biases, weight_grads, bias_grads : list of ndarray
        Per-layer views into ``params`` and ``grad``; writing to one writes to the flat vector.
        Layer ``k``'s weight is ``(fan_in, fan_out)``, C-contiguous, laid out in ``params``
        before its bias ``(fan_out,)``; layers follow each other.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> net = MLP((4, 8, 3), rng=0)
    >>> opt = numadam.Adam(net.params, lr=1e-2)
    >>> X, y = np.ones((5, 4), np.float32), np.array([0, 1, 2, 0, 1])
    >>> loss = net.loss_and_grad(X, y)   # fills net.grad
    >>> opt.step(net.grad)               # updates every layer at once
    """

    def __init__(self, layer_sizes=(784, 128, 10), *, dtype=np.float32, rng=None,
                 blas_threads=1):
        try:
            sizes = tuple(operator.index(size) for size in layer_sizes)
        except TypeError:  # not iterable, or a size that is not an integer
            sizes = ()
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer_sizes needs at least two positive integer sizes, got "
                             f"{layer_sizes!r}")
        if blas_threads is not None and not (
                isinstance(blas_threads, (int, np.integer)) and blas_threads >= 1):
            raise ValueError(f"blas_threads must be a positive integer or None, got "
                             f"{blas_threads!r}")
        self.blas_threads = None if blas_threads is None else int(blas_threads)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.layer_sizes = sizes
        # one vector holding each layer's weight, then its bias (numadam.ravel's layout of a
        # list of pairs), and the gradient laid out alike: every layer a view of both
        self.params, layers = ravel([(np.empty((fan_in, fan_out), self.dtype),
                                      np.empty(fan_out, self.dtype))
                                     for fan_in, fan_out in zip(sizes, sizes[1:])])
        self.grad = np.zeros_like(self.params)
        self.weights, self.biases = [w for w, _ in layers], [b for _, b in layers]
        grads = unravel(self.grad, layers)
        self.weight_grads, self.bias_grads = [w for w, _ in grads], [b for _, b in grads]
        self.initialize(rng)
        self._capacity = 0  # rows of the activation buffers allocated so far
        self._buffers = None
        self._views_rows = -1  # the batch size whose buffer views are cached in _views_cache
        self._views_cache = None

    def initialize(self, rng=None):
        """PyTorch's ``nn.Linear`` default: weights and biases ~ U(-1/sqrt(fan_in), +...)."""
        rng = np.random.default_rng(rng)
        for weight, bias in zip(self.weights, self.biases):
            bound = 1.0 / np.sqrt(weight.shape[0])
            weight[:] = rng.uniform(-bound, bound, weight.shape)
            bias[:] = rng.uniform(-bound, bound, bias.shape)

    # -- forward and backward -----------------------------------------------------------------

    def _check_inputs(self, X, y=None):
        """Validate a batch; return ``y`` as contiguous ``intp`` labels (or None)."""
        inputs = self.layer_sizes[0]
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] != inputs:
            shape = X.shape if isinstance(X, np.ndarray) else type(X).__name__
            raise ValueError(f"X must be a 2-D array of shape (n, {inputs}), got {shape}")
        if X.shape[0] == 0:
            raise ValueError(f"X must hold at least one row, got shape {X.shape}")
        if X.dtype != self.dtype:
            # No silent conversion: a float64 batch on a float32 net would be copied every step.
            raise TypeError(f"X has dtype {X.dtype}; this network computes in {self.dtype} "
                            f"(convert once, e.g. X.astype(np.{self.dtype}))")
        if y is None:
            return None
        y = np.asarray(y)
        if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
            raise ValueError(f"y must be integer labels of shape ({X.shape[0]},), got "
                             f"{y.dtype} of shape {y.shape}")
        if y.min() < 0 or y.max() >= self.layer_sizes[-1]:
            raise ValueError(f"y holds labels outside 0..{self.layer_sizes[-1] - 1}: "
                             f"min {y.min()}, max {y.max()}")
        return np.ascontiguousarray(y, dtype=np.intp)

    def _activations(self, rows):
        """Activation and activation-gradient buffers for a batch of ``rows``.

        One allocation for the largest batch seen; smaller batches use its first rows (still
        C-contiguous, as ``np.dot(..., out=)`` needs). The views of the last batch size are
        cached, as training repeats one size.
        """
        if rows == self._views_rows:
            return self._views_cache
        if rows > self._capacity:
            self._buffers = tuple(
                [np.empty((rows, size), self.dtype) for size in self.layer_sizes[1:]]
                for _ in range(2)
            )
            self._capacity = rows
        outputs, grads = self._buffers
        self._views_cache = ([b[:rows] for b in outputs], [b[:rows] for b in grads])
        self._views_rows = rows
        return self._views_cache

    def _forward(self, X):
        outputs, _ = self._activations(X.shape[0])
        layer_input, last = X, len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            np.dot(layer_input, weight, out=outputs[index])
            _add_bias_relu(outputs[index], bias, index != last)
            layer_input = outputs[index]
        return outputs

    def _chunks(self, X):
        """The output layer for successive chunks of ``X``: (start, logits view) pairs."""
        with _BlasThreads(self.blas_threads):
            for start in range(0, X.shape[0], EVAL_CHUNK_ROWS):
                chunk = X[start:start + EVAL_CHUNK_ROWS]
                logits = self._forward(chunk)[-1]
                if not np.isfinite(logits).all():  # (rows, classes): small beside the forward
                    self._raise_nonfinite(chunk, start)
                yield start, logits

    def loss_and_grad(self, X, y):
        """Mean softmax cross-entropy on the batch, with its gradient written into ``self.grad``.

        Parameters
        ----------
        X : ndarray, shape (n, inputs), the network's dtype
            A batch (n >= 1); any memory layout.
        y : ndarray of int, shape (n,)
            Class labels in ``0 .. classes - 1``.

        Returns
        -------
        float
            The loss; ``self.grad`` (and its per-layer views) hold its gradient. Nothing of the
            network's size is allocated: the flat gradient is written in place.

        Raises
        ------
        ValueError
            ``X`` of the wrong shape or empty; ``y`` of the wrong shape, not integers, or out of
            range; a non-finite loss (NaN or inf in ``X`` or in ``params``, or an overflow):
            the message says which, and ``self.grad`` is then not a gradient.
        TypeError
            ``X`` of another dtype than the network's.
        """
        y = self._check_inputs(X, y)
        with _BlasThreads(self.blas_threads):
            outputs = self._forward(X)
            _, grads = self._activations(X.shape[0])
            last = len(self.weights) - 1
            loss = _softmax_cross_entropy(outputs[last], y, grads[last])
            for index in range(last, -1, -1):
                layer_input = X if index == 0 else outputs[index - 1]
                np.dot(layer_input.T, grads[index], out=self.weight_grads[index])
                _column_sums(grads[index], self.bias_grads[index])
                if index > 0:  # the input layer's gradient is never needed
                    np.dot(grads[index], self.weights[index].T, out=grads[index - 1])
                    _relu_backward(grads[index - 1], outputs[index - 1])
        if not math.isfinite(loss):
            self._raise_nonfinite(X)
        return float(loss)

    def loss(self, X, y):
        """Mean softmax cross-entropy on the batch; ``self.grad`` is left untouched."""
        y = self._check_inputs(X, y)
        with _BlasThreads(self.blas_threads):
            outputs = self._forward(X)
            _, grads = self._activations(X.shape[0])  # scratch for the unused logits gradient
            loss = _softmax_cross_entropy(outputs[-1], y, grads[-1])
        if not math.isfinite(loss):
            self._raise_nonfinite(X)
        return float(loss)

    def _raise_nonfinite(self, X, first_row=0):
        """Raise the ValueError that says why the forward pass gave a non-finite value (only
        looked for then: NaN and inf propagate through every layer to the output, so testing
        the loss or the logits costs nothing per batch)."""
        bad_rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
        if bad_rows.size:
            raise ValueError(f"X holds non-finite values (NaN or inf) in {bad_rows.size} row(s), "
                             f"the first at row {first_row + bad_rows[0]}")
        if not np.isfinite(self.params).all():
            raise ValueError("the network's params hold non-finite values (NaN or inf): "
                             "training diverged, or they were set so")
        raise ValueError(f"the forward pass overflowed {self.dtype} (values of X too large "
                         f"for this network's dtype)")

    def logits(self, X):
        """The output layer's values (before softmax), shape (n, classes), a new array."""
        self._check_inputs(X)
        result = np.empty((X.shape[0], self.layer_sizes[-1]), self.dtype)
        for start, chunk in self._chunks(X):
            result[start:start + chunk.shape[0]] = chunk
        return result

    def predict(self, X):
        """Predicted class (the largest logit) of every row of ``X``, shape (n,)."""
        self._check_inputs(X)
        result = np.empty(X.shape[0], np.intp)
        for start, chunk in self._chunks(X):
            chunk.argmax(axis=1, out=result[start:start + chunk.shape[0]])
        return result

    def accuracy(self, X, y):
        """Fraction of rows of ``X`` whose predicted class is ``y``, a float in [0, 1]."""
        y = self._check_inputs(X, y)
        return float(np.count_nonzero(self.predict(X) == y) / X.shape[0])
