"""Keras semantics in PyTorch: the pieces a generated program copies in (by source) when it needs them.

Each top-level function or class here is self-contained apart from torch, numpy and the pieces listed in
`emit.RUNTIME_NEEDS`, so `emit.py` can paste exactly what a model uses and the program stays standalone.
`same_padding` is the compiler's own rule (compiler/ops/conv.py), pasted from there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from compiler.ops.conv import same_padding


def pad_same(x, kernels, strides, dilations, value=0.0):
    """Pad the spatial dims of a channels-first tensor as Keras' `same` does."""
    pads = []
    for axis in range(len(kernels) - 1, -1, -1):  # F.pad lists the last dimension first
        size = x.shape[2 + axis]
        pads += same_padding(size, kernels[axis], strides[axis], dilations[axis])
    return F.pad(x, pads, value=value)


def avg_pool_same(x, kernels, strides):
    """Average pooling with `same` padding that, like Keras, divides by the count of real cells."""
    pool = F.avg_pool1d if len(kernels) == 1 else F.avg_pool2d
    pads = []
    for axis in range(len(kernels) - 1, -1, -1):
        pads += same_padding(x.shape[2 + axis], kernels[axis], strides[axis])
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    sums = pool(F.pad(x, pads), kernels, strides)
    counts = pool(F.pad(ones, pads), kernels, strides)
    return sums / counts


def resize_bilinear(x, factors):
    """Keras' bilinear UpSampling2D on a channels-first tensor, as TensorFlow computes it.

    Output cell `o` of an axis of `n` cells reads source position `(o + 0.5) * (n / (n * factor)) - 0.5`, its two
    neighbours clamped to the edges. TensorFlow computes the positions in float32; so does this (F.interpolate
    rounds them differently: 1.2e-4 off on 100 rows scaled by 3). Columns first, then rows, as TensorFlow.
    """
    for dim, factor in ((3, factors[1]), (2, factors[0])):
        if factor == 1:
            continue
        n = x.shape[dim]
        scale = torch.tensor(n, dtype=torch.float32) / torch.tensor(n * factor, dtype=torch.float32)
        position = (torch.arange(n * factor, dtype=torch.float32, device=x.device) + 0.5) * scale - 0.5
        floor = position.floor()
        lower, upper = floor.clamp(min=0).long(), position.ceil().clamp(max=n - 1).long()
        weight = (position - floor).to(x.dtype)
        low, high = x.index_select(dim, lower), x.index_select(dim, upper)
        x = low + (high - low) * (weight[:, None] if dim == 2 else weight)
    return x


class KerasBatchNorm(nn.Module):
    """Keras' BatchNormalization: momentum on the moving stats, biased batch variance, TF's inference formula."""

    def __init__(self, channels, channel_dim, momentum=0.99, epsilon=1e-3, center=True, scale=True):
        super().__init__()
        self.channel_dim = channel_dim
        self.momentum = momentum
        self.epsilon = epsilon
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if center else None
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))

    def forward(self, x):
        view = [1] * x.dim()
        view[self.channel_dim] = -1
        if self.training:
            channel_dim = self.channel_dim % x.dim()  # -1 (channels-last) must not count as a reduced dim
            dims = [d for d in range(x.dim()) if d != channel_dim]
            mean = x.mean(dim=dims)
            variance = x.var(dim=dims, unbiased=False)
            with torch.no_grad():
                self.moving_mean.mul_(self.momentum).add_(mean.detach() * (1 - self.momentum))
                self.moving_variance.mul_(self.momentum).add_(variance.detach() * (1 - self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        inv = torch.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        shift = -mean * inv
        if self.beta is not None:
            shift = shift + self.beta
        return x * inv.view(view) + shift.view(view)


class KerasLayerNorm(nn.Module):
    """Keras' LayerNormalization over the last axis, with its separate `center` and `scale` switches."""

    def __init__(self, channels, epsilon=1e-3, center=True, scale=True):
        super().__init__()
        self.shape, self.epsilon = (channels,), epsilon
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if center else None

    def forward(self, x):
        return F.layer_norm(x, self.shape, self.gamma, self.beta, self.epsilon)


class DepthwiseConv(nn.Module):
    """Keras' depthwise convolution with a depth multiplier `m`: torch's grouped convolution (output channel
    `c * m + j` from input channel `c`, as in Keras), its weight kept as `[in, m, k...]` because torch's own
    `[in * m, 1, k...]` cannot be converted back to Keras' `[k..., in, m]`."""

    def __init__(self, channels, depth_multiplier, kernel_size, stride=1, padding=0, dilation=1, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels, depth_multiplier, *kernel_size))
        self.bias = nn.Parameter(torch.zeros(channels * depth_multiplier)) if bias else None
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x):
        conv = F.conv1d if self.weight.dim() == 3 else F.conv2d
        weight = self.weight.flatten(0, 1).unsqueeze(1)
        return conv(x, weight, self.bias, self.stride, self.padding, self.dilation, groups=self.weight.shape[0])


