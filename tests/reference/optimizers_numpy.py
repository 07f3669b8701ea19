"""Keras 3 optimizer updates written out in NumPy, read from
`keras/src/optimizers/{sgd,adam,rmsprop,adagrad,adadelta,nadam,adamax,lion}.py`, `base_optimizer.py` and
`schedules/learning_rate_schedule.py` (keras 3.15.1).

Each optimizer keeps its state per parameter name; `step(params, grads)` updates `params` in place (and
returns it). Arithmetic runs in each parameter's own dtype, as Keras does. For float64 parameters, the
hyperparameters Keras passes through `ops.cast` / `tf.cast` (the learning rate, a float32 variable; weight
decay; SGD's momentum; Adam's betas inside `beta ** t`; Adagrad's initial accumulator) go through float32
first (`_cast`), while those used as Python floats in arithmetic (`1 - beta`, epsilon, RMSprop's rho and
momentum) keep full precision (`_exact`). Measured: with this split, float64 runs of all five match Keras
within 1e-12.

Order inside one Keras step (`BaseOptimizer.apply` and `_backend_apply_gradients`):
1. the learning rate: a number, or a schedule's value at `iterations` (0 on the first step), computed in float32;
2. gradient clipping, when set (at most one of them): `clipnorm` scales each gradient to at most that L2 norm
   (`g * clipnorm / max(norm, clipnorm)`), `global_clipnorm` scales all gradients by one factor so that their
   joint norm is at most that, `clipvalue` clips each element to `[-clipvalue, clipvalue]`;
3. decoupled weight decay, when `weight_decay` is set: `p -= p * weight_decay * lr` (every parameter, with the
   learning rate of step 1);
4. the optimizer's `update_step` with the (clipped) gradient;
5. `iterations += 1` (Adam's bias correction uses `t = iterations + 1`, so `t` starts at 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Nadam",
    "Adamax",
    "Lion",
    "Optimizer",
    "make_optimizer",
    "make_schedule",
    "SCHEDULES",
]


def _cast(value: float, dtype) -> np.ndarray:
    """`ops.cast(python_float, dtype)` under TensorFlow: the float becomes a float32 tensor first."""
    return np.asarray(np.float32(value), dtype=dtype)


def _exact(value: float, dtype) -> np.ndarray:
    """A Python float used directly in arithmetic with a tensor: converted at the tensor's dtype."""
    return np.asarray(value, dtype=dtype)


