"""Every honest agent's gradient at the server's w_t in a few stacked products, bit for bit.

For least squares grad Q_i(w) = 2 A_i^T (A_i w - B_i) (:meth:`netsim.costs.LeastSquares.gradient`
computes ``2.0 * A.T @ (A @ w - B)``). The costs of one shape (m, d) are stacked, (k, m, d), and
the same operations run on the stack: numpy computes a stacked ``matmul`` one matrix at a time
with the same kernel (BLAS ``gemv``) and the same operand layout as the single product (2 A^T
is kept with the layout ``2.0 * A.T`` has, each (d, m) slice column-major), so the bits agree;
this is the argument of :class:`netsim.costs.StackedProjection`, and the same guard applies
(:class:`netsim.costs.CheckedStack`): the first call is also computed agent by agent, and if any
bit differs (another numpy or BLAS) every later call is computed agent by agent. Costs that are
not ``LeastSquares`` always are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..costs import CheckedStack, Cost, LeastSquares, shape_groups


class StackedGradients(CheckedStack):
    """grad Q_i(w) for every cost of ``costs``, as one (len(costs), d) array."""

    def __init__(self, costs: Sequence[Cost], dim: int):
        self.costs = list(costs)
        self.dim = dim
        self.stacked = all(type(cost) is LeastSquares for cost in self.costs)
        self.groups: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        if not self.stacked:
            return
        for members in shape_groups(self.costs):
            A = np.stack([self.costs[i].A for i in members])  # (k, m, d), C order
            B = np.stack([self.costs[i].B for i in members])
            twice_transposed = (2.0 * A).transpose(0, 2, 1)  # slices laid out as 2.0 * A.T
            self.groups.append((np.array(members), A, B, twice_transposed))

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self._checked(lambda: self._stack(w), lambda: self._one_by_one(w))

    def _one_by_one(self, w: np.ndarray) -> np.ndarray:
        gradients = np.empty((len(self.costs), self.dim))
        for k, cost in enumerate(self.costs):
            gradients[k] = cost.gradient(w)
        return gradients

    def _stack(self, w: np.ndarray) -> np.ndarray:
        gradients = np.empty((len(self.costs), self.dim))
        for members, A, B, twice_transposed in self.groups:
            residual = A @ w - B  # (k, m)
            gradients[members] = (twice_transposed @ residual[:, :, None])[:, :, 0]
        return gradients