class KerasRecurrent(nn.Module):
    """SimpleRNN, LSTM or GRU with Keras' gates, biases and activations, batch-first.

    Default activations (tanh, sigmoid) run on torch's fused nn.RNN/LSTM/GRU with Keras' weights mapped in;
    other activations run an explicit loop with the same weights and Keras' equations.
    """

    GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}

    def __init__(
        self,
        kind,
        features,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        return_sequences=False,
        go_backwards=False,
    ):
        super().__init__()
        self.kind, self.units, self.use_bias = kind, units, use_bias
        self.activation, self.recurrent_activation = activation, recurrent_activation
        self.return_sequences, self.go_backwards = return_sequences, go_backwards
        gates = self.GATES[kind]
        # canonical Keras layouts; torch's fused modules get views of these in forward
        self.kernel = nn.Parameter(torch.zeros(features, gates * units))
        self.recurrent_kernel = nn.Parameter(torch.zeros(units, gates * units))
        bias_shape = (2, gates * units) if kind == "GRU" else (gates * units,)
        self.bias = nn.Parameter(torch.zeros(bias_shape)) if use_bias else None

    def _act(self, name, x):
        return {
            "tanh": torch.tanh,
            "sigmoid": torch.sigmoid,
            "relu": torch.relu,
            "linear": lambda v: v,
            "elu": F.elu,
            "selu": F.selu,
            "softplus": F.softplus,
            "swish": F.silu,
            "gelu": F.gelu,
            "softmax": lambda v: torch.softmax(v, dim=-1),
            "log_softmax": lambda v: F.log_softmax(v, dim=-1),
            "relu6": F.relu6,
            "leaky_relu": lambda v: F.leaky_relu(v, 0.2),
            "silu": F.silu,
            "mish": F.mish,
            "hard_sigmoid": F.hardsigmoid,
            "hard_silu": F.hardswish,
        }[name](x)

    def _fused_weights(self):
        """Keras' kernels and bias as torch's [w_ih, w_hh, b_ih, b_hh]; the recurrent bias is zero except in GRU."""
        kernel, recurrent, bias = self.kernel, self.recurrent_kernel, self.bias
        if self.kind == "GRU":  # Keras orders the gates z, r, h; torch r, z, n
            u = self.units

            def order(w):
                return torch.cat([w[..., u : 2 * u], w[..., :u], w[..., 2 * u :]], dim=-1)

            kernel, recurrent = order(kernel), order(recurrent)
            bias = None if bias is None else order(bias)
        weights = [kernel.t(), recurrent.t()]
        if bias is not None:
            if self.kind == "GRU":
                weights += [bias[0], bias[1]]
            else:
                weights += [bias, torch.zeros_like(bias)]
        return weights

    def _fused(self, x):
        """torch's fused kernels; they need Keras' default activations."""
        h = x.new_zeros(1, x.shape[0], self.units)
        args = (self._fused_weights(), self.use_bias, 1, 0.0, self.training, False, True)
        if self.kind == "LSTM":
            sequence, h, _ = torch.lstm(x, (h, torch.zeros_like(h)), *args)
        elif self.kind == "GRU":
            sequence, h = torch.gru(x, h, *args)
        else:
            sequence, h = torch.rnn_tanh(x, h, *args)
        return sequence, h[0]

    def forward(self, x):
        if self.go_backwards:
            x = torch.flip(x, dims=[1])
        fused = self.activation == "tanh" and (self.kind == "SimpleRNN" or self.recurrent_activation == "sigmoid")
        if fused:
            sequence, last = self._fused(x)
            if not self.return_sequences:
                return last
            return torch.flip(sequence, dims=[1]) if self.go_backwards else sequence
        batch = x.shape[0]
        h = x.new_zeros(batch, self.units)
        c = x.new_zeros(batch, self.units)
        projected = x @ self.kernel
        bias = self.bias
        if bias is not None:
            projected = projected + (bias[0] if self.kind == "GRU" else bias)
        outputs = []
        u = self.units
        for t in range(x.shape[1]):
            step = projected[:, t]
            recurrent = h @ self.recurrent_kernel
            if self.kind == "SimpleRNN":
                h = self._act(self.activation, step + recurrent)
            elif self.kind == "LSTM":
                z = step + recurrent
                i = self._act(self.recurrent_activation, z[:, :u])
                f = self._act(self.recurrent_activation, z[:, u : 2 * u])
                g = self._act(self.activation, z[:, 2 * u : 3 * u])
                o = self._act(self.recurrent_activation, z[:, 3 * u :])
                c = f * c + i * g
                h = o * self._act(self.activation, c)
            else:
                if bias is not None:
                    recurrent = recurrent + bias[1]
                z = self._act(self.recurrent_activation, step[:, :u] + recurrent[:, :u])
                r = self._act(self.recurrent_activation, step[:, u : 2 * u] + recurrent[:, u : 2 * u])
                hh = self._act(self.activation, step[:, 2 * u :] + r * recurrent[:, 2 * u :])
                h = z * h + (1 - z) * hh
            if self.return_sequences:
                outputs.append(h)
        if not self.return_sequences:
            return h
        sequence = torch.stack(outputs, dim=1)
        return torch.flip(sequence, dims=[1]) if self.go_backwards else sequence


