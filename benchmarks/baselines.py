"""Two plain-numpy baselines for the engine benchmark (benchmarks/engines.py), same scenario:
n agents, agent 0 Byzantine, f = 1, exponential link delays of mean 10 ms drawn per message,
least-squares costs with A_i of shape (2, d) (``np.random.default_rng(0)``, B_i = A_i @ ones(d)),
the Byzantine agent sends uniform(-10, 10) values, a different one to each receiver.

``vectorized_rounds``: no simulator, one generator ``np.random.default_rng(1)``, each round as
array operations. CE: max-plus completion times from an (n, n) delay draw, then every honest
receiver's distances to all senders from exact differences x_s - x_u, the f farthest dropped
with ``np.argpartition``, z_u = x_u + sum_kept (x_s - x_u) / (n - 1) and the projection
x_u = z_u - pinv_u (A_u z_u - B_u). The differences go through row blocks of ``BLOCK``
receivers, (BLOCK, n, d) at a time: at n = 1000, d = 10 a round takes about 37 ms with blocks of
16 to 64 rows against 47 ms with one (n, n, d) array of 80 MB, and the memory stays
O(n * n + n * d) (the (n, n) delays; a block is 2.6 MB). CGC (synchronous server): per round
the delays to and from each agent, the gradients 2 A_i^T (A_i w - B_i), agent 0's replaced by
uniform(-10, 10, d), the f largest norms clipped to the (f + 1)-th largest (``np.partition``),
w -= eta * sum.

``event_per_agent``: one SimPy event per agent per round, numpy maths, one generator. A
``simpy.Environment`` with one process per agent (in CE agent 0's only keeps its round times for
the max-plus timing; in CGC it draws the Byzantine gradient); each round an agent waits one
``env.timeout`` until its completion time, then computes its own update with numpy (CE: the same
row maths as above, in 2-D on its (n, d) received row; CGC: its gradient). A coordinator (CE) or
the server (CGC) starts each round with a shared event and waits for the agents' timeouts with
``env.all_of``; agents read the previous round's estimates and CE agents write into a next-round
array, copied back when the round ends. The coordinator/server draws each round's delays in one
call, in the same order and layout as ``vectorized_rounds`` (delays [sender, receiver], then
the Byzantine values [receiver]; CGC: there, back, then agent 0's gradient): agent u's n - 1
incoming delays are column u, so the draw order is fixed and both baselines follow the same
trajectory.

    python benchmarks/baselines.py     # convergence checks at n = 30, d = 10, then timings
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from types import SimpleNamespace

import numpy as np
import simpy

F = 1  # Byzantine agents tolerated (agent 0 is the Byzantine one)
DELAY_MEAN = 0.01  # seconds, exponential per message
ETA = 0.001  # CGC step size
BLOCK = 32  # CE receivers per block in vectorized_rounds (16 to 64 time alike at n = 1000)

Process = Generator[simpy.Event, object, None]


def nothing() -> None:
    """The default ``on_round``."""


def costs(n: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (n, 2, d), B (n, 2) with B_i = A_i @ ones(d), and pinv(A_i) (n, d, 2)."""
    gen = np.random.default_rng(0)
    A = np.stack([gen.normal(size=(2, d)) for _ in range(n)])
    return A, A @ np.ones(d), np.linalg.pinv(A)


def project(z: np.ndarray, A: np.ndarray, B: np.ndarray, pinv: np.ndarray) -> np.ndarray:
    """Rows z_u projected onto {x : A_u x = B_u}: z_u - pinv_u (A_u z_u - B_u)."""
    return z - np.einsum("uij,uj->ui", pinv, np.einsum("uij,uj->ui", A, z) - B)


