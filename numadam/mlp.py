"""A multilayer perceptron whose weights and biases all live in one flat parameter vector.

Every layer's weight matrix and bias is a *view* into ``mlp.params``, and every gradient a view
into ``mlp.grad``, so one optimizer step, ``numadam.Adam(mlp.params).step(mlp.grad)``, updates
the whole network with one fused kernel.

Weights are stored ``(fan_in, fan_out)`` so that the forward pass is ``X @ W`` on C-contiguous
arrays (PyTorch's ``nn.Linear`` stores the transpose); initialisation is ``nn.Linear``'s default,
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
Hidden layers use ReLU, the output layer feeds a softmax cross-entropy averaged over the batch.
Matrix products go through NumPy's BLAS; the elementwise parts (bias + ReLU, the loss and its
gradient, the ReLU mask) are small fused Numba kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, error_model="numpy")


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
        Source of the initial weights.

    Attributes
    ----------
    params, grad : ndarray
        The flat parameter and gradient vectors (1-D, C-contiguous).
    weights, biases, weight_grads, bias_grads : list of ndarray
        Per-layer views into ``params`` and ``grad``; writing to one writes to the flat vector.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> net = MLP((4, 8, 3), rng=0)
    >>> opt = numadam.Adam(net.params, lr=1e-2)
    >>> X, y = np.ones((5, 4), np.float32), np.array([0, 1, 2, 0, 1])
    >>> loss = net.loss_and_grad(X, y)   # fills net.grad
    >>> opt.step(net.grad)               # updates every layer at once
    """

    def __init__(self, layer_sizes=(784, 128, 10), *, dtype=np.float32, rng=None):
        sizes = tuple(int(size) for size in layer_sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer_sizes needs at least two positive sizes, got {layer_sizes!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.layer_sizes = sizes
        shapes = [((fan_in, fan_out), (fan_out,)) for fan_in, fan_out in zip(sizes, sizes[1:])]
        total = sum(w[0] * w[1] + b[0] for w, b in shapes)
        self.params = np.empty(total, self.dtype)
        self.grad = np.zeros(total, self.dtype)
        self.weights, self.biases = self._views(self.params, shapes)
        self.weight_grads, self.bias_grads = self._views(self.grad, shapes)
        self.initialize(rng)
        self._buffers = {}

    @staticmethod
    def _views(flat, shapes):
        weights, biases, offset = [], [], 0
        for weight_shape, bias_shape in shapes:
            size = weight_shape[0] * weight_shape[1]
            weights.append(flat[offset:offset + size].reshape(weight_shape))
            offset += size
            biases.append(flat[offset:offset + bias_shape[0]])
            offset += bias_shape[0]
        return weights, biases

    def initialize(self, rng=None):
        """PyTorch's ``nn.Linear`` default: weights and biases ~ U(-1/sqrt(fan_in), +...)."""
        rng = np.random.default_rng(rng)
        for weight, bias in zip(self.weights, self.biases):
            bound = 1.0 / np.sqrt(weight.shape[0])
            weight[:] = rng.uniform(-bound, bound, weight.shape)
            bias[:] = rng.uniform(-bound, bound, bias.shape)

    # -- forward and backward -----------------------------------------------------------------

    def _check_inputs(self, X, y=None):
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] != self.layer_sizes[0]:
            shape = X.shape if isinstance(X, np.ndarray) else type(X).__name__
            raise ValueError(f"X must be a 2-D array of shape (n, {self.layer_sizes[0]}), "
                             f"got {shape}")
        if X.dtype != self.dtype:
            raise TypeError(f"X has dtype {X.dtype}; this network computes in {self.dtype}")
        if y is not None:
            y = np.asarray(y)
            if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
                raise ValueError(f"y must be integer labels of shape ({X.shape[0]},), got "
                                 f"{y.dtype} of shape {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= self.layer_sizes[-1]):
                raise ValueError(f"y holds labels outside 0..{self.layer_sizes[-1] - 1}")
            return np.ascontiguousarray(y, dtype=np.intp)
        return None

    def _activations(self, rows):
        """Preallocated activation buffers for a batch of ``rows`` (reused between calls)."""
        if rows not in self._buffers:
            self._buffers[rows] = (
                [np.empty((rows, size), self.dtype) for size in self.layer_sizes[1:]],
                [np.empty((rows, size), self.dtype) for size in self.layer_sizes[1:]],
            )
        return self._buffers[rows]

    def logits(self, X):
        """The output layer's values for a batch ``X`` of shape (n, inputs)."""
        self._check_inputs(X)
        return self._forward(X)[-1].copy()

    def _forward(self, X):
        outputs, _ = self._activations(X.shape[0])
        layer_input, last = X, len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            np.dot(layer_input, weight, out=outputs[index])
            _add_bias_relu(outputs[index], bias, index != last)
            layer_input = outputs[index]
        return outputs

    def loss_and_grad(self, X, y):
        """Mean softmax cross-entropy on the batch, with its gradient written into ``self.grad``.

        Parameters
        ----------
        X : ndarray, shape (n, inputs), the network's dtype
        y : ndarray of int, shape (n,)
            Class labels.

        Returns
        -------
        float
            The loss; ``self.grad`` (and its per-layer views) hold the gradient.
        """
        y = self._check_inputs(X, y)
        outputs = self._forward(X)
        _, grads = self._activations(X.shape[0])
        last = len(self.weights) - 1
        loss = _softmax_cross_entropy(outputs[last], y, grads[last])
        for index in range(last, -1, -1):
            layer_input = X if index == 0 else outputs[index - 1]
            np.dot(layer_input.T, grads[index], out=self.weight_grads[index])
            _column_sums(grads[index], self.bias_grads[index])
            if index > 0:
                np.dot(grads[index], self.weights[index].T, out=grads[index - 1])
                _relu_backward(grads[index - 1], outputs[index - 1])
        return float(loss)

    def loss(self, X, y):
        """Mean softmax cross-entropy on the batch (the gradient buffers are used as scratch)."""
        y = self._check_inputs(X, y)
        outputs = self._forward(X)
        _, grads = self._activations(X.shape[0])
        return float(_softmax_cross_entropy(outputs[-1], y, grads[-1]))

    def predict(self, X):
        """Predicted class of every row of ``X``."""
        self._check_inputs(X)
        return self._forward(X)[-1].argmax(axis=1)

    def accuracy(self, X, y):
        """Fraction of rows of ``X`` whose predicted class is ``y``."""
        y = self._check_inputs(X, y)
        return float(np.mean(self._forward(X)[-1].argmax(axis=1) == y))
