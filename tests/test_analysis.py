"""Reading quantities off a run's columns."""

from __future__ import annotations

import numpy as np
import pytest

from netsim import time_to_accuracy


def columns(rows):
    variant, round_, time, agent, distance = zip(*rows)
    return {
        "variant": np.array(variant, dtype=object),
        "round": np.array(round_),
        "time": np.array(time),
        "agent": np.array(agent, dtype=object),
        "distance": np.array(distance),
    }


def test_time_to_accuracy_waits_for_the_worst_agent_and_the_last_completion():
    # Round 1: agent 1 is within 0.1 but agent 2 is not; round 2: both are, the last one
    # completing at 2.5 s -> (2, 2.5). Below 0.01 never happens -> None.
    metrics = columns(
        [
            ("a", 0, 0.0, "1", 1.0),
            ("a", 0, 0.0, "2", 1.0),
            ("a", 1, 1.0, "1", 0.05),
            ("a", 1, 1.2, "2", 0.5),
            ("a", 2, 2.0, "1", 0.02),
            ("a", 2, 2.5, "2", 0.09),
        ]
    )
    assert time_to_accuracy(metrics, 0.1) == (2, 2.5)
    assert time_to_accuracy(metrics, 1.0) == (0, 0.0)
    assert time_to_accuracy(metrics, 0.01) is None


def test_time_to_accuracy_needs_a_variant_when_there_are_several():
    metrics = columns([("a", 0, 0.0, "1", 1.0), ("b", 0, 0.0, "1", 0.0)])
    assert time_to_accuracy(metrics, 0.5, variant="b") == (0, 0.0)
    with pytest.raises(ValueError):
        time_to_accuracy(metrics, 0.5)


def test_settled_time_to_accuracy_ignores_a_passing_visit():
    # Within 0.1 at round 1, out again at round 2, within from round 3 on -> settled at 3.
    metrics = columns(
        [
            ("a", 0, 0.0, "1", 1.0),
            ("a", 1, 1.0, "1", 0.05),
            ("a", 2, 2.0, "1", 0.5),
            ("a", 3, 3.0, "1", 0.09),
            ("a", 4, 4.0, "1", 0.01),
        ]
    )
    assert time_to_accuracy(metrics, 0.1) == (1, 1.0)
    assert time_to_accuracy(metrics, 0.1, settle=True) == (3, 3.0)
    assert time_to_accuracy(metrics, 0.001, settle=True) is None