class SparseRowsLookup(torch.autograd.Function):
    """`weight[ids]`, whose backward also leaves the per-row sum of squared per-occurrence gradients on the weight.

    TensorFlow hands Keras an embedding's gradient as IndexedSlices, one row per looked-up token, and Keras'
    optimizers square those rows before summing them: a token seen twice adds g1**2 + g2**2 to Adam's v, not
    (g1 + g2)**2. The optimizers below use `weight.keras_squared_grad` in place of `grad * grad` when it is set.
    """

    @staticmethod
    def forward(ctx, weight, ids):
        ctx.save_for_backward(ids)
        ctx.weight = weight
        return F.embedding(ids, weight)

    @staticmethod
    def backward(ctx, grad):
        (ids,) = ctx.saved_tensors
        weight, rows, flat_ids = ctx.weight, grad.reshape(-1, grad.shape[-1]), ids.reshape(-1)
        dense = torch.zeros_like(weight).index_add_(0, flat_ids, rows)
        squares = torch.zeros_like(weight).index_add_(0, flat_ids, rows * rows)
        previous = getattr(weight, "keras_squared_grad", None)  # accumulates like .grad until a step uses it
        weight.keras_squared_grad = squares if previous is None else previous + squares
        return dense, None


class KerasEmbedding(nn.Module):
    """Keras' Embedding: ids to rows of `weight`, trained with Keras' sparse row updates.

    With an embeddings regularizer Keras' gradient is dense (TensorFlow adds the regularizer's dense gradient to
    the rows), so `sparse_rows=False` trains it as an ordinary tensor.
    """

    def __init__(self, input_dim, output_dim, sparse_rows=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(input_dim, output_dim))
        self.sparse_rows = sparse_rows

    def forward(self, ids):
        ids = ids.long()
        if self.sparse_rows and torch.is_grad_enabled() and self.weight.requires_grad:
            return SparseRowsLookup.apply(self.weight, ids)
        return F.embedding(ids, self.weight)


