r"""Stateful optimizers on one flat parameter vector, shaped like ``torch.optim``.

::

    x = np.zeros(1000, dtype=np.float32)
    opt = numadam.Adam(x, lr=1e-3)
    for _ in range(100):
        opt.step(gradient(x))      # updates x in place

Each optimizer validates its arguments once, keeps its state as plain NumPy arrays of the
parameter's dtype, computes the per-step scalars (bias corrections, step sizes) on the host and
hands the arrays to one fused kernel from :mod:`numadam.kernels`: the serial kernel for small
vectors, the parallel one from :data:`numadam.kernels.PARALLEL_THRESHOLD` elements on.

Hyperparameters are attributes (``opt.lr = 1e-4``) validated when set, so a schedule can change
them between steps. ``state_dict()`` / ``load_state_dict()`` save and restore the step count, the
hyperparameters and every state vector exactly.

.. warning::
   The formulas are PyTorch's. Other libraries differ: scikit-learn and TensorFlow/Keras add
   :math:`\epsilon` to the *bias-corrected* step in the "efficient" form
   (:math:`\hat\epsilon = \epsilon\sqrt{1-\beta_2^t}`), and optax's RMSProp can put
   :math:`\epsilon` inside the square root. Trajectories then agree only approximately.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from numadam import _validation as check
from numadam import kernels

__all__ = ["Optimizer", "Adam", "AdamW", "RMSProp", "RMSprop", "SGD", "Momentum"]


def _is_gpu_array(value):
    """A Numba device array or an object exposing ``__cuda_array_interface__`` (CuPy, PyTorch
    CUDA tensors); see :func:`numadam.cuda.is_device_array`, which this mirrors without importing
    numba.cuda."""
    return bool(getattr(type(value), "__cuda_ndarray__", False)) or hasattr(
        value, "__cuda_array_interface__"
    )


def _check_momentum_stays_on_or_off(current, candidate):
    """Momentum may change between non-zero values, not switch on or off: the momentum buffer
    exists (or not) from the optimizer's creation on. Momentum is never negative, so "on" is
    ``!= 0`` for RMSProp and SGD alike."""
    if "momentum" in current and (candidate["momentum"] != 0) != (current["momentum"] != 0):
        raise ValueError(
            "momentum can change between non-zero values, but switching it on or off after "
            "creation would need a new momentum buffer; create a new optimizer"
        )


class _Hyperparameter:
    """A validated hyperparameter attribute: ``opt.lr = -1`` raises, ``opt.lr = 1e-4`` sticks.

    Values live in ``obj._hyperparameters``; every change calls ``obj._hyperparameters_changed``
    so the optimizer can refresh the scalars it hands to the kernel.
    """

    def __init__(self, validate, *, settable=True):
        self.validate = validate
        self.settable = settable

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return obj._hyperparameters[self.name]

    def __set__(self, obj, value):
        if not self.settable and self.name in obj._hyperparameters:
            raise AttributeError(
                f"{self.name} is fixed when the optimizer is created (it decides which state "
                f"vectors exist); create a new optimizer to change it"
            )
        obj._set_hyperparameters({self.name: value})


class Optimizer:
    """Base class: owns the parameter vector, the state vectors and the step count.

    Subclasses declare their hyperparameters as :class:`_Hyperparameter` class attributes, the
    names of their state vectors, and how one step calls the kernel.

    Parameters
    ----------
    params : ndarray or GPU array
        The parameter vector, 1-D, C-contiguous, writeable, float32 or float64. It is updated in
        place and never copied. A GPU array (a Numba device array, a CuPy array, a PyTorch CUDA
        tensor: anything exposing ``__cuda_array_interface__``) puts the optimizer on the GPU:
        its state lives there, gradients must be GPU arrays too, ``self.device`` is ``"cuda"``,
        and :mod:`numadam.cuda` runs the update (see there for what a GPU run needs).
    check_finite : bool
        Check every gradient for NaN and infinity before the update (one extra read-only pass,
        measured at 20-27% of a large float32 Adam step). A non-finite gradient raises ``ValueError`` and leaves
        the parameters and the state untouched. Set ``False`` for the last bit of speed when the
        gradients are known to be finite.
    hyperparameters
        Keyword arguments, validated by the subclass's hyperparameter attributes.
    """

    #: Names of the state vectors, in the order the kernel takes them.
    state_names: tuple[str, ...] = ()

    def __init__(self, params, *, check_finite=True, **hyperparameters):
        # A GPU array (Numba device array, CuPy array, PyTorch CUDA tensor) puts the optimizer on
        # the GPU: numadam.cuda, imported only then, supplies the checks, state and kernels.
        if isinstance(params, np.ndarray) or not _is_gpu_array(params):
            self._device = None
            self.param = check.parameter_vector("params", params)
        else:
            from numadam import cuda as device

            self._device = device
            self.param = device.parameter_vector("params", params)
        self.device = "cpu" if self._device is None else "cuda"
        self.dtype = self.param.dtype
        self.check_finite = check.flag("check_finite", check_finite)
        # Host scalars are converted to the parameter dtype. For float64 a Python float is that
        # dtype already, and Numba's dispatcher unboxes it faster than an np.float64 (~0.2 us a
        # step at small sizes).
        self._scalar = float if self.dtype == np.float64 else self.dtype.type
        self._hyperparameters = {}
        self._set_hyperparameters(hyperparameters)
        self.step_count = 0
        zeros = np.zeros if self._device is None else self._device.zeros
        self.state = {
            name: zeros(self.param.shape[0] if self._state_is_used(name) else 0, self.dtype)
            for name in self.state_names
        }
        self._state_vectors = tuple(self.state.values())  # in the order the kernel takes them
        if self._device is None:
            parallel = self.param.shape[0] >= kernels.PARALLEL_THRESHOLD
            self._count_nonfinite = (
                kernels.count_nonfinite_parallel if parallel else kernels.count_nonfinite
            )
            self._kernel = self._parallel_kernel if parallel else self._serial_kernel
        else:  # GPU launchers with the CPU kernels' argument lists, and GPU gradient checks
            self._count_nonfinite = self._device.count_nonfinite
            self._kernel = self._device.launcher_for(self._serial_kernel)
            self._check_grad = functools.partial(self._device.check_grad, self)

    # -- hyperparameters --------------------------------------------------------------------

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
        self._check_combination(candidate)
        self._hyperparameters = candidate
        self._hyperparameters_changed()

    @classmethod
    def hyperparameter_names(cls):
        """Names of the hyperparameters, in declaration order."""
        return tuple(
            name
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, _Hyperparameter)
        )

    def _check_combination(self, hyperparameters):
        """Checks that involve several hyperparameters; raise ``ValueError``."""

    def _hyperparameters_changed(self):
        """Refresh whatever is derived from the hyperparameters (subclasses)."""

    def _state_is_used(self, name):
        """Whether the state vector ``name`` is needed with these hyperparameters."""
        return True

    @property
    def hyperparameters(self):
        """A copy of the current hyperparameters, as a dict."""
        return dict(self._hyperparameters)

    # -- stepping ----------------------------------------------------------------------------

    def _check_grad(self, grad):
        """Return ``grad`` as a C-contiguous vector matching the parameters, or raise."""
        if not isinstance(grad, np.ndarray):
            raise TypeError(
                f"grad must be a NumPy array like the parameters, got {check.describe_array(grad)}"
            )
        if grad.dtype != self.dtype:
            raise TypeError(
                f"grad has dtype {grad.dtype}, the parameters have {self.dtype}: they must match "
                f"(no silent conversion); convert with grad.astype(np.{self.dtype})"
            )
        if grad.shape != self.param.shape:
            raise ValueError(
                f"grad has shape {grad.shape}, the parameters have shape {self.param.shape}"
            )
        if not grad.flags.c_contiguous or np.may_share_memory(grad, self.param):
            grad = np.array(grad)  # a strided view, or a gradient that overlaps the parameters
        if self.check_finite:
            bad = self._count_nonfinite(grad)
            if bad:
                raise ValueError(
                    f"grad contains {bad} non-finite value(s) (NaN or inf); the step was not "
                    f"taken and the parameters and the optimizer state are unchanged"
                )
        return grad

    def step(self, grad):
        """Update the parameters in place with one step along ``grad``.

        Parameters
        ----------
        grad : ndarray
            The gradient of the objective at the current parameters: same shape and dtype as the
            parameters. It is only read (read-only arrays are fine).

        Raises
        ------
        TypeError, ValueError
            ``grad`` of another dtype or shape, or, with ``check_finite``, a gradient holding NaN
            or inf; nothing is changed then.
        """
        self._step_checked(self._check_grad(grad))

    def _step_checked(self, grad):
        """:meth:`step` for callers that have checked ``grad`` themselves (``minimize``):
        C-contiguous, of the parameters' dtype and shape, finite, not overlapping them."""
        self.step_count += 1
        self._update(grad)

    def _update(self, grad):
        raise NotImplementedError

    # -- saving and restoring ---------------------------------------------------------------

    def state_dict(self):
        """The optimizer's state as plain Python and NumPy objects (copies).

        Returns
        -------
        dict
            ``{"step": int, "hyperparameters": dict, "state": {name: ndarray}}``. Vectors unused
            with these hyperparameters (e.g. ``max_exp_avg_sq`` without AMSGrad) are empty.
        """
        return {
            "step": self.step_count,
            "hyperparameters": self.hyperparameters,
            "state": {
                name: vector.copy() if self._device is None else self._device.to_host(vector)
                for name, vector in self.state.items()
            },
        }

    def load_state_dict(self, state_dict):
        """Restore a state saved by :meth:`state_dict`, checked whole before anything changes.

        Raises
        ------
        ValueError, TypeError
            Missing or unexpected entries, a vector of another size or dtype, a negative step.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"step", "hyperparameters",
                                                                     "state"}:
            raise ValueError(
                "state_dict must be a dict with the keys 'step', 'hyperparameters' and 'state', "
                "as returned by state_dict()"
            )
        step = state_dict["step"]
        if (isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer))
                or step < 0):
            raise ValueError(f"state_dict['step'] must be a non-negative integer, got {step!r}")
        vectors = state_dict["state"]
        if not isinstance(vectors, dict) or set(vectors) != set(self.state_names):
            raise ValueError(
                f"state_dict['state'] must hold exactly the vectors {list(self.state_names)}, "
                f"got {sorted(vectors) if isinstance(vectors, dict) else vectors!r}"
            )
        for name, vector in vectors.items():
            expected = self.state[name]
            if not isinstance(vector, np.ndarray) or vector.dtype != self.dtype:
                raise TypeError(
                    f"loaded state {name!r} must be an array of dtype {self.dtype}, got "
                    f"{check.describe_array(vector)}"
                )
            if vector.shape != expected.shape:
                raise ValueError(
                    f"loaded state {name!r} has shape {vector.shape}, the optimizer's has "
                    f"{expected.shape} (parameters of size {self.param.shape[0]})"
                )
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
        self._hyperparameters = {}  # fixed ones may be set again, to the same value
        try:
            self._set_hyperparameters(hyperparameters)
        except Exception:
            self._hyperparameters = saved
            self._hyperparameters_changed()
            raise
        for name, vector in vectors.items():
            if self._device is None:
                np.copyto(self.state[name], vector)
            else:
                self._device.copy_to_device(self.state[name], vector)
        self.step_count = int(step)

    def __repr__(self):
        settings = ", ".join(f"{name}={value!r}" for name, value in self._hyperparameters.items())
        return (
            f"{type(self).__name__}(<{self.param.shape[0]} x {self.dtype}>, {settings}, "
            f"step={self.step_count})"
        )


# ------------------------------------------------------------------------------------------------


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), with PyTorch's formula, defaults and options.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
       &\textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
           \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
       &\textbf{if amsgrad}: \; \hat v^{\max}_t \leftarrow \max(\hat v^{\max}_{t-1}, v_t),
           \; u_t \leftarrow \hat v^{\max}_t \quad \textbf{else} \; u_t \leftarrow v_t \\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
           \frac{m_t}{\sqrt{u_t}/\sqrt{1-\beta_2^t} + \epsilon}
       \end{aligned}

    ======================  =============================  ==================================
    symbol                  state vector / hyperparameter  meaning
    ======================  =============================  ==================================
    :math:`\gamma`          ``lr``                         learning rate
    :math:`\beta_1,\beta_2`  ``betas``                      moment decay rates
    :math:`\epsilon`        ``eps``                        added after the bias correction
    :math:`\lambda`         ``weight_decay``               L2 penalty folded into the gradient
    :math:`m`               ``state["exp_avg"]``           first moment
    :math:`v`               ``state["exp_avg_sq"]``        second moment
    :math:`\hat v^{\max}`   ``state["max_exp_avg_sq"]``    AMSGrad running max (empty if off)
    ======================  =============================  ==================================

    Parameters
    ----------
    params : ndarray
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
        L2 penalty, added to the gradient (for decoupled decay use :class:`AdamW`).
    amsgrad : bool, default False
        Use the running maximum of the second moment (Reddi et al., 2018). Fixed at creation.
    maximize : bool, default False
        Ascend instead of descend (the gradient is negated).
    check_finite : bool, default True
        See :class:`Optimizer`.

    Examples
    --------
    >>> import numpy as np, numadam
    >>> x = np.array([3.0, -2.0])
    >>> opt = numadam.Adam(x, lr=0.1)
    >>> for _ in range(200):
    ...     opt.step(2 * x)           # gradient of |x|^2
    >>> bool(np.abs(x).max() < 1e-2)
    True
    """

    lr = _Hyperparameter(check.learning_rate)
    betas = _Hyperparameter(check.betas)
    eps = _Hyperparameter(check.epsilon)
    weight_decay = _Hyperparameter(check.weight_decay)
    amsgrad = _Hyperparameter(check.flag, settable=False)
    maximize = _Hyperparameter(check.flag)

    state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _serial_kernel = staticmethod(kernels.adam)
    _parallel_kernel = staticmethod(kernels.adam_parallel)
    _decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, check_finite=True):
        super().__init__(params, check_finite=check_finite, lr=lr, betas=betas, eps=eps,
                         weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)

    def _state_is_used(self, name):
        return name != "max_exp_avg_sq" or self.amsgrad

    def _hyperparameters_changed(self):
        # Everything that does not change from step to step is computed here, once, in the
        # dtype of the parameters: a small step costs about a microsecond, so it counts.
        to_dtype = self._scalar
        lr, weight_decay = self.lr, self.weight_decay
        beta1, beta2 = self._betas = self.betas
        one_minus_beta1 = to_dtype(1 - beta1)
        if self._decoupled_weight_decay:
            param_scale, l2 = to_dtype(1 - lr * weight_decay), to_dtype(0)
        else:
            param_scale, l2 = to_dtype(1), to_dtype(weight_decay)
        self._lr = lr
        self._scalars_before = (
            to_dtype(-1 if self.maximize else 1), param_scale, l2,
            one_minus_beta1, to_dtype(1) - one_minus_beta1,  # torch.lerp's weight and 1 - weight
            to_dtype(1 - beta2), to_dtype(beta2),
        )
        self._scalars_after = (to_dtype(self.eps), self.amsgrad)

    def _update(self, grad):
        step, (beta1, beta2), to_dtype = self.step_count, self._betas, self._scalar
        neg_step_size = to_dtype(-(self._lr / (1 - beta1**step)))
        bias_correction2_sqrt = to_dtype(math.sqrt(1 - beta2**step))
        self._kernel(self.param, grad, *self._state_vectors, *self._scalars_before,
                     neg_step_size, bias_correction2_sqrt, *self._scalars_after)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    Before each Adam step the parameters shrink, :math:`\theta \leftarrow \theta(1-\gamma\lambda)`,
    and the gradient carries no L2 term. Everything else is :class:`Adam`; the default
    ``weight_decay`` is ``1e-2``, as in PyTorch.
    """

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, check_finite=True):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, check_finite=check_finite)


class RMSProp(Optimizer):
    r"""RMSProp (Hinton, 2012), with ``torch.optim.RMSprop``'s formula, defaults and options.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &v_t \leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2 \\
       &\textbf{if centered}: \; \bar g_t \leftarrow \operatorname{lerp}(\bar g_{t-1}, g_t,
         1-\alpha), \; \tilde v_t \leftarrow v_t - \bar g_t^2
         \quad \textbf{else} \; \tilde v_t \leftarrow v_t \\
       &\textbf{if } \mu > 0: \; b_t \leftarrow \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon),
         \; \theta_t \leftarrow \theta_{t-1} - \gamma b_t \\
       &\textbf{else}: \; \theta_t \leftarrow \theta_{t-1}
         - \gamma g_t / (\sqrt{\tilde v_t}+\epsilon)
       \end{aligned}

    State vectors: ``square_avg`` (:math:`v`), ``grad_avg`` (:math:`\bar g`, empty unless
    ``centered``) and ``momentum_buffer`` (:math:`b`, empty unless ``momentum > 0``).

    Parameters
    ----------
    params : ndarray
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place.
    lr : float, default 1e-2
    alpha : float, default 0.99
        Decay rate of the squared-gradient average, in ``[0, 1)``.
    eps : float, default 1e-8
        Added to the square root (optax's default puts it inside; PyTorch's and ours outside).
    weight_decay : float, default 0
        L2 penalty folded into the gradient.
    momentum : float, default 0
        Whether momentum is used (zero or not) is fixed at creation; its value can change.
    centered : bool, default False
        Divide by an estimate of the gradient's variance instead of its second moment.
        Fixed at creation.
    maximize : bool, default False
    check_finite : bool, default True
        See :class:`Optimizer`.
    """

    lr = _Hyperparameter(check.learning_rate)
    alpha = _Hyperparameter(check.alpha)
    eps = _Hyperparameter(check.epsilon)
    weight_decay = _Hyperparameter(check.weight_decay)
    momentum = _Hyperparameter(check.momentum)
    centered = _Hyperparameter(check.flag, settable=False)
    maximize = _Hyperparameter(check.flag)

    state_names = ("square_avg", "grad_avg", "momentum_buffer")
    _serial_kernel = staticmethod(kernels.rmsprop)
    _parallel_kernel = staticmethod(kernels.rmsprop_parallel)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False, check_finite=True):
        super().__init__(params, check_finite=check_finite, lr=lr, alpha=alpha, eps=eps,
                         weight_decay=weight_decay, momentum=momentum, centered=centered,
                         maximize=maximize)

    def _state_is_used(self, name):
        if name == "grad_avg":
            return self.centered
        if name == "momentum_buffer":
            return self.momentum > 0
        return True

    def _check_combination(self, hyperparameters):
        _check_momentum_stays_on_or_off(self._hyperparameters, hyperparameters)

    def _hyperparameters_changed(self):
        to_dtype = self._scalar
        one_minus_alpha = to_dtype(1 - self.alpha)
        self._scalars = (
            to_dtype(-1 if self.maximize else 1), to_dtype(self.weight_decay),
            to_dtype(self.alpha), one_minus_alpha, to_dtype(1) - one_minus_alpha,
            to_dtype(self.eps),
            to_dtype(-self.lr), to_dtype(self.momentum), self.centered,
        )

    def _update(self, grad):
        state = self.state
        self._kernel(self.param, grad, state["square_avg"], state["grad_avg"],
                     state["momentum_buffer"], *self._scalars)


#: PyTorch's spelling.
RMSprop = RMSProp


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &\textbf{if } \mu \ne 0: \; b_t \leftarrow
           \begin{cases} g_t & t = 1 \\ \mu b_{t-1} + (1-\tau) g_t & t > 1 \end{cases},
         \quad g_t \leftarrow \begin{cases} g_t + \mu b_t & \text{nesterov} \\
         b_t & \text{otherwise} \end{cases} \\
       &\theta_t \leftarrow \theta_{t-1} - \gamma g_t
       \end{aligned}

    State vector: ``momentum_buffer`` (:math:`b`, empty unless ``momentum != 0``).

    Parameters
    ----------
    params : ndarray
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place.
    lr : float, default 1e-3
    momentum : float, default 0
        :math:`\mu`. Whether momentum is used (zero or not) is fixed at creation.
    dampening : float, default 0
        :math:`\tau`.
    weight_decay : float, default 0
        :math:`\lambda`, L2 penalty folded into the gradient.
    nesterov : bool, default False
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default False
    check_finite : bool, default True
        See :class:`Optimizer`.
    """

    lr = _Hyperparameter(check.learning_rate)
    momentum = _Hyperparameter(check.momentum)
    dampening = _Hyperparameter(check.dampening)
    weight_decay = _Hyperparameter(check.weight_decay)
    nesterov = _Hyperparameter(check.flag)
    maximize = _Hyperparameter(check.flag)

    state_names = ("momentum_buffer",)
    _serial_kernel = staticmethod(kernels.sgd)
    _parallel_kernel = staticmethod(kernels.sgd_parallel)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, check_finite=True):
        super().__init__(params, check_finite=check_finite, lr=lr, momentum=momentum,
                         dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                         maximize=maximize)

    def _state_is_used(self, name):
        return self.momentum != 0

    def _check_combination(self, hyperparameters):
        if hyperparameters["nesterov"] and (
            hyperparameters["momentum"] <= 0 or hyperparameters["dampening"] != 0
        ):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_momentum_stays_on_or_off(self._hyperparameters, hyperparameters)

    def _hyperparameters_changed(self):
        to_dtype = self._scalar
        self._head = (to_dtype(-1 if self.maximize else 1), to_dtype(self.weight_decay),
                      to_dtype(-self.lr), to_dtype(self.momentum))
        # The buffer update b * buffer_decay + grad_scale * g: PyTorch's on later steps, and on
        # the first step (b still zero) exactly b = g; see kernels.sgd.
        self._later_steps = (to_dtype(self.momentum), to_dtype(1 - self.dampening), self.nesterov)
        self._first_step = (to_dtype(0), to_dtype(1), self.nesterov)

    def _update(self, grad):
        tail = self._first_step if self.step_count == 1 else self._later_steps
        self._kernel(self.param, grad, self.state["momentum_buffer"], *self._head, *tail)


class Momentum(SGD):
    """:class:`SGD` with ``momentum=0.9`` by default: heavy-ball momentum under its own name."""

    def __init__(self, params, lr=1e-3, momentum=0.9, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, check_finite=True):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                         check_finite=check_finite)
