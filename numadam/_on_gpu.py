"""``minimize(options={"device": "cuda"})``: an optimizer whose update runs on the GPU."""

from __future__ import annotations

__all__ = ["OnGPU"]


class OnGPU:
    """An optimizer whose state and update live on the GPU, driven by the host loop.

    The loop keeps ``x`` and ``g`` as NumPy arrays for the objective; each update sends both to
    the device (the loop may have projected or restored ``x`` on the host), steps there, and
    brings ``x`` back. Everything else (``step_count``, the hyperparameters, the state dict) is the
    wrapped optimizer's.
    """

    def __init__(self, cls, x, hyperparameters):
        from numadam import cuda  # imported only for this option

        self._cuda, self._x = cuda, x
        self._x_device = cuda.to_device(x)
        self._g_device = cuda.zeros(x.shape[0], x.dtype)
        self.__dict__["optimizer"] = cls(self._x_device, **hyperparameters)

    def step_prechecked(self, g):
        self._cuda.copy_to_device(self._x_device, self._x)
        self._cuda.copy_to_device(self._g_device, g)
        self.optimizer.step_prechecked(self._g_device)
        self._x_device.copy_to_host(self._x)

    def eval(self):
        self.optimizer.eval()
        self._x_device.copy_to_host(self._x)

    def __getattr__(self, name):
        return getattr(self.__dict__["optimizer"], name)

    def __setattr__(self, name, value):
        optimizer = self.__dict__.get("optimizer")
        if optimizer is not None and (name == "step_count"
                                      or name in optimizer.hyperparameter_names()):
            setattr(optimizer, name, value)
        else:
            object.__setattr__(self, name, value)
