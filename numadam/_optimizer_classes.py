"""The optimizer classes: one per class of the registry (``numadam.rules.VARIANTS``).

Generated from the rule modules by ``python -m numadam._generate_classes``: edit the rules,
not this file. Each class spells out its name, bases, signature, hyperparameter types and
documentation for readers, IDEs and type checkers; ``variant=`` binds it to its registry entry,
whose rule does the work (see :class:`numadam.optimizers.Optimizer`), and its ``__init__`` hands
its arguments to ``Optimizer.__init__`` directly (AdamW's arguments are not Adam's).
"""

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from numadam._optimizer import Modes, Optimizer, Vector

__all__ = [
    "Adam", "AdamW", "RMSProp", "SGD", "Momentum", "Adamax", "Adagrad", "Adadelta",
    "ScheduleFreeAdamW", "NAdam", "RAdam", "Rprop", "Lion", "ASGD", "ADOPT", "AdEMAMix", "Prodigy",
    "DAdaptAdam", "DoG", "Adafactor",
]


class Adam(Optimizer, variant="Adam"):
    r"""Adam (Kingma & Ba, 2015), with PyTorch's formula, defaults and options.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
       &\textbf{if decoupled}: \; \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
         \quad \textbf{else if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
           \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
       &\textbf{if amsgrad}: \; \hat v^{\max}_t \leftarrow \max(\hat v^{\max}_{t-1}, v_t),
           \; u_t \leftarrow \hat v^{\max}_t \quad \textbf{else} \; u_t \leftarrow v_t \\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
           \frac{m_t}{\sqrt{u_t}/\sqrt{1-\beta_2^t} + \epsilon}
       \end{aligned}

    State vectors: ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`) and ``max_exp_avg_sq``
    (:math:`\hat v^{\max}`, empty unless ``amsgrad``).

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.001
        Learning rate.
    betas : tuple[float, float], default (0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default 1e-08
        Added to the denominator.
    weight_decay : float, default 0.0
        L2 penalty (decoupled with decoupled_weight_decay).
    amsgrad : bool, default False
        Use the running maximum of the second moment. Fixed at creation.
    maximize : bool, default False
        Ascend instead of descend.
    decoupled_weight_decay : bool, default False
        Decay the weights, not the gradient.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    amsgrad: bool
    maximize: bool
    decoupled_weight_decay: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay, groups=groups,
            foreach=foreach, fused=fused, capturable=capturable, differentiable=differentiable,
            check_finite=check_finite,
        )


class AdamW(Adam, variant="AdamW"):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    Before each Adam step the parameters shrink, :math:`\theta \leftarrow \theta(1-\gamma\lambda)`,
    and the gradient carries no L2 term: :class:`Adam` with ``decoupled_weight_decay=True``. The
    default ``weight_decay`` is ``1e-2``, as in PyTorch.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.001
        Learning rate.
    betas : tuple[float, float], default (0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default 1e-08
        Added to the denominator.
    weight_decay : float, default 0.01
        L2 penalty (decoupled with decoupled_weight_decay).
    amsgrad : bool, default False
        Use the running maximum of the second moment. Fixed at creation.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class RMSProp(Optimizer, variant="RMSProp"):
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
    ``centered``) and ``momentum_buffer`` (:math:`b`, empty unless ``momentum > 0``). ``eps`` is
    added outside the square root, as in PyTorch (optax's default puts it inside).

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.01
        Learning rate.
    alpha : float, default 0.99
        Decay rate of the squared-gradient average.
    eps : float, default 1e-08
        Added to the square root.
    weight_decay : float, default 0.0
        L2 penalty.
    momentum : float, default 0.0
        Momentum factor (on or off is fixed at creation).
    centered : bool, default False
        Normalise by the gradient's estimated variance. Fixed at creation.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    alpha: float
    eps: float
    weight_decay: float
    momentum: float
    centered: bool
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
            momentum=momentum, centered=centered, maximize=maximize, groups=groups,
            foreach=foreach, fused=fused, capturable=capturable, differentiable=differentiable,
            check_finite=check_finite,
        )


class SGD(Optimizer, variant="SGD"):
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

    State vector: ``momentum_buffer`` (:math:`b`, empty unless ``momentum != 0``). Nesterov
    momentum needs ``momentum > 0`` and ``dampening == 0``.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.001
        Learning rate.
    momentum : float, default 0.0
        Momentum factor (on or off is fixed at creation).
    dampening : float, default 0.0
        Dampening of the momentum.
    weight_decay : float, default 0.0
        L2 penalty.
    nesterov : bool, default False
        Nesterov momentum.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    momentum: float
    dampening: float
    weight_decay: float
    nesterov: bool
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.001,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize, groups=groups, foreach=foreach, fused=fused,
            capturable=capturable, differentiable=differentiable, check_finite=check_finite,
        )


class Momentum(SGD, variant="Momentum"):
    """:class:`SGD` with ``momentum=0.9`` by default: heavy-ball momentum under its own
    name.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.001
        Learning rate.
    momentum : float, default 0.9
        Momentum factor (on or off is fixed at creation).
    dampening : float, default 0.0
        Dampening of the momentum.
    weight_decay : float, default 0.0
        L2 penalty.
    nesterov : bool, default False
        Nesterov momentum.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.001,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize, groups=groups, foreach=foreach, fused=fused,
            capturable=capturable, differentiable=differentiable, check_finite=check_finite,
        )