class KerasMultiHeadAttention(nn.Module):
    """Keras' MultiHeadAttention, its projections written out (any heads * key_dim, unlike nn.MultiheadAttention).

    The weights are Keras' EinsumDense kernels and biases: `query_kernel` [features, heads, key_dim],
    `key_kernel` likewise, `value_kernel` [features, heads, value_dim], `attention_output_kernel`
    [heads, value_dim, out]. As Keras does, the projected query is scaled by 1/sqrt(key_dim) before its product
    with the keys, the softmax runs over every key position, a causal mask lets query i see keys 0..i (aligned at
    the top left whatever the two lengths), and in training dropout drops attention probabilities. Every axis
    between the batch and the features is attended over, as one.
    """

    def __init__(
        self,
        features,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        causal=False,
    ):
        """`features`: the query's, the value's and the key's feature counts; the rest as Keras' arguments."""
        super().__init__()
        query_features, value_features, key_features = features
        value_dim, output_shape = value_dim or key_dim, output_shape or query_features
        self.scale, self.causal = 1.0 / key_dim**0.5, causal
        self.dropout = nn.Dropout(dropout)  # holds the rate, where whatever switches dropout off looks for it

        def weight(*shape):
            return nn.Parameter(torch.zeros(shape))

        def bias(*shape):
            return weight(*shape) if use_bias else None

        self.query_kernel, self.query_bias = weight(query_features, num_heads, key_dim), bias(num_heads, key_dim)
        self.key_kernel, self.key_bias = weight(key_features, num_heads, key_dim), bias(num_heads, key_dim)
        self.value_kernel, self.value_bias = weight(value_features, num_heads, value_dim), bias(num_heads, value_dim)
        self.attention_output_kernel = weight(num_heads, value_dim, output_shape)
        self.attention_output_bias = bias(output_shape)

    @staticmethod
    def project(x, kernel, bias):
        """[batch, positions, features] -> [batch, heads, positions, dim]."""
        y = torch.einsum("btf,fnd->btnd", x, kernel)
        return (y if bias is None else y + bias).transpose(1, 2)

    def forward(self, query, value, key=None):
        key = value if key is None else key
        positions = query.shape[1:-1]
        query, value, key = (x.flatten(1, -2) for x in (query, value, key))  # the attended axes as one
        attended = F.scaled_dot_product_attention(
            self.project(query, self.query_kernel, self.query_bias) * self.scale,
            self.project(key, self.key_kernel, self.key_bias),
            self.project(value, self.value_kernel, self.value_bias),
            dropout_p=self.dropout.p if self.training else 0.0,
            is_causal=self.causal,
            scale=1.0,
        )
        y = torch.einsum("bntv,nvo->bto", attended, self.attention_output_kernel)
        if self.attention_output_bias is not None:
            y = y + self.attention_output_bias
        return y.unflatten(1, positions)


class KerasPositionEmbedding(nn.Module):
    """keras_hub's PositionEmbedding: the learned vectors of positions 0..T-1 (T the input's axis -2, at most
    `sequence_length`), broadcast to the input's shape."""

    def __init__(self, sequence_length, features):
        super().__init__()
        self.embeddings = nn.Parameter(torch.zeros(sequence_length, features))

    def forward(self, x):
        length, limit = x.shape[-2], self.embeddings.shape[0]
        if length > limit:
            raise ValueError(f"PositionEmbedding has {limit} positions (sequence_length) for a sequence of {length}")
        return self.embeddings[:length].expand(x.shape)


