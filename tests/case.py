"""One op case of the catalogue (tests/catalogue.py): a tiny `.dl` model built around one registry op."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One case: `op` is the registry op it is about (it must appear in the model)."""

    id: str
    op: str
    inputs: str  # `input` declarations, one per line
    layers: str
    length: int = 5  # the size of a `?` dimension
    loss: str = "mse"
    scale: float = 1.0  # input scale, to reach ReLU's max_value and the like
    lengths: tuple[int, ...] = ()  # sizes of a `?` dimension to run at, when not only `length`
    weight_scale: float = 1.0  # of the random normal weights: unbounded recurrences need smaller ones
    rtol: float = 0.0  # relative tolerance against the reference, beside 1e-5 absolute (the contract's is 1e-5)
    trains: bool = False  # the op's training model: weights on both sides of it, for `dlc verify --steps 5`

    def text(self, optimizer: str = "SGD()") -> str:
        return (
            f"model Case {{\n{self.inputs}\n  layers {{\n{self.layers}\n  }}\n"
            f"  loss {self.loss}\n  optimizer {optimizer}\n}}\n"
        )

    @property
    def run_lengths(self) -> tuple[int, ...]:
        return self.lengths or (self.length,)


VEC = "  input x: f32[6]"
SEQ = "  input x: f32[5, 3]"
IMG = "  input x: f32[6, 6, 2]"