class Optimizer:
    """Base: learning rate (a number or a schedule), gradient clipping, optional decoupled weight decay,
    per-parameter state, the iteration count."""

    def __init__(
        self,
        learning_rate,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
    ):
        self.learning_rate = learning_rate if callable(learning_rate) else float(learning_rate)
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        if sum(option is not None for option in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("only one of clipnorm, clipvalue and global_clipnorm can be set")
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def _lr(self, dtype) -> np.ndarray:
        """The learning rate of this step: a schedule's float32 value at `iterations`, or the number."""
        if callable(self.learning_rate):
            return np.asarray(self.learning_rate(self.iterations), dtype=dtype)
        return _cast(self.learning_rate, dtype)

    def clip(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`BaseOptimizer._clip_gradients` (TensorFlow's `clip_by_norm` for `clipnorm`), in each gradient's dtype."""
        if self.clipnorm and self.clipnorm > 0:
            clipped = {}
            for name, g in grads.items():
                c = _exact(self.clipnorm, g.dtype)
                l2sum = np.sum(g * g)
                l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
                clipped[name] = (g * c) / np.maximum(l2norm, c)
            return clipped
        if self.global_clipnorm and self.global_clipnorm > 0:
            dtype = next(iter(grads.values())).dtype
            norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in grads.values()])))
            c = self.global_clipnorm
            scale = _exact(c, dtype) * np.minimum(_exact(1.0, dtype) / norm, _exact(1.0 / c, dtype))
            scale = scale + (norm - norm)  # NaN when the norm is not finite, as Keras makes it
            return {name: g * scale for name, g in grads.items()}
        if self.clipvalue and self.clipvalue > 0:
            v = self.clipvalue
            return {name: np.clip(g, _exact(-v, g.dtype), _exact(v, g.dtype)) for name, g in grads.items()}
        return grads

    def begin_step(self, dtype) -> None:
        """What an optimizer computes once per step, before any parameter's update (Nadam's momentum product)."""

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
        given = {}
        for name, grad in grads.items():
            if grad is None:
                continue
            param = np.asarray(params[name])
            if not np.issubdtype(param.dtype, np.floating):
                raise TypeError(f"parameter {name} is {param.dtype}, not floating point")
            given[name] = np.asarray(grad, dtype=param.dtype)
            if given[name].shape != param.shape:
                raise ValueError(f"gradient for {name} has shape {given[name].shape}, parameter {param.shape}")
        given = self.clip(given)
        if given:
            self.begin_step(np.asarray(params[next(iter(given))]).dtype)
        for name, grad in given.items():
            param = np.asarray(params[name])
            dtype = param.dtype
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

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, **clipping):
        super().__init__(learning_rate, weight_decay, **clipping)
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

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **clipping):
        super().__init__(learning_rate, weight_decay, **clipping)
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

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **clipping):
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, **clipping)


class RMSprop(Optimizer):
    """`v = rho*v + (1-rho)g²`; centered also `a = rho*a + (1-rho)g` and uses `v - a²`;
    `inc = lr*g / sqrt(v [- a²] + eps)` (epsilon *inside* the root);
    momentum > 0: `mom = momentum*mom + inc; p -= mom`, else `p -= inc`."""

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        weight_decay=None,
        **clipping,
    ):
        super().__init__(learning_rate, weight_decay, **clipping)
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

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None, **clipping):
        super().__init__(learning_rate, weight_decay, **clipping)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def init_state(self, param):
        return {"accumulator": np.full_like(param, _cast(self.initial_accumulator_value, param.dtype))}

    def update(self, param, grad, slots, lr):
        accumulator = slots["accumulator"] + np.square(grad)
        slots["accumulator"] = accumulator
        return param - (lr * grad) / np.sqrt(accumulator + _exact(self.epsilon, param.dtype))


class Adadelta(Optimizer):
    """`acc_g = rho*acc_g + (1-rho)g²`; `delta = -(sqrt(acc_dx + eps) * g) / sqrt(acc_g + eps)`;
    `acc_dx = rho*acc_dx + (1-rho)delta²`; `p += lr*delta` (Keras' default learning rate is 0.001, not 1)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, **clipping):
        super().__init__(learning_rate, weight_decay, **clipping)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def init_state(self, param):
        return {"accumulated_grad": np.zeros_like(param), "accumulated_delta_var": np.zeros_like(param)}

    def update(self, param, grad, slots, lr):
        dtype = param.dtype
        rho, one_minus_rho, eps = _exact(self.rho, dtype), _exact(1 - self.rho, dtype), _exact(self.epsilon, dtype)
        accumulated_grad = rho * slots["accumulated_grad"] + one_minus_rho * np.square(grad)
        delta = -((np.sqrt(slots["accumulated_delta_var"] + eps) * grad) / np.sqrt(accumulated_grad + eps))
        slots["accumulated_grad"] = accumulated_grad
        slots["accumulated_delta_var"] = rho * slots["accumulated_delta_var"] + one_minus_rho * np.square(delta)
        return param + lr * delta


class Nadam(Optimizer):
    """Adam with Nesterov momentum and Keras' momentum schedule `u_t = b1 * (1 - 0.5 * 0.96^t)`; the product of
    the `u_t` is one value for the whole optimizer, updated once per step before any parameter's update:
    `m += (g - m)(1 - b1); v += (g² - v)(1 - b2)`;
    `m_hat = u_{t+1} m / (1 - prod_{t+1}) + (1 - u_t) g / (1 - prod_t)`; `v_hat = v / (1 - b2^t)`;
    `p -= m_hat lr / (sqrt(v_hat) + eps)`."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **clipping):
        super().__init__(learning_rate, weight_decay, **clipping)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.u_product = None

    def init_state(self, param):
        return {"momentum": np.zeros_like(param), "velocity": np.zeros_like(param)}

    def begin_step(self, dtype):
        # `_backend_update_step`: beta_1 and 0.96 as Python floats (not through float32), in the first variable's dtype
        product = np.asarray(1.0, dtype=dtype) if self.u_product is None else self.u_product
        t = _exact(self.iterations + 1, dtype)
        decay = _exact(1.0, dtype) - _exact(0.5, dtype) * np.power(_exact(0.96, dtype), t)
        self.u_product = product * _exact(self.beta_1, dtype) * decay

    def update(self, param, grad, slots, lr):
        dtype = param.dtype
        t, next_t = _exact(self.iterations + 1, dtype), _exact(self.iterations + 2, dtype)
        decay, beta_1, beta_2 = _cast(0.96, dtype), _cast(self.beta_1, dtype), _cast(self.beta_2, dtype)
        u_t = beta_1 * (1.0 - 0.5 * np.power(decay, t))
        u_t_1 = beta_1 * (1.0 - 0.5 * np.power(decay, next_t))
        u_product_t = self.u_product.astype(dtype)
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = np.power(beta_2, t)
        m = slots["momentum"] + (grad - slots["momentum"]) * (1 - beta_1)
        v = slots["velocity"] + (np.square(grad) - slots["velocity"]) * (1 - beta_2)
        slots["momentum"], slots["velocity"] = m, v
        m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * grad) / (1 - u_product_t)
        v_hat = v / (1 - beta_2_power)
        return param - (m_hat * lr) / (np.sqrt(v_hat) + _exact(self.epsilon, dtype))


class Adamax(Optimizer):
    """`m += (g - m)(1 - b1)`; `u = max(b2*u, |g|)`; `p -= lr*m / ((1 - b1^t) * (u + eps))`."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **clipping):
        super().__init__(learning_rate, weight_decay, **clipping)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def init_state(self, param):
        return {"momentum": np.zeros_like(param), "norm": np.zeros_like(param)}

    def update(self, param, grad, slots, lr):
        dtype = param.dtype
        beta_1_power = np.power(_cast(self.beta_1, dtype), _exact(self.iterations + 1, dtype))
        m = slots["momentum"] + (grad - slots["momentum"]) * _exact(1 - self.beta_1, dtype)
        u = np.maximum(_exact(self.beta_2, dtype) * slots["norm"], np.abs(grad))
        slots["momentum"], slots["norm"] = m, u
        return param - (lr * m) / ((1 - beta_1_power) * (u + _exact(self.epsilon, dtype)))


class Lion(Optimizer):
    """`p -= lr * sign(b1*m + (1-b1)g)`, then `m = b2*m + (1-b2)g` (Keras' betas 0.9 and 0.99; no epsilon)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, **clipping):
        super().__init__(learning_rate, weight_decay, **clipping)
        if not 0 < beta_1 <= 1:
            raise ValueError("Lion's beta_1 must be in (0, 1]")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def init_state(self, param):
        return {"momentum": np.zeros_like(param)}

    def update(self, param, grad, slots, lr):
        dtype = param.dtype
        beta_1, beta_2 = _cast(self.beta_1, dtype), _cast(self.beta_2, dtype)
        m = slots["momentum"]
        param = param - lr * np.sign(m * beta_1 + grad * (1.0 - beta_1))
        slots["momentum"] = m * beta_2 + grad * (1.0 - beta_2)
        return param


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "SGD": SGD,
    "Adam": Adam,
    "AdamW": AdamW,
    "RMSprop": RMSprop,
    "Adagrad": Adagrad,
    "Adadelta": Adadelta,
    "Nadam": Nadam,
    "Adamax": Adamax,
    "Lion": Lion,
}


# ---------------------------------------------------------------------------------------------- schedules
# Keras evaluates a schedule at `optimizer.iterations` (0 on the first step), in float32 (the dtype of
# `convert_to_tensor(initial_learning_rate)`); each returns that float32 value.

F32 = np.float32


def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
    """`initial * decay_rate ** (step / decay_steps)`, the exponent floored with `staircase`."""
    p = F32(step) / F32(decay_steps)
    if staircase:
        p = np.floor(p)
    return F32(initial_learning_rate) * np.power(F32(decay_rate), p)


def piecewise_constant_decay(step, boundaries, values, name=None):
    """`values[0]` while `step <= boundaries[0]`, `values[i]` while `boundaries[i-1] < step <= boundaries[i]`,
    `values[-1]` after the last; the boundaries compared as the integer step (a float boundary truncated)."""
    limits = [int(F32(b)) if isinstance(b, float) else int(b) for b in boundaries]
    index = sum(step > limit for limit in limits)
    return F32(values[index])


def polynomial_decay(
    step, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False, name=None
):
    """`(initial - end) * (1 - step / decay_steps) ** power + end`: the step held at `decay_steps`, or with `cycle`
    `decay_steps` multiplied by `ceil(step / decay_steps)` (1 at step 0)."""
    s, steps = F32(step), F32(decay_steps)
    if cycle:
        steps = steps * (F32(1.0) if s == 0 else np.ceil(s / F32(decay_steps)))
    else:
        s = np.minimum(s, steps)
    p = s / steps
    initial, end = F32(initial_learning_rate), F32(end_learning_rate)
    return (initial - end) * np.power(F32(1) - p, F32(power)) + end


def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
    """`initial / (1 + decay_rate * step / decay_steps)`, the quotient floored with `staircase`."""
    p = F32(step) / F32(decay_steps)
    if staircase:
        p = np.floor(p)
    return F32(initial_learning_rate) / (F32(1) + F32(decay_rate) * p)


def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None, warmup_steps=0):
    """A linear warm-up from `initial` to `warmup_target` over `warmup_steps` (when a target is given), then
    `from * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)`, the step held at the end."""
    initial, steps, s = F32(initial_learning_rate), F32(decay_steps), F32(step)

    def decayed(s, start):
        cosine = F32(0.5) * (F32(1.0) + np.cos(F32(math.pi) * (s / steps)))
        return start * (F32(1 - alpha) * cosine + F32(alpha))

    if warmup_target is None:
        return decayed(np.minimum(s, steps), initial)
    target, warmup = F32(warmup_target), F32(warmup_steps)
    s = np.minimum(s, steps + warmup)
    if s < warmup:
        return (target - initial) * (s / warmup) + initial
    return decayed(s - warmup, target)


SCHEDULES = {
    "ExponentialDecay": exponential_decay,
    "PiecewiseConstantDecay": piecewise_constant_decay,
    "PolynomialDecay": polynomial_decay,
    "InverseTimeDecay": inverse_time_decay,
    "CosineDecay": cosine_decay,
}


def make_schedule(name: str, args: Mapping[str, Any]):
    """A schedule by its Keras class name and arguments: a function of the step giving Keras' float32 rate."""
    function = SCHEDULES[name]
    return lambda step: function(step, **args)


def make_optimizer(name: str, args: Mapping[str, Any] | None = None) -> Optimizer:
    """An optimizer by its Keras class name, with its Keras arguments (as bound by `compiler.training`)."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}") from None
    args = dict(args or {})
    rate = args.get("learning_rate")
    if hasattr(rate, "callee"):  # a schedule written as a call (tests/catalogue_training.py's `Call`)
        args["learning_rate"] = make_schedule(rate.callee, rate.args)
    return cls(**args)