class KerasOptimizer(torch.optim.Optimizer):
    """What the Keras optimizers share: a group's parameters stepped together, as flat tensors.

    A model's weights are a handful of small tensors, where a per-parameter loop costs far more in Python and
    op dispatch than in arithmetic. So the parameters of a group that share a dtype and device (a bucket) step
    as a few elementwise ops on flat tensors: the gradients concatenated, and the state, whose per-parameter
    tensors are views into one flat tensor per name. Every element sees the same operations in the same order
    as in a per-parameter loop, so the results are bit-for-bit the same. `state_dict()` stays per parameter
    (those views); a bucket's flat tensors are rebuilt from the per-parameter ones whenever those stop being
    its views: after `load_state_dict`, or when the parameters that have gradients change.
    """

    def __init__(self, params, defaults):
        super().__init__(params, defaults)
        self._flats = {}  # a bucket's parameter ids -> its flat tensors and their per-parameter views

    def _buckets(self, group, prepare=None):
        """The group's parameters that have gradients, by device, dtype and what `prepare(state, p)` returns.

        `prepare` readies a parameter's state for this step (making it when empty); without it the state is not
        touched, so an optimizer that keeps none checkpoints no empty per-parameter entries.
        """
        buckets = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            extra = prepare(self.state[p], p) if prepare else None
            buckets.setdefault((p.device, p.dtype, extra), []).append(p)
        return buckets

    def _flat(self, params, names):
        """A bucket's gradients, concatenated, and its flat tensors: the state named in `names` and "update".

        "update" is a buffer for the step to compute into (`out=`); "views" holds, by the same names, each
        parameter's view of them in its shape, for `_foreach_` ops on the parameters themselves.
        """
        key = tuple(map(id, params))  # sound: the cached bucket keeps its parameters (so their ids) alive
        flat = self._flats.get(key)
        if flat is None or not self._current(flat, params, names):
            flat = self._rebuild(key, params, names)
        return torch.cat([p.grad.reshape(-1) for p in params]), flat

    @staticmethod
    def _squared(params, g):
        """The bucket's squared gradients: `g * g`, or a parameter's own `keras_squared_grad` (SparseRowsLookup),
        which this step uses up."""
        own = [getattr(p, "keras_squared_grad", None) for p in params]
        if all(square is None for square in own):
            return g * g
        parts = []
        for p, square in zip(params, own, strict=True):
            parts.append(p.grad.reshape(-1) * p.grad.reshape(-1) if square is None else square.reshape(-1))
            p.keras_squared_grad = None
        return torch.cat(parts)

    def _current(self, flat, params, names):
        """Whether each parameter's state is still (by identity) the view into the bucket's flat tensors."""
        for name in names:
            views = flat["views"].get(name)
            if views is None or any(self.state[p][name] is not view for p, view in zip(params, views, strict=True)):
                return False
        return True

    def _rebuild(self, key, params, names):
        """Concatenate a bucket's state into flat tensors and make each parameter's state its views into them."""
        sizes = [p.numel() for p in params]

        def views(flat):
            return [chunk.view(p.shape) for chunk, p in zip(flat.split(sizes), params, strict=True)]

        update = torch.empty(sum(sizes), dtype=params[0].dtype, device=params[0].device)
        flat = {"params": params, "update": update, "views": {"update": views(update)}}
        for name in names:
            flat[name] = torch.cat([self.state[p][name].reshape(-1) for p in params])
            flat["views"][name] = views(flat[name])
            for p, view in zip(params, flat["views"][name], strict=True):
                self.state[p][name] = view
        # a parameter belongs to one bucket at a time: drop the buckets it was in before (and their memory)
        ids = set(key)
        self._flats = {k: v for k, v in self._flats.items() if ids.isdisjoint(k)}
        self._flats[key] = flat
        return flat


