"""Every honest agent's gradient at the server's w_t in a few stacked products, bit for bit.

For least squares grad Q_i(w) = 2 A_i^T (A_i w - B_i) (:meth:`netsim.costs.LeastSquares.gradient`,
with the fixed-order products of :mod:`netsim.portable`). The costs of one shape (m, d) are
stacked, (k, m, d), and the same element-wise operations and fixed-order sums run on the stack,
so the bits agree with each cost alone; this is the argument of
:class:`netsim.costs.StackedProjection`, and the same guard applies
(:class:`netsim.costs.CheckedStack`): on the first call a few rows are also computed agent by
agent, and if any bit differs every later call is computed agent by agent. Costs that are not
``LeastSquares`` always are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..costs import CheckedStack, Cost, LeastSquares, shape_groups
from ..portable import matvec, rmatvec


class StackedGradients(CheckedStack):
    """grad Q_i(w) for every cost of ``costs``, as one (len(costs), d) array."""

    def __init__(self, costs: Sequence[Cost], dim: int):
        self.costs = list(costs)
        self.dim = dim
        self.stacked = all(type(cost) is LeastSquares for cost in self.costs)
        self.groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if not self.stacked:
            return
        for members in shape_groups(self.costs):
            A = np.stack([self.costs[i].A for i in members])  # (k, m, d), C order
            B = np.stack([self.costs[i].B for i in members])
            self.groups.append((np.array(members), A, B))

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self._checked(lambda: self._stack(w), lambda rows: self._one_by_one(w, rows))

    def _one_by_one(self, w: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Rows ``rows`` (None: all) of the gradients, each cost alone."""
        rows = np.arange(len(self.costs)) if rows is None else rows
        gradients = np.empty((len(rows), self.dim))
        for k, i in enumerate(rows.tolist()):
            gradients[k] = self.costs[i].gradient(w)
        return gradients

    def _stack(self, w: np.ndarray) -> np.ndarray:
        gradients = np.empty((len(self.costs), self.dim))
        for members, A, B in self.groups:
            gradients[members] = 2.0 * rmatvec(A, matvec(A, w) - B)
        return gradients
