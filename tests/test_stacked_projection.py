"""netsim.costs.StackedProjection: many points, each projected onto its own least-squares
minimum set at once, bit for bit LeastSquares.project of each point alone (any shapes mixed,
any scales), and a fallback to one by one if a first call ever disagrees."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.costs import LeastSquares, StackedProjection


def one_by_one(costs, points, owners) -> np.ndarray:
    return np.array([costs[o].project(points[u].copy()) for u, o in enumerate(owners)])


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint64)


@given(
    seed=st.integers(0, 2**31),
    count=st.integers(1, 12),
    d=st.integers(1, 40),
    shapes=st.lists(st.integers(1, 8), min_size=1, max_size=3),
    batch=st.integers(1, 20),
)
@settings(max_examples=150, deadline=None)
def test_a_stacked_projection_equals_each_cost_alone(seed, count, d, shapes, batch):
    rng = np.random.default_rng(seed)
    costs = []
    for i in range(count):
        m = shapes[i % len(shapes)]
        scale = 10.0 ** rng.integers(-4, 5)
        costs.append(LeastSquares(rng.normal(size=(m, d)) * scale, rng.normal(size=m)))
    owners = rng.integers(0, count, size=batch)
    points = rng.normal(size=(batch, d)) * 10.0 ** rng.integers(-3, 8)
    projection = StackedProjection(costs)
    expected = one_by_one(costs, points, owners)
    for _ in range(2):  # the checked first call and an unchecked one
        assert np.array_equal(bits(projection(points, owners)), bits(expected))
    assert projection.stacked  # it never had to fall back


def test_projected_points_lie_in_each_argmin_set():
    """A^T (A z - B) = 0 at the projection (the normal equations of least squares)."""
    rng = np.random.default_rng(1)
    costs = [LeastSquares(rng.normal(size=(2, 5)), rng.normal(size=2)) for _ in range(4)]
    points = rng.normal(size=(4, 5))
    projected = StackedProjection(costs)(points, np.arange(4))
    for cost, z in zip(costs, projected):
        assert np.allclose(cost.A.T @ (cost.A @ z - cost.B), 0.0, atol=1e-10)


def test_a_first_call_that_disagrees_switches_to_one_by_one(monkeypatch):
    rng = np.random.default_rng(2)
    costs = [LeastSquares(rng.normal(size=(2, 3)), rng.normal(size=2)) for _ in range(3)]
    projection = StackedProjection(costs)
    monkeypatch.setattr(projection, "_stacked", lambda points, owners: points + 1.0)
    points, owners = rng.normal(size=(3, 3)), np.array([2, 0, 1])
    assert np.array_equal(projection(points, owners), one_by_one(costs, points, owners))
    assert not projection.stacked
    assert np.array_equal(projection(points, owners), one_by_one(costs, points, owners))
