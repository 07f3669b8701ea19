"""Training samples/s: the programs `dlc train` generates against idiomatic hand-written training, for
PyTorch (a hand-written loop) and Keras (`model.fit`), side by side in this process.

Same model, data (scikit-learn's digits, the same train split size), batch size and optimizer settings. Each
run trains EPOCHS epochs; the first is warm-up (tracing, allocation), and an epoch's rate counts the training
steps only (not validation or checkpoints), read from the generated program's history.json for ours and
timed the same way for the hand-written ones (a Keras callback around each `fit` epoch). Best of ROUNDS
alternating rounds.

The hand-written PyTorch loop is what a careful person writes: a DataLoader over tensors, `.item()` for the
running loss and accuracy each step, torch.optim.Adam, and torch's fused nn.LSTM. The hand-written Keras
model is the same layers in `keras.Sequential`, compiled with Adam and the loss, trained by `fit` (shuffle on,
no XLA: measured ~4x slower on this CPU). Goal: each generated program >= 0.95x its hand-written twin.
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


def hand_written_rates(model, x, y, batch_size: int, learning_rate: float, epochs: int = EPOCHS) -> list[float]:
    """Samples/s of each epoch of an idiomatic loop, the first (warm-up) included."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, eps=1e-7)
    rates = []
    for _ in range(epochs):
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
    return rates


def generated_rates(example: str, out: Path, backend: str = "pytorch") -> list[float]:
    from backends.program.loader import train
    from compiler.frontend import load_model

    graph = load_model(REPO / "examples" / example)
    train(graph, backend, out, epochs=EPOCHS, seed=0)
    timing = json.loads((out / "history.json").read_text())["timing"]
    return [epoch["train_samples"] / epoch["train_seconds"] for epoch in timing[1:]]


def keras_hand_convnet():
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )


def keras_hand_lstm():
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((None, 8)),
            layers.Rescaling(1 / 16),
            layers.LSTM(32, kernel_regularizer=keras.regularizers.l1(1e-5)),
            layers.Dense(10, activation="softmax"),
        ]
    )


def fit_rates(model, x, y, loss: str, batch_size: int, learning_rate: float) -> list[float]:
    """Samples/s of each `fit` epoch (epoch 1 dropped as warm-up)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            rates.append(len(x) / (time.perf_counter() - self.started))

    rates: list[float] = []
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    model.fit(x, y, batch_size=batch_size, epochs=EPOCHS, shuffle=True, verbose=0, callbacks=[EpochTimer()])
    return rates[1:]


CASES = [
    # name, example, hand-written torch model, hand-written Keras model, Keras loss, rows input, batch, rate
    ("digits convnet", "digits_convnet.dl", hand_convnet, keras_hand_convnet, "categorical", False, 128, 0.001),
    ("LSTM", "digits_lstm.dl", hand_lstm, keras_hand_lstm, "sparse", True, 32, 0.003),
]
KERAS_LOSSES = {"categorical": "categorical_crossentropy", "sparse": "sparse_categorical_crossentropy"}


def main() -> None:
    import contextlib
    import io
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import torch

    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads; keras {keras.__version__}")
    print(f"  {EPOCHS} epochs per run, first dropped; best of {ROUNDS} alternating rounds; samples/s")
    heading = f"{'torch loop':>11} {'dlc torch':>11} {'ratio':>6}   {'keras fit':>11} {'dlc keras':>11} {'ratio':>6}"
    print(f"  {'model':<15} {heading}")
    with tempfile.TemporaryDirectory(prefix="dlc-bench-") as tmp:
        for name, example, build, keras_build, labels, rows, batch_size, learning_rate in CASES:
            x, y = digits(rows)
            keras_x = x if rows else x.transpose(0, 2, 3, 1)  # Keras is channels-last, as the spec
            keras_y = np.eye(10, dtype=np.float32)[y] if labels == "categorical" else y
            rates = {"hand": [], "ours": [], "fit": [], "keras": []}
            for round_index in range(ROUNDS):
                out = Path(tmp) / f"{name}{round_index}"
                hand = hand_written_rates(build(), x, y, batch_size, learning_rate)[1:]  # epoch 1 is warm-up
                rates["hand"].append(statistics.median(hand))
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    rates["ours"].append(statistics.median(generated_rates(example, out / "torch")))
                    fit = fit_rates(keras_build(), keras_x, keras_y, KERAS_LOSSES[labels], batch_size, learning_rate)
                    rates["fit"].append(statistics.median(fit))
                    rates["keras"].append(statistics.median(generated_rates(example, out / "keras", "keras")))
            best = {key: max(values) for key, values in rates.items()}
            torch_ratio, keras_ratio = best["ours"] / best["hand"], best["keras"] / best["fit"]
            print(
                f"  {name:<15} {best['hand']:>11,.0f} {best['ours']:>11,.0f} {torch_ratio:>5.2f}x"
                f"   {best['fit']:>11,.0f} {best['keras']:>11,.0f} {keras_ratio:>5.2f}x"
            )
            goal(
                f"{name}: dlc PyTorch / hand-written >= {GOAL_RATIO}x", torch_ratio >= GOAL_RATIO, f"{torch_ratio:.2f}x"
            )
            goal(f"{name}: dlc Keras / model.fit >= {GOAL_RATIO}x", keras_ratio >= GOAL_RATIO, f"{keras_ratio:.2f}x")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
