"""Keras semantics in PyTorch: the pieces a generated program copies in (by source) when it needs them.

Each top-level function or class here is self-contained apart from torch, numpy and the pieces listed in
`emit.RUNTIME_NEEDS`, so `emit.py` can paste exactly what a model uses and the program stays standalone.
`same_padding` is the compiler's own rule (compiler/ops/conv.py), pasted from there.
"""

from __future__ import annotations

import math

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
            if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
                mean, variance = self.synchronized_moments(x, dims, x.shape[channel_dim])
            else:
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

    @staticmethod
    def synchronized_moments(x, dims, channels):
        """The global batch's mean and (biased) variance over every worker's part, in two passes as one
        process computes them: the mean from the summed sums, then the mean squared deviation from it. (Keras'
        synchronized BatchNormalization takes E[x^2] - mean^2 in one pass, which loses the variance's digits
        when the mean is large against the spread.) The sums are WorkerSum's, through which each worker's
        gradient also flows through the other workers' samples, as in one process."""
        count = x.new_full((1,), x.numel() // channels)  # values per channel on this worker
        total = WorkerSum.apply(torch.cat([x.sum(dim=dims), count]))
        mean = total[:channels] / total[-1]
        view = [1] * x.dim()
        view[[d for d in range(x.dim()) if d not in dims][0]] = -1
        squares = WorkerSum.apply(((x - mean.view(view)) ** 2).sum(dim=dims))
        return mean, squares / total[-1]


class WorkerSum(torch.autograd.Function):
    """sum_over_workers with its gradient: each worker's loss uses the sum, so a worker's input gets the sum of
    every worker's gradient of it."""

    @staticmethod
    def forward(ctx, tensor):
        return sum_over_workers(tensor)  # noqa: F821  (every program has it: template.py, "workers")

    @staticmethod
    def backward(ctx, grad):
        return sum_over_workers(grad)  # noqa: F821


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
    """`weight[ids]`, whose backward also leaves the gradient's rows, one per looked-up token, on the weight.

    TensorFlow hands Keras an embedding's gradient as IndexedSlices, one row per looked-up token, and Keras'
    optimizers square (or take the absolute value of, or clip) those rows before summing them: a token seen twice
    adds g1**2 + g2**2 to Adam's v, not (g1 + g2)**2. The optimizers below read `weight.keras_rows`, (ids, rows),
    where they square, clip or take absolute values, and drop it after their step.
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
        previous = getattr(weight, "keras_rows", None)  # accumulates like .grad until a step uses it
        if previous is not None:
            flat_ids, rows = torch.cat([previous[0], flat_ids]), torch.cat([previous[1], rows])
        weight.keras_rows = (flat_ids, rows)
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

    One step runs in Keras' order (`keras_groups`): the learning rate (a schedule's value at `iterations`, 0 on the
    first step), the gradients clipped (`clipnorm`, `clipvalue` or `global_clipnorm`, at most one), then each
    group's weight decay and update; `iterations` counts the steps, in each group so that checkpoints keep it.
    """

    def __init__(self, params, defaults, clipnorm=None, clipvalue=None, global_clipnorm=None):
        rate = defaults["lr"]
        self.schedule = rate if callable(rate) else None  # a learning-rate schedule: a function of the step
        super().__init__(params, defaults | {"lr": rate(0) if self.schedule else rate, "iterations": 0})
        self.clipping = (clipnorm, clipvalue, global_clipnorm)
        self._flats = {}  # a bucket's parameter ids -> its flat tensors and their per-parameter views

    def keras_groups(self):
        """The param groups, each readied for this step as Keras readies it; the step counted after each."""
        self._clip()
        for group in self.param_groups:
            iterations = group.setdefault("iterations", 0)
            if self.schedule is not None:
                group["lr"] = self.schedule(iterations)
            yield group
            group["iterations"] = iterations + 1
        for group in self.param_groups:
            for p in group["params"]:
                if getattr(p, "keras_rows", None) is not None:
                    p.keras_rows = None

    @torch.no_grad()
    def _clip(self):
        """Keras' gradient clipping (`BaseOptimizer._clip_gradients`; TensorFlow's `clip_by_norm` for `clipnorm`).

        An embedding's rows are clipped as rows: their norm is that of the rows, not of their sums, and
        `clipvalue` clips each row. `global_clipnorm` scales the summed gradient, as Keras does (the rows go).
        """
        clipnorm, clipvalue, global_clipnorm = self.clipping
        if not (clipnorm or clipvalue or global_clipnorm):
            return
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if clipnorm and clipnorm > 0:
            for p in params:
                rows = getattr(p, "keras_rows", None)
                values = p.grad if rows is None else rows[1]
                norm = torch.sqrt((values * values).sum())
                clipped = (values * clipnorm) / torch.clamp(norm, min=clipnorm)
                self._set_gradient(p, clipped, rows)
        elif global_clipnorm and global_clipnorm > 0:
            rows = [getattr(p, "keras_rows", None) for p in params]
            squares = [(p.grad * p.grad if r is None else r[1] * r[1]).sum() for p, r in zip(params, rows, strict=True)]
            norm = torch.sqrt(torch.stack(squares).sum())
            scale = global_clipnorm * torch.clamp(1.0 / norm, max=1.0 / global_clipnorm)
            scale = scale + (norm - norm)  # NaN when the norm is not finite, as in Keras
            for p in params:
                p.grad.mul_(scale)
                p.keras_rows = None
        elif clipvalue and clipvalue > 0:
            for p in params:
                rows = getattr(p, "keras_rows", None)
                values = p.grad if rows is None else rows[1]
                self._set_gradient(p, values.clamp(-clipvalue, clipvalue), rows)

    @staticmethod
    def _set_gradient(p, values, rows):
        """Make `values` the parameter's gradient, or, for an embedding's rows, its rows and their sum."""
        if rows is None:
            p.grad.copy_(values)
        else:
            p.keras_rows = (rows[0], values)
            p.grad.zero_().index_add_(0, rows[0], values)

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
    def _summed(params, g, f):
        """The bucket's `f(g)`, where an embedding's rows (SparseRowsLookup) count as Keras counts them: `f` of each
        row, then summed per token."""
        own = [getattr(p, "keras_rows", None) for p in params]
        if all(rows is None for rows in own):
            return f(g)
        parts = []
        for p, rows in zip(params, own, strict=True):
            if rows is None:
                parts.append(f(p.grad.reshape(-1)))
            else:
                parts.append(torch.zeros_like(p).index_add_(0, rows[0], f(rows[1])).reshape(-1))
        return torch.cat(parts)

    @classmethod
    def _squared(cls, params, g):
        """The bucket's squared gradients (an embedding's: the sum of its rows' squares)."""
        return cls._summed(params, g, lambda x: x * x)

    @staticmethod
    def _has_rows(params):
        return any(getattr(p, "keras_rows", None) is not None for p in params)

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

    def __init__(
        self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **clipping
    ):
        defaults = dict(lr=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay)
        super().__init__(params, defaults, **clipping)

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
        for group in self.keras_groups():
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

    def __init__(self, params, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, **clipping):
        defaults = dict(lr=learning_rate, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _init(state, p):
        if not state:
            state["m"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.keras_groups():
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
        self,
        params,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        weight_decay=None,
        **clipping,
    ):
        defaults = dict(
            lr=learning_rate, rho=rho, momentum=momentum, epsilon=epsilon, centered=centered, weight_decay=weight_decay
        )
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _init(state, p):
        if not state:
            state["v"] = torch.zeros_like(p)
            state["mean_g"] = torch.zeros_like(p)
            state["m"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.keras_groups():
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

    def __init__(
        self,
        params,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        weight_decay=None,
        **clipping,
    ):
        defaults = dict(lr=learning_rate, initial=initial_accumulator_value, epsilon=epsilon, weight_decay=weight_decay)
        super().__init__(params, defaults, **clipping)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.keras_groups():
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


class KerasAdadelta(KerasOptimizer):
    """Keras' Adadelta: `acc_g = rho*acc_g + (1-rho)g²`, `delta = -(sqrt(acc_dx + eps) * g) / sqrt(acc_g + eps)`,
    `acc_dx = rho*acc_dx + (1-rho)delta²`, `p += lr*delta` (Keras' default learning rate is 0.001)."""

    def __init__(self, params, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, **clipping):
        defaults = dict(lr=learning_rate, rho=rho, epsilon=epsilon, weight_decay=weight_decay)
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _init(state, p):
        if not state:
            state["accumulated_grad"] = torch.zeros_like(p)
            state["accumulated_delta"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.keras_groups():
            lr, rho, eps, wd = (group[k] for k in ("lr", "rho", "epsilon", "weight_decay"))
            for params in self._buckets(group, self._init).values():
                g, flat = self._flat(params, ("accumulated_grad", "accumulated_delta"))
                accumulated_grad, accumulated_delta = flat["accumulated_grad"], flat["accumulated_delta"]
                if wd:
                    torch._foreach_sub_(params, torch._foreach_mul(params, wd * lr))
                squared = self._squared(params, g)
                accumulated_grad.mul_(rho).add_(squared * (1 - rho))
                rms_delta, rms_grad = torch.sqrt(accumulated_delta + eps), torch.sqrt(accumulated_grad + eps)
                delta = -((rms_delta * g) / rms_grad)
                # an embedding's rows: Keras squares each row's delta before summing them
                delta_squared = squared * (rms_delta / rms_grad) ** 2 if self._has_rows(params) else delta * delta
                accumulated_delta.mul_(rho).add_(delta_squared * (1 - rho))
                torch.mul(delta, lr, out=flat["update"])
                torch._foreach_add_(params, flat["views"]["update"])


class KerasNadam(KerasOptimizer):
    """Keras' Nadam: Adam with Nesterov momentum under the momentum schedule `u_t = b1 * (1 - 0.5 * 0.96^t)`;
    the product of the `u_t` (`u_product`, one per group) is updated once per step before the updates:
    `m_hat = u_{t+1} m / (1 - u_product * u_{t+1}) + (1 - u_t) g / (1 - u_product)`, `v_hat = v / (1 - b2^t)`,
    `p -= m_hat lr / (sqrt(v_hat) + eps)`."""

    def __init__(
        self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **clipping
    ):
        defaults = dict(
            lr=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay, u_product=1.0
        )
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _init(state, p):
        if not state:
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.keras_groups():
            lr, b1, b2, eps, wd = (group[k] for k in ("lr", "beta_1", "beta_2", "epsilon", "weight_decay"))
            dtype = group["params"][0].dtype
            t = group["iterations"] + 1
            # Keras' `_backend_update_step`: beta_1 and 0.96 as Python numbers, in the first weight's dtype
            power = torch.pow(torch.tensor(0.96, dtype=dtype), torch.tensor(float(t), dtype=dtype))
            group["u_product"] = (torch.tensor(group["u_product"], dtype=dtype) * b1 * (1.0 - 0.5 * power)).item()
            hyper = torch.tensor([lr, b1, b2, 0.96], dtype=torch.float32)
            for params in self._buckets(group, self._init).values():
                g, flat = self._flat(params, ("m", "v"))
                m, v = flat["m"], flat["v"]
                if wd:
                    torch._foreach_sub_(params, torch._foreach_mul(params, wd * lr))
                lr_t, b1_t, b2_t, decay = hyper.to(params[0].dtype)
                local_step, next_step = (torch.tensor(float(s), dtype=params[0].dtype) for s in (t, t + 1))
                u_t = b1_t * (1.0 - 0.5 * torch.pow(decay, local_step))
                u_t_1 = b1_t * (1.0 - 0.5 * torch.pow(decay, next_step))
                u_product_t = torch.tensor(group["u_product"], dtype=params[0].dtype)
                u_product_t_1 = u_product_t * u_t_1
                m.add_((g - m) * (1 - b1_t))
                v.add_((self._squared(params, g) - v) * (1 - b2_t))
                m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - u_product_t)
                v_hat = v / (1 - torch.pow(b2_t, local_step))
                torch.div(m_hat * lr_t, torch.sqrt(v_hat) + eps, out=flat["update"])
                torch._foreach_sub_(params, flat["views"]["update"])


class KerasAdamax(KerasOptimizer):
    """Keras' Adamax: `m += (g - m)(1 - b1)`, `u = max(b2*u, |g|)`, `p -= lr*m / ((1 - b1^t) * (u + eps))`."""

    def __init__(
        self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **clipping
    ):
        defaults = dict(lr=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, weight_decay=weight_decay)
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _init(state, p):
        if not state:
            state["m"] = torch.zeros_like(p)
            state["u"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.keras_groups():
            lr, b1, b2, eps, wd = (group[k] for k in ("lr", "beta_1", "beta_2", "epsilon", "weight_decay"))
            hyper = torch.tensor([lr, b1], dtype=torch.float32)
            for params in self._buckets(group, self._init).values():
                g, flat = self._flat(params, ("m", "u"))
                m, u = flat["m"], flat["u"]
                if wd:
                    torch._foreach_sub_(params, torch._foreach_mul(params, wd * lr))
                lr_t, b1_t = hyper.to(params[0].dtype)
                b1_power = torch.pow(b1_t, torch.tensor(float(group["iterations"] + 1), dtype=params[0].dtype))
                m.add_((g - m) * (1 - b1))
                # an embedding's rows: Keras sums the rows' absolute values
                torch.maximum(u * b2, self._summed(params, g, torch.abs), out=u)
                torch.div(lr_t * m, (1 - b1_power) * (u + eps), out=flat["update"])
                torch._foreach_sub_(params, flat["views"]["update"])


class KerasLion(KerasOptimizer):
    """Keras' Lion: `p -= lr * sign(b1*m + (1-b1)g)`, then `m = b2*m + (1-b2)g`."""

    def __init__(self, params, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, **clipping):
        if not 0 < beta_1 <= 1:
            raise ValueError(f"Lion's beta_1 must be in (0, 1], got {beta_1}")
        defaults = dict(lr=learning_rate, beta_1=beta_1, beta_2=beta_2, weight_decay=weight_decay)
        super().__init__(params, defaults, **clipping)

    @staticmethod
    def _init(state, p):
        if not state:
            state["m"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.keras_groups():
            lr, wd = group["lr"], group["weight_decay"]
            hyper = torch.tensor([lr, group["beta_1"], group["beta_2"]], dtype=torch.float32)
            for params in self._buckets(group, self._init).values():
                g, flat = self._flat(params, ("m",))
                m = flat["m"]
                if wd:
                    torch._foreach_sub_(params, torch._foreach_mul(params, wd * lr))
                lr_t, b1_t, b2_t = hyper.to(params[0].dtype)
                torch.mul(lr_t, torch.sign(m * b1_t + g * (1.0 - b1_t)), out=flat["update"])
                torch._foreach_sub_(params, flat["views"]["update"])
                m.copy_(m * b2_t + g * (1.0 - b2_t))


def float32(value):
    """A float32 scalar, as Keras computes learning-rate schedules."""
    return torch.tensor(value, dtype=torch.float32)


class ExponentialDecay:
    """Keras' ExponentialDecay, in float32: `initial * decay_rate ** (step / decay_steps)`, the exponent floored
    with `staircase`."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial, self.steps, self.rate, self.staircase = initial_learning_rate, decay_steps, decay_rate, staircase

    def __call__(self, step):
        p = float32(step) / float32(self.steps)
        if self.staircase:
            p = torch.floor(p)
        return (float32(self.initial) * torch.pow(float32(self.rate), p)).item()


class PiecewiseConstantDecay:
    """Keras' PiecewiseConstantDecay: `values[0]` up to and including step `boundaries[0]`, `values[i]` up to
    `boundaries[i]`, the last value after the last boundary (a float boundary is truncated, as Keras compares it
    with the integer step)."""

    def __init__(self, boundaries, values):
        self.boundaries = [int(float32(b).item()) if isinstance(b, float) else b for b in boundaries]
        self.values = [float32(value).item() for value in values]

    def __call__(self, step):
        return self.values[sum(step > boundary for boundary in self.boundaries)]


class PolynomialDecay:
    """Keras' PolynomialDecay, in float32: `(initial - end) * (1 - step / decay_steps) ** power + end`, the step
    held at `decay_steps`; with `cycle`, `decay_steps` times `ceil(step / decay_steps)` instead."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
        self.initial, self.steps, self.end = initial_learning_rate, decay_steps, end_learning_rate
        self.power, self.cycle = power, cycle

    def __call__(self, step):
        s, steps = float32(step), float32(self.steps)
        if self.cycle:
            steps = steps * (float32(1.0) if step == 0 else torch.ceil(s / steps))
        else:
            s = torch.minimum(s, steps)
        decayed = torch.pow(1 - s / steps, float32(self.power))
        return ((float32(self.initial) - float32(self.end)) * decayed + float32(self.end)).item()


class InverseTimeDecay:
    """Keras' InverseTimeDecay, in float32: `initial / (1 + decay_rate * step / decay_steps)`, the quotient floored
    with `staircase`."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial, self.steps, self.rate, self.staircase = initial_learning_rate, decay_steps, decay_rate, staircase

    def __call__(self, step):
        p = float32(step) / float32(self.steps)
        if self.staircase:
            p = torch.floor(p)
        return (float32(self.initial) / (1 + float32(self.rate) * p)).item()


class CosineDecay:
    """Keras' CosineDecay, in float32: a linear warm-up from `initial` to `warmup_target` over `warmup_steps` when a
    target is given, then `start * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)`, held at the
    end."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
        self.initial, self.steps, self.alpha = initial_learning_rate, decay_steps, alpha
        self.target, self.warmup = warmup_target, warmup_steps

    def decayed(self, s, start):
        cosine = 0.5 * (1.0 + torch.cos(float32(math.pi) * (s / float32(self.steps))))
        return (start * ((1 - self.alpha) * cosine + self.alpha)).item()

    def __call__(self, step):
        initial, steps, s = float32(self.initial), float32(self.steps), float32(step)
        if self.target is None:
            return self.decayed(torch.minimum(s, steps), initial)
        target, warmup = float32(self.target), float32(self.warmup)
        s = torch.minimum(s, steps + warmup)
        if s < warmup:
            return ((target - initial) * (s / warmup) + initial).item()
        return self.decayed(s - warmup, target)


def in_top_k(output, ids, k):
    """TensorFlow's `in_top_k`, as Keras' top-k accuracies use it: 1.0 where the target's score is among the k
    highest of its row, ties counted in (fewer than k scores above it); 0.0 for a row with a non-finite score."""
    score = output.gather(-1, ids.long().unsqueeze(-1))
    above = (output > score).sum(dim=-1)
    return ((above < k) & torch.isfinite(output).all(dim=-1)).float()


def positives(output, target, threshold, top_k=None, class_id=None):
    """What Keras' Precision and Recall count, flattened: the outputs above the threshold (among the top_k of
    their row when given, ties to the lower index) and the non-zero targets; class_id keeps that column only."""
    predicted = output > threshold
    if top_k is not None:
        ranked = output.argsort(dim=-1, descending=True, stable=True)[..., :top_k]
        predicted = predicted & torch.zeros_like(predicted).scatter_(-1, ranked, True)
    actual = (target != 0).reshape(predicted.shape)
    if class_id is not None:
        predicted, actual = predicted[..., class_id], actual[..., class_id]
    return predicted.reshape(-1), actual.reshape(-1)


def precision_counts(output, target, threshold, top_k=None, class_id=None):
    """Keras' Precision on one batch as (true positives, predicted positives): their sums make the epoch's."""
    predicted, actual = positives(output, target, threshold, top_k, class_id)
    return (predicted & actual).sum(), predicted.sum()


def recall_counts(output, target, threshold, top_k=None, class_id=None):
    """Keras' Recall on one batch as (true positives, actual positives): their sums make the epoch's."""
    predicted, actual = positives(output, target, threshold, top_k, class_id)
    return (predicted & actual).sum(), actual.sum()
