"""Keras 3 optimizer updates written out in NumPy, read from `keras/src/optimizers/{sgd,adam,rmsprop,adagrad}.py`
and `base_optimizer.py` (keras 3.15.1).

Each optimizer keeps its state per parameter name; `step(params, grads)` updates `params` in place (and
returns it). Arithmetic runs in each parameter's own dtype, as Keras does. For float64 parameters, the
hyperparameters Keras passes through `ops.cast` / `tf.cast` (the learning rate, a float32 variable; weight
decay; SGD's momentum; Adam's betas inside `beta ** t`; Adagrad's initial accumulator) go through float32
first (`_cast`), while those used as Python floats in arithmetic (`1 - beta`, epsilon, RMSprop's rho and
momentum) keep full precision (`_exact`). Measured: with this split, float64 runs of all five match Keras
within 1e-12.

Order inside one Keras step (`BaseOptimizer._backend_apply_gradients`):
1. decoupled weight decay, when `weight_decay` is set: `p -= p * weight_decay * lr` (every parameter);
2. the optimizer's `update_step` with the gradient;
3. `iterations += 1` (Adam's bias correction uses `t = iterations + 1`, so `t` starts at 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Optimizer", "make_optimizer"]


def _cast(value: float, dtype) -> np.ndarray:
    """`ops.cast(python_float, dtype)` under TensorFlow: the float becomes a float32 tensor first."""
    return np.asarray(np.float32(value), dtype=dtype)


def _exact(value: float, dtype) -> np.ndarray:
    """A Python float used directly in arithmetic with a tensor: converted at the tensor's dtype."""
    return np.asarray(value, dtype=dtype)


class Optimizer:
    """Base: learning rate, optional decoupled weight decay, per-parameter state, the iteration count."""

    def __init__(self, learning_rate: float, weight_decay: float | None = None):
        self.learning_rate = float(learning_rate)
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def _lr(self, dtype) -> np.ndarray:
        return _cast(self.learning_rate, dtype)

    def _slots(self, name: str, param: np.ndarray) -> dict[str, np.ndarray]:
        if name not in self.state:
            self.state[name] = self.init_state(param)
        return self.state[name]

    def init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def update(self, param: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray], lr: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def step(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One optimizer step on every parameter that has a gradient; updates `params` in place."""
        unknown = set(grads) - set(params)
        if unknown:
            raise KeyError(f"gradients for unknown parameters: {sorted(unknown)}")
        for name, grad in grads.items():
            if grad is None:
                continue
            param = np.asarray(params[name])
            if not np.issubdtype(param.dtype, np.floating):
                raise TypeError(f"parameter {name} is {param.dtype}, not floating point")
            dtype = param.dtype
            grad = np.asarray(grad, dtype=dtype)
            if grad.shape != param.shape:
                raise ValueError(f"gradient for {name} has shape {grad.shape}, parameter {param.shape}")
            lr = self._lr(dtype)
            if self.weight_decay is not None:
                wd = _cast(self.weight_decay, dtype)
                param = param - param * wd * lr
            params[name] = self.update(param, grad, self._slots(name, param), lr).astype(dtype, copy=False)
        self.iterations += 1
        return params


class SGD(Optimizer):
    """`m = momentum*m - lr*g; p += m`; nesterov: `p += momentum*m - lr*g` (with the new m);
    momentum 0: `p -= lr*g`."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None):
        super().__init__(learning_rate, weight_decay)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError("momentum must be in [0, 1]")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def init_state(self, param):
        return {"momentum": np.zeros_like(param)} if self.momentum != 0 else {}

    def update(self, param, grad, slots, lr):
        if self.momentum == 0:
            return param - grad * lr
        momentum = _cast(self.momentum, param.dtype)
        m = slots["momentum"] * momentum - grad * lr
        slots["momentum"] = m
        if self.nesterov:
            return param + (m * momentum - grad * lr)
        return param + m


class Adam(Optimizer):
    """`m += (g - m)(1 - b1); v += (g² - v)(1 - b2)`;
    `p -= m * alpha / (sqrt(v) + eps)` with `alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)`: epsilon is added to
    the *uncorrected* `sqrt(v)` (Keras' default epsilon is 1e-7)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
        super().__init__(learning_rate, weight_decay)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def init_state(self, param):
        return {"momentum": np.zeros_like(param), "velocity": np.zeros_like(param)}

    def update(self, param, grad, slots, lr):
        dtype = param.dtype
        t = _exact(self.iterations + 1, dtype)
        beta_1_power = np.power(_cast(self.beta_1, dtype), t)
        beta_2_power = np.power(_cast(self.beta_2, dtype), t)
        alpha = lr * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m = slots["momentum"] + (grad - slots["momentum"]) * _exact(1 - self.beta_1, dtype)
        v = slots["velocity"] + (np.square(grad) - slots["velocity"]) * _exact(1 - self.beta_2, dtype)
        slots["momentum"], slots["velocity"] = m, v
        return param - (m * alpha) / (np.sqrt(v) + _exact(self.epsilon, dtype))


class AdamW(Adam):
    """Keras' AdamW is Adam with the base class' decoupled weight decay, default 0.004."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay)


class RMSprop(Optimizer):
    """`v = rho*v + (1-rho)g²`; centered also `a = rho*a + (1-rho)g` and uses `v - a²`;
    `inc = lr*g / sqrt(v [- a²] + eps)` (epsilon *inside* the root);
    momentum > 0: `mom = momentum*mom + inc; p -= mom`, else `p -= inc`."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None):
        super().__init__(learning_rate, weight_decay)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def init_state(self, param):
        slots = {"velocity": np.zeros_like(param)}
        if self.momentum > 0:
            slots["momentum"] = np.zeros_like(param)
        if self.centered:
            slots["average_gradient"] = np.zeros_like(param)
        return slots

    def update(self, param, grad, slots, lr):
        dtype = param.dtype
        rho, one_minus_rho = _exact(self.rho, dtype), _exact(1 - self.rho, dtype)
        eps = _exact(self.epsilon, dtype)
        velocity = rho * slots["velocity"] + one_minus_rho * np.square(grad)
        slots["velocity"] = velocity
        if self.centered:
            average = rho * slots["average_gradient"] + one_minus_rho * grad
            slots["average_gradient"] = average
            denominator = velocity - np.square(average) + eps
        else:
            denominator = velocity + eps
        increment = (lr * grad) / np.sqrt(denominator)
        if self.momentum > 0:
            mom = _exact(self.momentum, dtype) * slots["momentum"] + increment
            slots["momentum"] = mom
            return param - mom
        return param - increment


class Adagrad(Optimizer):
    """`acc += g²` (acc starts at `initial_accumulator_value`, default 0.1); `p -= lr*g / sqrt(acc + eps)`."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None):
        super().__init__(learning_rate, weight_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def init_state(self, param):
        return {"accumulator": np.full_like(param, _cast(self.initial_accumulator_value, param.dtype))}

    def update(self, param, grad, slots, lr):
        accumulator = slots["accumulator"] + np.square(grad)
        slots["accumulator"] = accumulator
        return param - (lr * grad) / np.sqrt(accumulator + _exact(self.epsilon, param.dtype))


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "SGD": SGD,
    "Adam": Adam,
    "AdamW": AdamW,
    "RMSprop": RMSprop,
    "Adagrad": Adagrad,
}


def make_optimizer(name: str, args: Mapping[str, Any] | None = None) -> Optimizer:
    """An optimizer by its Keras class name, with its Keras arguments (as bound by `compiler.training`)."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}") from None
    return cls(**(args or {}))
