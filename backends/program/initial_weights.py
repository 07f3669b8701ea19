"""The seeded initial weights in a generated program: `initial_weights(seed)` and only the drawing functions of
the initializers its model uses, copied from compiler/weights.py so that every program draws what `dlc` draws.

The program's WEIGHTS table ends each row with the weight's canonical shape and its initializer.
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
    draws = sorted({weights.SAMPLERS[name][0].__name__ for name in initializers})
    needs = [need for draw in draws for need in weights.SAMPLER_NEEDS.get(draw, ())]
    forget = [f"{node.name}.{param.name}" for node, param in graph.params if param.unit_forget_bias]
    for constant in sorted({n for n in needs if n.isupper()}):
        w.line(f"{constant} = {literal(getattr(weights, constant))}")
    if forget:
        w.line(f"FORGET_BIASES = {literal(forget)}  # LSTM biases whose forget block starts at one")
    functions = [*sorted({n for n in needs if not n.isupper()}), *draws, "sample", *(["forget_bias"] if forget else [])]
    for name in functions:
        w.line()
        w.line()
        w.lines_of(inspect.getsource(getattr(weights, name)))
    w.line()
    w.line()
    w.line("# initializer -> the function that draws it, and its settings")
    w.line("SAMPLERS = {")
    for name in initializers:
        draw, settings = weights.SAMPLERS[name]
        w.line(f"    {literal(name)}: ({draw.__name__}, {literal(settings)}),")
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
