"""Training samples/s: the program `dlc train` generates against an idiomatic hand-written PyTorch loop.

Same model, data (scikit-learn's digits, the same train split size), batch size and optimizer settings, side
by side in this process. Each loop trains EPOCHS epochs; the first is warm-up, and an epoch's rate counts the
training steps only (not validation or checkpoints), read from the generated program's history.json for
ours and timed the same way for the hand-written loop. Best of ROUNDS alternating rounds.

The hand-written loop is what a careful person writes: a DataLoader over tensors, `.item()` for the running
loss and accuracy each step, torch.optim.Adam, and torch's fused nn.LSTM. Goal: ours >= 0.95x.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _harness import REPO, goal

EPOCHS = 6
ROUNDS = 2
GOAL_RATIO = 0.95


def digits(rows: bool):
    """Digits as the generated programs see them: 0..16 pixels, 80% train then 90% of that for fitting."""
    import numpy as np
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.astype(np.float32)
    x = x.reshape(-1, 8, 8) if rows else x.reshape(-1, 1, 8, 8)
    fit = int(len(x) * 0.8 * 0.9)
    return x[:fit], data.target[:fit].astype(np.int64)


def hand_convnet():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(64 * 2 * 2, 10),
    )


def hand_lstm():
    from torch import nn

    class SequenceClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 32, batch_first=True)
            self.head = nn.Linear(32, 10)

        def forward(self, rows):
            _, (hidden, _) = self.lstm(rows / 16)
            return self.head(hidden[-1])

        def penalty(self):  # the example's kernel_regularizer=l1(1e-5)
            return 1e-5 * self.lstm.weight_ih_l0.abs().sum()

    return SequenceClassifier()


def hand_written_rates(model, x, y, batch_size: int, learning_rate: float) -> list[float]:
    """Samples/s of each epoch of an idiomatic loop (epoch 1 dropped as warm-up)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, eps=1e-7)
    rates = []
    for _ in range(EPOCHS):
        model.train()
        started, seen, running_loss, correct = time.perf_counter(), 0, 0.0, 0
        for inputs, target in loader:
            output = model(inputs)
            loss = F.cross_entropy(output, target)
            if hasattr(model, "penalty"):
                loss = loss + model.penalty()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * len(target)
            correct += (output.argmax(1) == target).sum().item()
            seen += len(target)
        rates.append(seen / (time.perf_counter() - started))
    return rates[1:]


def generated_rates(example: str, out: Path) -> list[float]:
    from backends.pytorch.train import train
    from compiler.frontend import load_model

    graph = load_model(REPO / "examples" / example)
    train(graph, out, epochs=EPOCHS, seed=0)
    timing = json.loads((out / "history.json").read_text())["timing"]
    return [epoch["train_samples"] / epoch["train_seconds"] for epoch in timing[1:]]


CASES = [
    # name, example, hand-written model, rows input, batch size, learning rate
    ("digits convnet", "digits_convnet.dl", hand_convnet, False, 128, 0.001),
    ("LSTM", "digits_lstm.dl", hand_lstm, True, 32, 0.003),
]


def main() -> None:
    import contextlib
    import io

    import torch

    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads; {EPOCHS} epochs, first dropped")
    print(f"  {'model':<16} {'hand-written':>14} {'generated':>14} {'ratio':>7}")
    with tempfile.TemporaryDirectory(prefix="dlc-bench-") as tmp:
        for name, example, build, rows, batch_size, learning_rate in CASES:
            x, y = digits(rows)
            hand, ours = [], []
            for round_index in range(ROUNDS):
                hand.append(statistics.median(hand_written_rates(build(), x, y, batch_size, learning_rate)))
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    ours.append(statistics.median(generated_rates(example, Path(tmp) / f"{name}{round_index}")))
            ratio = max(ours) / max(hand)
            print(f"  {name:<16} {max(hand):>10,.0f} s/s {max(ours):>10,.0f} s/s {ratio:>6.2f}x")
            goal(f"{name}: generated / hand-written >= {GOAL_RATIO}x", ratio >= GOAL_RATIO, f"{ratio:.2f}x")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