class Adamax(Optimizer, variant="Adamax"):
    r"""Adamax (Kingma & Ba, 2015), Adam with the infinity norm, as ``torch.optim.Adamax``.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
           \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
       &u_t \leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon) \\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\, \frac{m_t}{u_t}
       \end{aligned}

    State vectors: ``exp_avg`` (:math:`m`) and ``exp_inf`` (:math:`u`). ``eps`` is added to
    :math:`|g_t|` inside the maximum, as in PyTorch; the maximum propagates NaN, like
    ``torch.maximum``.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.002
        Learning rate.
    betas : tuple[float, float], default (0.9, 0.999)
        Decay rates of the first moment and of the infinity norm.
    eps : float, default 1e-08
        Added to the gradient's magnitude.
    weight_decay : float, default 0.0
        L2 penalty.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.002,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            maximize=maximize, groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class Adagrad(Optimizer, variant="Adagrad"):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), with ``torch.optim.Adagrad``'s formula, defaults
    and options.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &\tilde\gamma_t \leftarrow \gamma / (1 + (t-1)\eta) \\
       &s_t \leftarrow s_{t-1} + g_t^2, \quad s_0 = \text{initial\_accumulator\_value} \\
       &\theta_t \leftarrow \theta_{t-1} - \tilde\gamma_t \, \frac{g_t}{\sqrt{s_t} + \epsilon}
       \end{aligned}

    State vector: ``sum`` (:math:`s`), which starts at ``initial_accumulator_value``: that value is
    only read when the optimizer is created, as in PyTorch. :math:`\eta` is ``lr_decay``.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.01
        Learning rate.
    lr_decay : float, default 0.0
        The learning rate at step t is lr / (1 + (t - 1) lr_decay).
    weight_decay : float, default 0.0
        L2 penalty.
    initial_accumulator_value : float, default 0.0
        Starting value of the sum of squared gradients (read at creation).
    eps : float, default 1e-10
        Added to the square root.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    lr_decay: float
    weight_decay: float
    initial_accumulator_value: float
    eps: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
            groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class Adadelta(Optimizer, variant="Adadelta"):
    r"""Adadelta (Zeiler, 2012), with ``torch.optim.Adadelta``'s formula, defaults and options.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &v_t \leftarrow \rho v_{t-1} + (1-\rho) g_t^2 \\
       &\Delta x_t \leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
       &u_t \leftarrow \rho u_{t-1} + (1-\rho) \Delta x_t^2 \\
       &\theta_t \leftarrow \theta_{t-1} - \gamma \Delta x_t
       \end{aligned}

    State vectors: ``square_avg`` (:math:`v`) and ``acc_delta`` (:math:`u`). ``eps`` is added
    inside both square roots, as in PyTorch; ``lr`` scales the update (the paper's has none: 1.0).

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 1.0
        Coefficient of the update.
    rho : float, default 0.9
        Decay rate of the squared-gradient and squared-update averages.
    eps : float, default 1e-06
        Added inside the square roots.
    weight_decay : float, default 0.0
        L2 penalty.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    rho: float
    eps: float
    weight_decay: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-06,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
            groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class ScheduleFreeAdamW(Modes, Optimizer, variant="ScheduleFreeAdamW"):
    r"""Schedule-free AdamW (Defazio et al., 2024), as ``schedulefree.AdamWScheduleFree``.

    No learning-rate schedule is needed: the parameters interpolate between a plain AdamW-style
    sequence :math:`z` and its weighted running average :math:`x`. In train mode the parameter
    vector holds the gradient point :math:`y`; :meth:`eval` moves it to the average :math:`x` (the
    point to evaluate, test or save), :meth:`train` moves it back, exactly as the reference package
    does. ``step`` runs only in train mode; a new optimizer starts in train mode (the reference
    starts in eval mode, where ``train()`` is a no-op before its state exists: calling ``train()``
    first, as with the reference, changes nothing).

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(y_{t-1}) \quad (-\nabla f \text{ if maximize}), \quad
         \gamma_t \leftarrow \gamma \min(1, t / \text{warmup\_steps}) \\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
         \hat g_t \leftarrow g_t / (\sqrt{v_t / (1-\beta_2^t)} + \epsilon) + \lambda y_{t-1} \\
       &w_t \leftarrow t^r \, (\max_{k \le t} \gamma_k)^{p}, \quad c_t \leftarrow w_t / \textstyle
         \sum_{k \le t} w_k \\
       &y_t \leftarrow \operatorname{lerp}(y_{t-1}, z_{t-1}, c_t)
         + \gamma_t (\beta_1 (1 - c_t) - 1) \hat g_t, \quad
         z_t \leftarrow z_{t-1} - \gamma_t \hat g_t \\
       &\text{eval: } x = \operatorname{lerp}(y, z, 1 - 1/\beta_1), \quad
         \text{train: } y = \operatorname{lerp}(x, z, 1 - \beta_1)
       \end{aligned}

    State vectors: ``z`` (a copy of the parameters at creation) and ``exp_avg_sq`` (:math:`v`);
    carried scalars ``lr_max`` and ``weight_sum``.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.0025
        Learning rate.
    betas : tuple[float, float], default (0.9, 0.999)
        Interpolation / averaging (beta1) and second-moment (beta2) rates.
    eps : float, default 1e-08
        Added to the denominator.
    weight_decay : float, default 0.0
        Weight decay, computed at y.
    warmup_steps : int, default 0
        Steps of linear learning-rate warmup.
    r : float, default 0.0
        Power of t in the averaging weights.
    weight_lr_power : float, default 2.0
        Power of the (max) learning rate in the weights.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    warmup_steps: int
    r: float
    weight_lr_power: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power, maximize=maximize,
            groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class NAdam(Optimizer, variant="NAdam"):
    r"""NAdam (Dozat, 2016), with ``torch.optim.NAdam``'s formula, defaults and options.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
       &\textbf{if decoupled}: \; \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
         \quad \textbf{else if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &\mu_t \leftarrow \beta_1 \big(1 - \tfrac12\, 0.96^{t\psi}\big), \quad
         \mu_{t+1} \leftarrow \beta_1 \big(1 - \tfrac12\, 0.96^{(t+1)\psi}\big), \quad
         \Pi_t \leftarrow \Pi_{t-1} \mu_t \;(\Pi_0 = 1) \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
           \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
         d_t \leftarrow \sqrt{v_t / (1-\beta_2^t)} + \epsilon \\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma (1-\mu_t)}{1-\Pi_t}\,\frac{g_t}{d_t}
         - \frac{\gamma \mu_{t+1}}{1-\Pi_t \mu_{t+1}}\,\frac{m_t}{d_t}
       \end{aligned}

    State vectors: ``exp_avg`` (:math:`m`) and ``exp_avg_sq`` (:math:`v`); scalar state
    ``mu_product`` (:math:`\Pi_t`, the ``momentum_decay`` :math:`\psi` schedule's running product).
    As in PyTorch (whose scalar state is float32 unless its default dtype is float64),
    ``mu_product`` is rounded to float32 at every step, whatever the parameters' dtype.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.002
        Learning rate.
    betas : tuple[float, float], default (0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default 1e-08
        Added to the denominator.
    weight_decay : float, default 0.0
        L2 penalty (decoupled with decoupled_weight_decay).
    momentum_decay : float, default 0.004
        Decay of the momentum schedule mu_t.
    decoupled_weight_decay : bool, default False
        Decay the weights, not the gradient.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    momentum_decay: float
    decoupled_weight_decay: bool
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.002,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        momentum_decay: float = 0.004,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize, groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class RAdam(Optimizer, variant="RAdam"):
    r"""RAdam (Liu et al., 2020), with ``torch.optim.RAdam``'s formula, defaults and options.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
       &\textbf{if decoupled}: \; \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
         \quad \textbf{else if } \lambda \ne 0: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t
           \quad (\text{as } \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)) \\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
         \hat m_t \leftarrow m_t / (1-\beta_1^t) \\
       &\rho_\infty \leftarrow 2/(1-\beta_2) - 1, \quad
         \rho_t \leftarrow \rho_\infty - 2t\beta_2^t/(1-\beta_2^t) \\
       &\textbf{if } \rho_t > 5: \; r_t \leftarrow \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
         {(\rho_\infty-4)(\rho_\infty-2)\rho_t}}, \;
         \theta_t \leftarrow \theta_{t-1} - \gamma \hat m_t
         \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon}\, r_t \\
       &\textbf{else}: \; \theta_t \leftarrow \theta_{t-1} - \gamma \hat m_t
       \end{aligned}

    State vectors: ``exp_avg`` (:math:`m`) and ``exp_avg_sq`` (:math:`v`). While the variance
    estimate is not yet tractable (:math:`\rho_t \le 5`, the first steps) the update is plain
    momentum SGD with bias correction.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.001
        Learning rate.
    betas : tuple[float, float], default (0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default 1e-08
        Added to the denominator.
    weight_decay : float, default 0.0
        L2 penalty (decoupled with decoupled_weight_decay).
    decoupled_weight_decay : bool, default False
        Decay the weights, not the gradient.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    decoupled_weight_decay: bool
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, groups=groups,
            foreach=foreach, fused=fused, capturable=capturable, differentiable=differentiable,
            check_finite=check_finite,
        )


class Rprop(Optimizer, variant="Rprop"):
    r"""Resilient backpropagation (Riedmiller & Braun, 1993), as ``torch.optim.Rprop``.

    Each element has its own step size, which grows while its gradient keeps its sign and shrinks
    when the sign flips; only the sign of the gradient moves the parameter.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
       &\eta_t \leftarrow \begin{cases} \eta_+ & g_t g^{\text{prev}}_{t-1} > 0 \\
         \eta_- & g_t g^{\text{prev}}_{t-1} < 0 \\ 1 & \text{otherwise} \end{cases}, \quad
         s_t \leftarrow \min(\max(\eta_t s_{t-1}, s_{\min}), s_{\max}) \\
       &\textbf{if } g_t g^{\text{prev}}_{t-1} < 0: \; g_t \leftarrow 0 \\
       &\theta_t \leftarrow \theta_{t-1} - \operatorname{sign}(g_t)\, s_t, \quad
         g^{\text{prev}}_t \leftarrow g_t
       \end{aligned}

    State vectors: ``prev`` (:math:`g^{\text{prev}}`, zeros at first) and ``step_size``
    (:math:`s`, set to ``lr`` at creation: changing ``lr`` later changes nothing, as in PyTorch).
    ``etas`` are :math:`(\eta_-, \eta_+)`, ``step_sizes`` :math:`(s_{\min}, s_{\max})`. As in
    PyTorch, the sign of a NaN is 0, so a NaN gradient (with ``check_finite=False``) leaves its
    parameter and its step size unchanged.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.01
        Initial step size of every element.
    etas : tuple[float, float], default (0.5, 1.2)
        (etaminus, etaplus): step size factors on a sign flip and on none.
    step_sizes : tuple[float, float], default (1e-06, 50.0)
        (min, max): the range of the step sizes.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    etas: tuple[float, float]
    step_sizes: tuple[float, float]
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.01,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-06, 50.0),
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, etas=etas, step_sizes=step_sizes, maximize=maximize,
            groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class Lion(Optimizer, variant="Lion"):
    r"""Lion (Chen et al., 2023), with ``optax.lion``'s formula and defaults.

    PyTorch has no Lion, so this follows optax (``scale_by_lion``, then ``add_decayed_weights``,
    then the learning rate), operation by operation.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
       &u_t \leftarrow \operatorname{sign}\big((1-\beta_1) g_t + \beta_1 m_{t-1}\big) \\
       &m_t \leftarrow (1-\beta_2) g_t + \beta_2 m_{t-1} \\
       &\theta_t \leftarrow \theta_{t-1} - \gamma\,(u_t + \lambda \theta_{t-1})
       \end{aligned}

    State vector: ``exp_avg`` (:math:`m`, optax's ``mu``). ``betas`` are optax's ``(b1, b2)``,
    ``lr`` its ``learning_rate``. The weight decay is decoupled from the gradient but, as in optax,
    multiplied by the learning rate; ``maximize`` is optax on the negated gradient. The sign of a
    zero is that zero (and of a NaN, NaN), as ``jnp.sign``. A learning rate 3-10x smaller than
    AdamW's, and a weight decay 3-10x larger, are typical.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.0001
        Learning rate.
    betas : tuple[float, float], default (0.9, 0.99)
        (b1, b2): interpolation rate of the update, decay of the momentum.
    weight_decay : float, default 0.001
        Decoupled weight decay, multiplied by the learning rate.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    weight_decay: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.0001,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.001,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize,
            groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class ASGD(Optimizer, variant="ASGD"):
    r"""Averaged stochastic gradient descent (Polyak & Juditsky, 1992): ``torch.optim.ASGD``.

    SGD with a decaying step size :math:`\eta_t` and a decay term, which also keeps the running
    average :math:`\bar\theta` of its iterates from step :math:`t_0` on.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if } \lambda_{wd} \ne 0: \; g_t \leftarrow g_t + \lambda_{wd} \theta_{t-1} \\
       &\theta_t \leftarrow \theta_{t-1} (1 - \lambda \eta_{t-1}) - \eta_{t-1} g_t \\
       &\bar\theta_t \leftarrow \bar\theta_{t-1} + \mu_{t-1} (\theta_t - \bar\theta_{t-1})
         \quad (\bar\theta_t \leftarrow \theta_t \text{ while } \mu_{t-1} = 1) \\
       &\eta_t \leftarrow \gamma / (1 + \lambda \gamma t)^{\alpha}, \quad
         \mu_t \leftarrow 1 / \max(1, t - t_0), \quad \eta_0 = \gamma, \; \mu_0 = 1
       \end{aligned}

    State vector: ``ax`` (:math:`\bar\theta`, the averaged iterate); carried scalars ``eta`` and
    ``mu`` (set at the first step, from ``lr``). As in PyTorch (whose scalar state is float32
    unless its default dtype is float64), ``eta`` and ``mu`` are rounded to float32 at every step,
    whatever the parameters' dtype. The parameter vector holds the iterate :math:`\theta`, and
    ``minimize(method="asgd")`` returns the iterate, as PyTorch's ASGD leaves it in the parameters;
    the average is ``opt.state["ax"]`` (with the default ``t0 = 1e6`` it is a copy of the iterate
    for the first million steps). For an averaged result of any method, use ``minimize``'s
    iterate-averaging option.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.01
        Learning rate.
    lambd : float, default 0.0001
        Decay term.
    alpha : float, default 0.75
        Power of the step-size decay.
    t0 : float, default 1000000.0
        The step from which the iterates are averaged.
    weight_decay : float, default 0.0
        L2 penalty.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    lambd: float
    alpha: float
    t0: float
    weight_decay: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.01,
        lambd: float = 0.0001,
        alpha: float = 0.75,
        t0: float = 1000000.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
            maximize=maximize, groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class ADOPT(Optimizer, variant="ADOPT"):
    r"""ADOPT (Taniguchi et al., 2024), with ``optax.contrib.adopt``'s formula and defaults.

    Adam with the gradient normalized by the *previous* second moment, before it enters the
    momentum, so that it converges for any :math:`\beta_2`. PyTorch has no ADOPT, so this follows
    optax (``scale_by_adopt``, then the learning rate), operation by operation.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
       &\textbf{if } t = 1: \; v_1 \leftarrow g_1^2, \; m_1 \leftarrow 0
         \quad (\theta \text{ does not move}) \\
       &\textbf{else}: \; u_t \leftarrow \operatorname{clip}\Big(
           \frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)}, \pm (t-1)^{1/4}\Big), \quad
         v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
       &\phantom{\textbf{else}:} \; m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) u_t \\
       &\theta_t \leftarrow \theta_{t-1} - \gamma\, m_t
         \quad (\textbf{nesterov}: \; \gamma\, (\beta_1 m_t + (1-\beta_1) u_t))
       \end{aligned}

    State vectors: ``exp_avg`` (:math:`m`, optax's ``mu``) and ``exp_avg_sq`` (:math:`v`,
    its ``nu``). ``betas`` are optax's ``(b1, b2)``, ``lr`` its ``learning_rate`` (which optax
    requires; 1e-3 is the ADOPT authors' default); ``use_clipping=False`` drops the clip.
    optax's ``clip_value_fn`` is its default, :math:`\text{count}^{1/4}`, and cannot be
    changed. ``maximize`` is optax on the negated gradient. As in optax (``jnp.maximum``,
    ``jnp.clip``), NaN propagates through the maximum and the clip.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.001
        Learning rate.
    betas : tuple[float, float], default (0.9, 0.9999)
        (b1, b2): decay rates of the momentum and of the second moment.
    eps : float, default 1e-06
        Lower bound of the denominator.
    nesterov : bool, default False
        Nesterov momentum.
    use_clipping : bool, default True
        Clip the normalized gradient to (t - 1)**0.25.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    eps: float
    nesterov: bool
    use_clipping: bool
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.9999),
        eps: float = 1e-06,
        nesterov: bool = False,
        use_clipping: bool = True,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, eps=eps, nesterov=nesterov,
            use_clipping=use_clipping, maximize=maximize, groups=groups, foreach=foreach,
            fused=fused, capturable=capturable, differentiable=differentiable,
            check_finite=check_finite,
        )


class AdEMAMix(Optimizer, variant="AdEMAMix"):
    r"""AdEMAMix (Pagliardini et al., 2024), with ``optax.contrib.ademamix``'s formula.

    AdamW with a mixture of two momenta: a fast one (:math:`\beta_1`, bias-corrected) and a
    slow one (:math:`\beta_3`, not corrected) weighted by :math:`\alpha`. PyTorch has no
    AdEMAMix, so this follows optax (``scale_by_ademamix``, ``add_decayed_weights``, then the
    learning rate), operation by operation.

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}) \\
       &m^{(1)}_t \leftarrow \beta_1 m^{(1)}_{t-1} + (1-\beta_1) g_t, \quad
         m^{(2)}_t \leftarrow \beta_3 m^{(2)}_{t-1} + (1-\beta_3) g_t, \quad
         v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
       &\theta_t \leftarrow \theta_{t-1} - \gamma \Big(
         \frac{m^{(1)}_t / (1-\beta_1^t) + \alpha\, m^{(2)}_t}
              {\sqrt{v_t / (1-\beta_2^t) + \bar\epsilon} + \epsilon} + \lambda \theta_{t-1}\Big)
       \end{aligned}

    State vectors: ``exp_avg_fast`` (:math:`m^{(1)}`, optax's ``m1``), ``exp_avg_slow``
    (:math:`m^{(2)}`, ``m2``) and ``exp_avg_sq`` (:math:`v`, ``nu``). ``betas`` are optax's
    ``(b1, b2, b3)``, ``lr`` its ``learning_rate`` (which optax requires; 1e-3 is the authors'
    default), ``eps_root`` its :math:`\bar\epsilon`. The weight decay is decoupled from the
    gradient but, as in optax, multiplied by the learning rate. ``alpha`` and ``b3`` are constants,
    optax's defaults; optax also accepts schedules for them (the paper's warmups), which this rule
    does not take. ``maximize`` is optax on the negated gradient. As XLA does on the CPU, the bias
    corrections divide as a multiplication by their reciprocal, in the parameters' dtype.

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.001
        Learning rate.
    betas : tuple[float, float, float], default (0.9, 0.999, 0.9999)
        (b1, b2, b3): decay rates of the fast momentum, the second moment and the slow momentum.
    alpha : float, default 5.0
        Weight of the slow momentum.
    eps : float, default 1e-08
        Added to the denominator.
    eps_root : float, default 0.0
        Added to the second moment inside the square root.
    weight_decay : float, default 0.0
        Decoupled weight decay, multiplied by the learning rate.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float, float]
    alpha: float
    eps: float
    eps_root: float
    weight_decay: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.001,
        betas: tuple[float, float, float] = (0.9, 0.999, 0.9999),
        alpha: float = 5.0,
        eps: float = 1e-08,
        eps_root: float = 0.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, alpha=alpha, eps=eps, eps_root=eps_root,
            weight_decay=weight_decay, maximize=maximize, groups=groups, foreach=foreach,
            fused=fused, capturable=capturable, differentiable=differentiable,
            check_finite=check_finite,
        )