class KerasAdam(KerasOptimizer):
    """Keras' Adam/AdamW: epsilon added to the uncorrected sqrt(v); decoupled weight decay.

    The elementwise order is Keras' and must stay so (not lerp or addcdiv, which round differently).
    """

    def __init__(self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None):
        defaults = dict(lr=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @staticmethod
    def _count(state, p):
        if not state:
            state["t"] = 0
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
        state["t"] += 1
        return state["t"]  # a parameter that once had no gradient lags behind, so t splits buckets

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, b1, b2, eps, wd = (group[k] for k in ("lr", "beta_1", "beta_2", "epsilon", "weight_decay"))
            # Keras computes the bias correction in the variable's dtype from float32-cast hyperparameters,
            # with a float power (torch's integer power multiplies out: 1 ulp, 5e-7 in 5 steps at lr 0.05)
            hyper = torch.tensor([lr, b1, b2], dtype=torch.float32)
            for (_, dtype, t), params in self._buckets(group, self._count).items():
                g, flat = self._flat(params, ("m", "v"))
                m, v = flat["m"], flat["v"]
                if wd:
                    torch._foreach_sub_(params, torch._foreach_mul(params, wd * lr))
                lr_t, b1_t, b2_t = hyper.to(dtype)
                t_t = torch.tensor(float(t), dtype=dtype)
                alpha = lr_t * torch.sqrt(1 - torch.pow(b2_t, t_t)) / (1 - torch.pow(b1_t, t_t))
                m.add_((g - m) * (1 - b1))
                v.add_((self._squared(params, g) - v) * (1 - b2))
                torch.div(m * alpha, torch.sqrt(v) + eps, out=flat["update"])
                torch._foreach_sub_(params, flat["views"]["update"])


class KerasSGD(KerasOptimizer):
    """Keras' SGD: `m = momentum * m - lr * g; p += m` (nesterov: `p += momentum * m - lr * g`)."""

    def __init__(self, params, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None):
        defaults = dict(lr=learning_rate, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @staticmethod
    def _init(state, p):
        if not state:
            state["m"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for params in self._buckets(group, self._init if momentum else None).values():
                g, flat = self._flat(params, ("m",) if momentum else ())
                if wd:
                    torch._foreach_sub_(params, torch._foreach_mul(params, wd * lr))
                if not momentum:
                    torch.mul(g, lr, out=flat["update"])
                    torch._foreach_sub_(params, flat["views"]["update"])
                    continue
                scaled = g * lr
                flat["m"].mul_(momentum).sub_(scaled)
                if group["nesterov"]:
                    torch.sub(flat["m"] * momentum, scaled, out=flat["update"])
                    torch._foreach_add_(params, flat["views"]["update"])
                else:
                    torch._foreach_add_(params, flat["views"]["m"])


class KerasRMSprop(KerasOptimizer):
    """Keras' RMSprop: epsilon inside the sqrt; optional momentum and centering."""

    def __init__(
        self, params, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None
    ):
        defaults = dict(
            lr=learning_rate, rho=rho, momentum=momentum, epsilon=epsilon, centered=centered, weight_decay=weight_decay
        )
        super().__init__(params, defaults)

    @staticmethod
    def _init(state, p):
        if not state:
            state["v"] = torch.zeros_like(p)
            state["mean_g"] = torch.zeros_like(p)
            state["m"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, rho, momentum, eps, wd = (group[k] for k in ("lr", "rho", "momentum", "epsilon", "weight_decay"))
            names = ("v", *(("mean_g",) if group["centered"] else ()), *(("m",) if momentum else ()))
            for params in self._buckets(group, self._init).values():
                g, flat = self._flat(params, names)
                v = flat["v"]
                if wd:
                    torch._foreach_sub_(params, torch._foreach_mul(params, wd * lr))
                v.mul_(rho).add_(self._squared(params, g) * (1 - rho))
                denominator = v
                if group["centered"]:
                    flat["mean_g"].mul_(rho).add_(g * (1 - rho))
                    denominator = v - flat["mean_g"] ** 2
                increment = torch.div(g * lr, torch.sqrt(denominator + eps), out=flat["update"])
                if momentum:
                    flat["m"].mul_(momentum).add_(increment)
                    torch._foreach_sub_(params, flat["views"]["m"])
                else:
                    torch._foreach_sub_(params, flat["views"]["update"])


class KerasAdagrad(KerasOptimizer):
    """Keras' Adagrad: the accumulator starts at `initial_accumulator_value`; epsilon inside the sqrt."""

    def __init__(self, params, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None):
        defaults = dict(lr=learning_rate, initial=initial_accumulator_value, epsilon=epsilon, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, eps, wd = group["lr"], group["epsilon"], group["weight_decay"]

            def init(state, p, initial=group["initial"]):
                if not state:
                    state["acc"] = torch.full_like(p, initial)

            for params in self._buckets(group, init).values():
                g, flat = self._flat(params, ("acc",))
                acc = flat["acc"]
                if wd:
                    torch._foreach_sub_(params, torch._foreach_mul(params, wd * lr))
                acc.add_(self._squared(params, g))
                torch.div(g * lr, torch.sqrt(acc + eps), out=flat["update"])
                torch._foreach_sub_(params, flat["views"]["update"])