def ce_rows(
    x: np.ndarray, byz: np.ndarray, lo: int, hi: int, A: np.ndarray, B: np.ndarray, pinv: np.ndarray
) -> np.ndarray:
    """The CE update of receivers lo..hi-1 (all honest) from the estimates x (n, d); byz holds
    the values the Byzantine agent 0 sent to each of them (hi - lo, d)."""
    n = len(x)
    own = x[lo:hi]
    diff = x[None, :, :] - own[:, None, :]  # [receiver, sender]: x_s - x_u, exact
    diff[:, 0] = byz - own
    dist = np.einsum("usk,usk->us", diff, diff)  # squared: the same order as the distance
    dist[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf  # never drop yourself
    far = np.argpartition(dist, n - F, axis=1)[:, n - F :]  # the F farthest senders
    dropped = np.take_along_axis(diff, far[:, :, None], axis=1).sum(axis=1)
    z = own + (np.ones(n) @ diff - dropped) / (n - 1)  # ones @ diff: a faster sum over senders
    return project(z, A[lo:hi], B[lo:hi], pinv[lo:hi])


def ce_row(
    x: np.ndarray, byz: np.ndarray, u: int, A: np.ndarray, B: np.ndarray, pinv: np.ndarray
) -> np.ndarray:
    """``ce_rows`` for one receiver u on its (n, d) received row, in 2-D (about 55 µs at
    n = 1000, d = 10, against 90 µs for a block of one row)."""
    n = len(x)
    diff = x - x[u]
    diff[0] = byz - x[u]
    dist = np.einsum("sk,sk->s", diff, diff)
    dist[u] = -np.inf
    far = np.argpartition(dist, n - F)[n - F :]
    z = x[u] + (np.ones(n) @ diff - diff[far].sum(axis=0)) / (n - 1)
    return z - pinv[u] @ (A[u] @ z - B[u])


def clipped_sum(gradients: np.ndarray) -> np.ndarray:
    """CGC: the F largest norms clipped down to the (F + 1)-th largest, then summed."""
    norms = np.linalg.norm(gradients, axis=1)
    kth = len(norms) - F - 1
    threshold = np.partition(norms, kth)[kth]
    scale = np.divide(threshold, norms, out=np.ones_like(norms), where=norms > threshold)
    return scale @ gradients


def vectorized_rounds(
    protocol: str, n: int, d: int, rounds: int, on_round: Callable[[], None] = nothing
) -> np.ndarray:
    """The rounds as array operations, no simulator (module docstring). CE: the final
    estimates (n, d) (row 0, the Byzantine agent's, is its initial one); CGC: w (d,).
    ``on_round`` is called when each round ends (the benchmark's clock)."""
    rng = np.random.default_rng(1)
    A, B, pinv = costs(n, d)
    if protocol == "ce":
        x = np.einsum("uij,uj->ui", pinv, B)
        start = np.zeros(n)
        for _ in range(rounds):
            arrival = rng.exponential(DELAY_MEAN, (n, n))  # [sender, receiver]
            arrival += start[:, None]
            np.fill_diagonal(arrival, -np.inf)
            start = np.maximum(start, arrival.max(axis=0))  # each agent's round completion
            byz = rng.uniform(-10, 10, (n, d))  # [receiver]: a value per receiver
            new = x.copy()
            for lo in range(1, n, BLOCK):
                hi = min(lo + BLOCK, n)
                new[lo:hi] = ce_rows(x, byz[lo:hi], lo, hi, A, B, pinv)
            x = new
            on_round()
        return x
    w = np.zeros(d)
    clock = 0.0
    for _ in range(rounds):
        there = clock + rng.exponential(DELAY_MEAN, n)
        clock = (there + rng.exponential(DELAY_MEAN, n)).max()
        gradients = 2.0 * np.einsum("uij,ui->uj", A, A @ w - B)
        gradients[0] = rng.uniform(-10, 10, d)
        w -= ETA * clipped_sum(gradients)
        on_round()
    return w


def start_round(env: simpy.Environment, go: list[simpy.Event], pending: list) -> Process:
    """Trigger the event the agents wait on, let them schedule their timeouts, wait for all."""
    pending.clear()
    event, go[0] = go[0], env.event()
    event.succeed()
    yield event  # resumes after the agents, which started waiting on it before
    yield env.all_of(list(pending))


def event_per_agent(
    protocol: str, n: int, d: int, rounds: int, on_round: Callable[[], None] = nothing
) -> np.ndarray:
    """One SimPy event per agent per round, numpy maths, one generator (module docstring).
    Returns what ``vectorized_rounds`` returns; ``on_round`` as there."""
    rng = np.random.default_rng(1)
    A, B, pinv = costs(n, d)
    env = simpy.Environment()
    go = [env.event()]  # the next round's start
    pending: list[simpy.Event] = []  # this round's timeouts
    now = SimpleNamespace(delay=None, byz=None, back=None)  # this round's draws
    if protocol == "ce":
        x = np.einsum("uij,uj->ui", pinv, B)
        new = x.copy()
        start, finish = np.zeros(n), np.zeros(n)

        def agent(u: int) -> Process:
            others = np.arange(n) != u
            for _ in range(rounds):
                yield go[0]
                done = max(start[u], (start[others] + now.delay[others, u]).max())
                timeout = env.timeout(max(done - env.now, 0.0))
                pending.append(timeout)
                yield timeout
                finish[u] = done
                if u != 0:
                    new[u] = ce_row(x, now.byz[u], u, A, B, pinv)

        def coordinator() -> Process:
            for _ in range(rounds):
                now.delay = rng.exponential(DELAY_MEAN, (n, n))  # [sender, receiver]
                now.byz = rng.uniform(-10, 10, (n, d))
                yield from start_round(env, go, pending)
                x[1:] = new[1:]
                start[:] = finish
                on_round()

        for u in range(n):
            env.process(agent(u))
        env.process(coordinator())
        env.run()
        return x

    w = np.zeros(d)
    gradients = np.empty((n, d))

    def worker(i: int) -> Process:
        for _ in range(rounds):
            yield go[0]
            timeout = env.timeout(max(now.back[i] - env.now, 0.0))  # down- and uplink
            pending.append(timeout)
            yield timeout
            if i == 0:
                gradients[0] = rng.uniform(-10, 10, d)
            else:
                gradients[i] = 2.0 * A[i].T @ (A[i] @ w - B[i])

    def server() -> Process:
        clock = 0.0
        for _ in range(rounds):
            there = clock + rng.exponential(DELAY_MEAN, n)
            now.back = there + rng.exponential(DELAY_MEAN, n)
            clock = now.back.max()
            yield from start_round(env, go, pending)
            w[:] -= ETA * clipped_sum(gradients)
            on_round()

    for i in range(n):
        env.process(worker(i))
    env.process(server())
    env.run()
    return w


def distance(protocol: str, estimates: np.ndarray) -> float:
    """The largest distance of an honest estimate (CE) or of w (CGC) to x* = ones(d)."""
    honest = estimates[1:] if protocol == "ce" else estimates[None, :]
    return float(np.linalg.norm(honest - 1.0, axis=1).max())


def check(protocol: str, n: int, d: int, checkpoints: tuple[int, ...]) -> None:
    """Both baselines' distance to x* after each number of rounds; it must decrease, and the
    two must agree (same draws, same maths up to rounding)."""
    print(f"{protocol} n={n} d={d}: rounds, vectorized, event_per_agent, max |difference|")
    last = np.inf
    for rounds in checkpoints:
        a = vectorized_rounds(protocol, n, d, rounds)
        b = event_per_agent(protocol, n, d, rounds)
        gap = float(np.abs(a - b).max())
        print(f"  {rounds:5d}  {distance(protocol, a):.3e}  {distance(protocol, b):.3e}  {gap:.1e}")
        assert distance(protocol, a) < last and gap < 1e-9
        last = distance(protocol, a)


def timings(d: int = 10) -> None:
    print(f"seconds per round, d = {d}: protocol, n, rounds, vectorized, event_per_agent")
    for protocol in ("ce", "cgc"):
        for n, rounds in ((30, 100), (100, 30), (300, 10), (1000, 3)):
            seconds = []
            for baseline in (vectorized_rounds, event_per_agent):
                begin = time.perf_counter()
                baseline(protocol, n, d, rounds)
                seconds.append((time.perf_counter() - begin) / rounds)
            print(f"  {protocol:3s} {n:5d} {rounds:4d}  {seconds[0]:.3e}  {seconds[1]:.3e}")


if __name__ == "__main__":
    check("ce", 30, 10, (1, 10, 20, 50, 100, 200, 300))
    check("cgc", 30, 10, (10, 50, 200, 1000))
    timings()