class Prodigy(Optimizer, variant="Prodigy"):
    r"""Prodigy (Mishchenko & Defazio, 2024): parameter-free Adam, as ``prodigyopt.Prodigy``.

    Adam whose step is scaled by :math:`d`, an estimate of the distance to the solution learned
    from the gradients: it only grows, from ``d0``. ``lr`` multiplies it (keep 1.0). Each step,
    with :math:`\eta_t = d_t\,\mathrm{lr}\,\rho_t` (:math:`\rho_t = \sqrt{1-\beta_2^{k+1}}/
    (1-\beta_1^{k+1})` with ``use_bias_correction``, else 1):

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if not decouple}: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &r_t \leftarrow \beta_3 r_{t-1}
         + \tfrac{d_t}{d_0} \eta_t \langle g_t, \theta_0 - \theta_{t-1} \rangle \\
       &m_t \leftarrow \beta_1 m_{t-1} + d_t (1-\beta_1) g_t, \quad
        v_t \leftarrow \beta_2 v_{t-1} + d_t^2 (1-\beta_2) g_t^2 \\
       &s_t \leftarrow \beta_3 s_{t-1} + \tfrac{d_t}{d_0} \eta_t g_t
         \quad (\tfrac{d_t}{d_0} d_t g_t \text{ with safeguard\_warmup}) \\
       &\hat d \leftarrow d_{coef}\, r_t / \lVert s_t \rVert_1, \quad
         d_{t+1} \leftarrow \min(\max_{\tau \le t} \hat d_\tau \vee d_0,\; d_t \cdot
         \text{growth\_rate}) \\
       &\textbf{if decouple}: \; \theta \leftarrow \theta - \lambda \eta_t \theta; \quad
         \theta_t \leftarrow \theta - \eta_t \frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon}
       \end{aligned}

    The inner product and :math:`\lVert s_t \rVert_1` are global sums over the vector, so a step
    is two passes: the sums (with the moments' update), then the parameters'. They are summed in
    float64, in blocks of a fixed length and a fixed order (serial and parallel loops agree
    bitwise; PyTorch sums in the parameters' dtype, in its own order). When
    :math:`\lVert s_t \rVert_1 = 0` (a zero gradient so far) the step ends before the parameters'
    pass and ``k`` does not advance, as in ``prodigyopt``. With :math:`\beta_1 = 0` the update
    uses :math:`d_{t+1} g_t` in place of :math:`m_t`.

    State vectors: ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`), ``s`` and ``p0``
    (:math:`\theta_0`, the starting point); carried scalars ``d``, ``d_max``, ``d_numerator``
    (:math:`r`) and ``k`` (the steps taken). ``prodigyopt``'s ``slice_p`` and ``fsdp_in_use``
    (memory and distribution options of PyTorch models) are not offered. The optimizer class and
    every ``minimize`` loop and ``minimize_batch`` (both forms) run it, on the CPU and (the class
    and ``minimize``) on the GPU; parameter groups step each group as a separate optimizer on its
    elements (its own ``d``, from its own sums; ``prodigyopt`` shares one ``d`` across its groups).

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 1.0
        Multiplies the learned step (keep 1.0).
    betas : tuple[float, float], default (0.9, 0.999)
        Decay rates of the first and second moments.
    beta3 : float | None, default None
        Decay of the d estimate's sums (None: sqrt(beta2)).
    eps : float, default 1e-08
        Added to the denominator (times d).
    weight_decay : float, default 0.0
        Weight decay.
    decouple : bool, default True
        Decoupled (AdamW) weight decay, or L2.
    use_bias_correction : bool, default False
        Adam's bias corrections in the step.
    safeguard_warmup : bool, default False
        Leave lr out of s (for runs with a warm-up).
    d0 : float, default 1e-06
        Initial d estimate.
    d_coef : float, default 1.0
        Multiplies the d estimate.
    growth_rate : float, default inf
        Largest growth factor of d a step.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    beta3: float | None
    eps: float
    weight_decay: float
    decouple: bool
    use_bias_correction: bool
    safeguard_warmup: bool
    d0: float
    d_coef: float
    growth_rate: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        beta3: float | None = None,
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        decouple: bool = True,
        use_bias_correction: bool = False,
        safeguard_warmup: bool = False,
        d0: float = 1e-06,
        d_coef: float = 1.0,
        growth_rate: float = float("inf"),
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, beta3=beta3, eps=eps, weight_decay=weight_decay,
            decouple=decouple, use_bias_correction=use_bias_correction,
            safeguard_warmup=safeguard_warmup, d0=d0, d_coef=d_coef, growth_rate=growth_rate,
            maximize=maximize, groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class DAdaptAdam(Optimizer, variant="DAdaptAdam"):
    r"""D-Adaptation Adam (Defazio & Mishchenko, 2023): Adam with a learned step size, as
    ``dadaptation.DAdaptAdam``.

    The step size :math:`d` (times ``lr``, keep 1.0) is a lower bound on the distance to the
    solution, estimated from the gradients; it only grows, from ``d0``. Each step, with
    :math:`\eta_t = d_t\,\mathrm{lr}\,\rho_t` (:math:`\rho_t` Adam's bias corrections of step
    :math:`k+1` with ``use_bias_correction``, else 1) and :math:`\sqrt{\beta_2}` written
    :math:`\beta_3`:

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if not decouple}: \; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
       &r_t \leftarrow \beta_3 r_{t-1} + (1-\beta_3)\, \eta_t
         \Big\langle g_t, \frac{s_{t-1}}{\sqrt{v_{t-1}} + \epsilon} \Big\rangle \\
       &m_t \leftarrow \beta_1 m_{t-1} + \eta_t (1-\beta_1) g_t, \quad
        v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        s_t \leftarrow \beta_3 s_{t-1} + \eta_t (1-\beta_3) g_t \\
       &d_{t+1} \leftarrow \max\!\Big(d_t,\; \min\Big(\frac{r_t}{(1-\beta_3)\lVert s_t \rVert_1},\;
         d_t \cdot \text{growth\_rate}\Big)\Big) \\
       &\textbf{if decouple}: \; \theta \leftarrow \theta - \lambda \eta_t \theta; \quad
         \theta_t \leftarrow \theta - \frac{m_t}{\sqrt{v_t} + \epsilon}
       \end{aligned}

    The update does not need the new :math:`d`, so a step is one pass over the vector (the inner
    product and :math:`\lVert s_t \rVert_1` summed while it updates), or two with decoupled weight
    decay (which ``dadaptation`` skips, with the whole update, when :math:`\lVert s_t \rVert_1 =
    0`). The sums are taken in float64, in blocks of a fixed length and a fixed order (serial and
    parallel loops agree bitwise; PyTorch sums in the parameters' dtype, in its own order).

    State vectors: ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`) and ``s``; carried scalars
    ``d``, ``numerator_weighted`` (:math:`r`) and ``k`` (the steps taken). ``dadaptation``'s
    ``log_every``, ``layer_scale`` and ``fsdp_in_use`` are not offered. The optimizer class and
    every ``minimize`` loop and ``minimize_batch`` (both forms) run it, on the CPU and (the class
    and ``minimize``) on the GPU; parameter groups step each group as a separate optimizer on its
    elements (its own ``d``, from its own sums; ``dadaptation`` shares one ``d`` across its
    groups).

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 1.0
        Multiplies the learned step (keep 1.0).
    betas : tuple[float, float], default (0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default 1e-08
        Added to the denominator.
    weight_decay : float, default 0.0
        Weight decay.
    decouple : bool, default False
        Decoupled (AdamW) weight decay, or L2.
    use_bias_correction : bool, default False
        Adam's bias corrections in the step.
    d0 : float, default 1e-06
        Initial d estimate.
    growth_rate : float, default inf
        Largest growth factor of d a step.
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    decouple: bool
    use_bias_correction: bool
    d0: float
    growth_rate: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        decouple: bool = False,
        use_bias_correction: bool = False,
        d0: float = 1e-06,
        growth_rate: float = float("inf"),
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            decouple=decouple, use_bias_correction=use_bias_correction, d0=d0,
            growth_rate=growth_rate, maximize=maximize, groups=groups, foreach=foreach,
            fused=fused, capturable=capturable, differentiable=differentiable,
            check_finite=check_finite,
        )


class DoG(Optimizer, variant="DoG"):
    r"""DoG, Distance over Gradients (Ivgi, Hinder & Carmon, 2023): parameter-free SGD, as
    ``optax.contrib.dog``.

    The step size is the largest distance travelled from the start over the root of the sum of the
    squared gradient norms so far:

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(x_t) \quad (-\nabla f \text{ if maximize}); \quad
         \textbf{if } \lambda \text{ is not None}: \; g_t \leftarrow g_t + \lambda x_t \\
       &\bar r_t \leftarrow \max(\bar r_{t-1}, \lVert x_t - x_0 \rVert), \quad
         G_t \leftarrow G_{t-1} + \lVert g_t \rVert^2, \quad
         \eta_t \leftarrow \frac{\bar r_t}{\sqrt{G_t + \epsilon}} \\
       &x_{t+1} \leftarrow x_t - \gamma\, (\eta_t g_t)
       \end{aligned}

    ``init_step`` sets :math:`\bar r_0`: ``("heuristic", a)``, :math:`a (1 + \lVert x_0 \rVert)`
    (the default, with :math:`a = 10^{-6}`); ``("distance", r)``, :math:`r`;
    ``("learning_rate", \eta)``, :math:`\bar r_0 = 0` and a first step of size :math:`\eta`.
    :math:`\gamma` is ``lr`` (optax's ``learning_rate``, keep 1.0).

    The two norms are global sums over the vector, so a step is two passes: the sums, then the
    update. They are summed in float64 (also for float32 parameters, where optax keeps its scalars
    in float32), in blocks of a fixed length and a fixed order (serial and parallel loops agree
    bitwise). :math:`\lVert x_0 \rVert` is summed at the first step, from the starting point
    ``p0`` (the parameters when the optimizer was made), where the distance is 0.

    State vector: ``p0`` (:math:`x_0`); carried scalars ``max_dist`` (:math:`\bar r`) and
    ``sum_sq_norm_grads`` (:math:`G`). optax's ``mask`` is not offered. The optimizer class and
    every ``minimize`` loop and ``minimize_batch`` (both forms) run it, on the CPU and (the class
    and ``minimize``) on the GPU; parameter groups step each group as a separate optimizer on its
    elements (its own distance and gradient sums).

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 1.0
        Multiplies the learned step (optax's learning_rate; keep 1.0).
    init_step : tuple[str, float], default ('heuristic', 1e-06)
        The initial distance: ('heuristic' | 'distance' | 'learning_rate', value).
    eps : float, default 1e-08
        Added to the sum of squared gradient norms.
    weight_decay : float | None, default None
        Adds weight_decay * x to the gradient (None: nothing).
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    init_step: tuple[str, float]
    eps: float
    weight_decay: float | None
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 1.0,
        init_step: tuple[str, float] = ('heuristic', 1e-06),
        eps: float = 1e-08,
        weight_decay: float | None = None,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, init_step=init_step, eps=eps, weight_decay=weight_decay,
            maximize=maximize, groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )


class Adafactor(Optimizer, variant="Adafactor"):
    r"""Adafactor (Shazeer & Stern, 2018), as ``torch.optim.Adafactor``: unfactored on a
    vector, factored on a parameter group with a shape of two or more dimensions.

    A second moment with a decay that tends to 1, a step relative to the parameters' scale and an
    update clipped by its root mean square. Each step :math:`t`, over the :math:`n` elements:

    .. math::
       \begin{aligned}
       &g_t \leftarrow \nabla f(\theta_{t-1}) \quad (-\nabla f \text{ if maximize}); \quad
         \hat\beta_{2,t} \leftarrow 1 - t^{c}, \quad
         \rho_t \leftarrow \min(\mathrm{lr}, 1/\sqrt{t}) \\
       &\alpha_t \leftarrow \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\, \rho_t, \quad
         \theta \leftarrow \theta_{t-1} (1 - \mathrm{lr}\,\lambda) \\
       &v_t \leftarrow \operatorname{lerp}(v_{t-1}, g_t^2, 1 - \hat\beta_{2,t}), \quad
         u_t \leftarrow \frac{g_t}{\sqrt{\max(v_t, \epsilon_1^2)}} \\
       &\theta_t \leftarrow \theta - \frac{\alpha_t}{\max(1, \mathrm{RMS}(u_t) / d)}\, u_t
       \end{aligned}

    with :math:`\mathrm{RMS}(x) = \lVert x \rVert_2 / \sqrt n`, :math:`c` = ``beta2_decay``,
    ``eps = (eps1, eps2)`` (``eps1=None``: the dtype's machine epsilon) and :math:`\lambda` =
    ``weight_decay``.

    **Factored form.** PyTorch factors the second moment of a parameter of two or more dimensions,
    read as a stack of :math:`m \times n` matrices: per matrix, a row variance :math:`r` and a
    column variance :math:`k`, lerped as :math:`v` above towards the row and column means of
    :math:`g_t^2`, and :math:`v_{ij} = r_i k_j / \max(\operatorname{mean}(r), \epsilon_1)` in
    place of :math:`v`. numadam does so for a parameter group with such a shape: a group of one
    view, ``Adafactor([{"params": views["W"]}, {"params": views["b"]}])`` (``numadam.ravel``'s
    views; PyTorch's root mean squares are per tensor, so a group per tensor matches
    ``torch.optim.Adafactor([W, b])``), or a range given a shape, ``groups=[{"range": (0, 12),
    "shape": (3, 4)}]``. Where :math:`m` or :math:`n` is 1 only the other factor is kept, the one
    of length 1 being its mean (equal in exact arithmetic to the variance PyTorch carries for it,
    within rounding in floating point).

    With a factored group the ``variance`` vector is compact, as PyTorch's state is: each group's
    state in group order, a factored group's as its stack's row variances then its column
    variances (:math:`m + n` numbers a matrix, where PyTorch keeps as many), any other group's
    variance of its elements in their order; elements in no group keep none. (Without one it is
    laid out as the parameters, one number each.)

    ``minimize_batch`` (which takes no shape) and the GPU (which refuses one) step groups
    unfactored. The factored steps run on the CPU (chunks of rows on Numba's threads from
    ``numadam.kernels.PARALLEL_THRESHOLD`` elements a group on, with sums in an order that does
    not depend on the threads), in float64, stored in the parameters' dtype.

    The two root mean squares are global sums over the vector, so a step is two passes: the
    variance and the sums, then the parameters. They are summed in float64 (also for float32
    parameters, where PyTorch takes its norms in float32), in blocks of a fixed length and a fixed
    order (serial and parallel loops agree bitwise), each term divided by :math:`n` (the sums are
    the mean squares).

    State vector: ``variance`` (:math:`v`). The optimizer class and every ``minimize`` loop and
    ``minimize_batch`` (both forms) run it, on the CPU and (the class and ``minimize``) on the GPU;
    parameter groups step each group as a separate optimizer on its elements (its own root mean
    squares: PyTorch takes them per tensor, so a group per tensor matches it).

    Parameters
    ----------
    params : ndarray, GPU array or list of dicts
        1-D, C-contiguous, writeable float32 or float64 vector, updated in place; or
        PyTorch's parameter groups, ``[{"params": views, "lr": ...}, ...]``, whose
        views share one such vector (see :mod:`numadam._groups`).
    lr : float, default 0.01
        Caps the relative step size min(lr, 1/sqrt(t)).
    beta2_decay : float, default -0.8
        The second moment's weight of g^2 at step t is t**beta2_decay.
    eps : tuple[float | None, float], default (None, 0.001)
        (eps1, eps2): floors of sqrt(variance) (None: machine epsilon) and of the parameters' RMS.
    d : float, default 1.0
        Clipping threshold of the update's RMS.
    weight_decay : float, default 0.0
        Decoupled weight decay (times lr).
    maximize : bool, default False
        Ascend instead of descend.
    groups : list of dict, optional
        Parameter groups of the vector ``params``: ``[{"range": (start, stop),
        "lr": ...}, ...]``; elements outside every range form one more group, last,
        with the hyperparameters above (see :mod:`numadam._groups`).
    foreach, fused, capturable, differentiable
        PyTorch's implementation flags, accepted at the values that change nothing.
    check_finite : True, False or 'before', default True
        See :mod:`numadam.optimizers`.
    """

    lr: float
    beta2_decay: float
    eps: tuple[float | None, float]
    d: float
    weight_decay: float
    maximize: bool

    def __init__(
        self,
        params: Vector | Sequence[Mapping[str, Any]],
        lr: float = 0.01,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 0.001),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        groups: Sequence[Mapping[str, Any]] | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        check_finite: bool | Literal["before"] = True,
    ) -> None:
        Optimizer.__init__(
            self, params, lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
            maximize=maximize, groups=groups, foreach=foreach, fused=fused, capturable=capturable,
            differentiable=differentiable, check_finite=check_finite,
        )
