"""Every backend covers the whole registry: each op, activation, loss, metric and optimizer the language
accepts has an entry in each backend's table (and no table lowers what the language does not know); every
initializer is drawn by the one NumPy sampler all backends share."""

from __future__ import annotations

import numpy as np
import pytest

from backends import BACKENDS, PROGRAM_TARGETS, tables
from backends.spine import Lowering, LoweringTable
from compiler.argkinds import ACTIVATIONS, INITIALIZERS
from compiler.ops import REGISTRY
from compiler.training import LOSSES, METRIC_KINDS, METRICS, OPTIMIZERS, label_kind, metric_kind
from compiler.training_types import Configured
from compiler.weights import sample

VOCABULARIES = {
    "ops": set(REGISTRY),
    "activations": set(ACTIVATIONS),
    "losses": set(LOSSES),
    "optimizers": set(OPTIMIZERS),
    "metrics": set(METRICS),
    "metric_kinds": set(METRIC_KINDS),
}


def required(backend: str) -> set[str]:
    needed = {"ops", "activations"}
    if backend in PROGRAM_TARGETS:
        needed |= {"losses", "optimizers"}
    return needed


def coverage_problems(backend: str, found: dict) -> list[str]:
    """What `backend`'s tables lack or add, one line per table."""
    problems = [f"{backend} has no {vocabulary} table" for vocabulary in sorted(required(backend) - set(found))]
    if backend in PROGRAM_TARGETS and not {"metrics", "metric_kinds"} & set(found):
        problems.append(f"{backend} has no metrics table")
    for vocabulary, table in found.items():
        missing = sorted(VOCABULARIES[vocabulary] - set(table))
        unknown = sorted(set(table) - VOCABULARIES[vocabulary])
        if missing:
            problems.append(f"{backend} {vocabulary}: no entry for {', '.join(missing)}")
        if unknown:
            problems.append(f"{backend} {vocabulary}: entries the language does not know: {', '.join(unknown)}")
    return problems


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_tables_cover_the_registry(backend):
    problems = coverage_problems(backend, tables(backend))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("backend", BACKENDS)
def test_op_tables_have_one_shape(backend):
    ops = tables(backend)["ops"]
    assert isinstance(ops, LoweringTable) and ops.backend == backend
    assert all(isinstance(entry, Lowering) and callable(entry.lower) for entry in ops.values())
    assert {entry.wants for entry in ops.values()} <= {"last", "first", None}


def test_every_metric_name_resolves_to_a_kind():
    for metric in METRICS:
        for loss in (None, *LOSSES):
            labels = label_kind(None if loss is None else Configured(loss, {}))
            for units in (1, 3):
                assert metric_kind(metric, units, labels) in METRIC_KINDS


@pytest.mark.parametrize("initializer", INITIALIZERS)
def test_every_initializer_is_drawn_by_the_shared_sampler(initializer):
    values = sample(initializer, (4, 3), np.random.default_rng(0))
    assert values.shape == (4, 3) and values.dtype == np.float32


def test_what_a_backend_lacks_is_named():
    found = dict(tables("keras"))
    found["ops"] = {op: entry for op, entry in found["ops"].items() if op != "GRU"}
    found["losses"] = {**found["losses"], "hinge": "keras.losses.Hinge"}
    del found["optimizers"]
    assert coverage_problems("keras", found) == [
        "keras has no optimizers table",
        "keras ops: no entry for GRU",
        "keras losses: entries the language does not know: hinge",
    ]
