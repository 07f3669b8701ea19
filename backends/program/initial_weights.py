"""The seeded initial weights in a generated program: `initial_weights(seed)` and only the drawing functions of
the initializers its model uses, copied from compiler/weights.py so that every program draws what `dlc` draws.

The program's WEIGHTS table ends each row with the weight's canonical shape and its initializer: a name
(`he_normal`) or a call's text (`RandomNormal(mean=0.0, stddev=0.02)`), each a key of the program's SAMPLERS,
which holds the drawing function and the settings `compiler.weights.sampler` gives it.
"""

from __future__ import annotations

import inspect

from compiler import weights
from compiler.codegen import Writer, literal
from compiler.ir import Graph


def used_initializers(graph: Graph) -> list[str]:
    return sorted({param.initializer for _, param in graph.params})


def emit_initial_weights(w: Writer, graph: Graph) -> None:
    initializers = used_initializers(graph)
    samplers = {name: weights.sampler(name) for name in initializers}
    draws = sorted({draw.__name__ for draw, _ in samplers.values()})
    needs = [need for draw in draws for need in weights.SAMPLER_NEEDS.get(draw, ())]
    forget = [f"{node.name}.{param.name}" for node, param in graph.params if param.unit_forget_bias]
    for constant in sorted({n for n in needs if n.isupper()}):
        w.line(f"{constant} = {literal(getattr(weights, constant))}")
    if forget:
        w.line(f"FORGET_BIASES = {literal(forget)}  # LSTM biases whose forget block starts at one")
    functions = [*sorted({n for n in needs if not n.isupper()}), *draws]
    for name in functions:
        w.line()
        w.line()
        w.lines_of(inspect.getsource(getattr(weights, name)))
    w.line()
    w.line()
    with w.block("def sample(initializer, shape, rng):"):
        w.line('"""One float32 tensor of an initializer of SAMPLERS, as `dlc` draws it."""')
        w.line("draw, settings = SAMPLERS[initializer]")
        w.line("return draw(tuple(shape), rng, *settings).astype(np.float32)")
    if forget:
        w.line()
        w.line()
        w.lines_of(inspect.getsource(weights.forget_bias))
    w.line()
    w.line()
    w.line("# initializer -> the function that draws it, and its settings")
    w.line("SAMPLERS = {")
    for name, (draw, settings) in samplers.items():
        w.line(f"    {literal(str(name))}: ({draw.__name__}, {literal(settings)}),")
    w.line("}")
    w.line()
    w.line()
    with w.block("def initial_weights(seed):"):
        w.line(
            '"""Initial canonical weights from the seed, drawn exactly as `dlc` draws them (Keras\' distributions)."""'
        )
        w.line("tensors = {}")
        with w.block("for key, *_, shape, initializer in WEIGHTS:"):
            w.line('rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])')
            draw = "sample(initializer, shape, rng)"
            if forget:
                draw = f"forget_bias(initializer, shape, rng) if key in FORGET_BIASES else {draw}"
            w.line(f"tensors[key] = {draw}")
        w.line("return tensors")
