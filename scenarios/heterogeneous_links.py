"""Heterogeneous links: does CE care how the latency is spread over the links, at a fixed mean?

What it studies. CE on the CE paper's instance (``ce_paper_fig2.toml``, the CE variant only,
200 rounds) on per-pair latency matrices (delay model ``matrix``: delay(j -> i) = base[j][i] +
jitter, jitter exponential with mean 2 ms), each against a homogeneous network with the same
mean one-way delay (every off-diagonal entry equal, same jitter):

(a) two clusters, hand-made: agents {0, 1, 2} and {3, 4, 5}, 2 ms inside a cluster, 40 ms
    across (mean of the 30 links: 24.8 ms), without a deadline: every round waits for all its
    messages (netsim's event clock, the default without a deadline; the lock-step clock would
    give the same estimates, see netsim.clocks);
(b) the same two networks with a 10 ms round deadline where a value that misses its round is
    replaced by the sender's last one (``absent = "stale"``), on each of CE's round clocks
    (``protocol.clock``):

    - lock-step: every round lasts D = 10 ms on a shared clock (deadline + compute time, compute
      0 here); a value arriving after its round's end (r + 1) D is late. A cross-cluster value
      (40 ms + jitter) is always late, and so is every value of the homogeneous network
      (24.8 ms + jitter): they arrive a few rounds old;
    - event clock: each agent ends a round at its last arrival or 10 ms after its *own* round
      start, and round starts drift apart;

(c) random geometry: ``plane = 60 ms``, the agents dropped uniformly in the unit square and
    base[j][i] = 60 ms x distance (a new drawing per seed), without a deadline; the homogeneous
    twin gets the mean delay measured on that run's message trace.

Without a deadline the iterates are the same round by round whatever the delays (every round
waits for all its messages), so latency only changes when each round ends. The figure shows the
error (max over honest agents of the distance to x_H) against simulated time, median and
min-max band over the seeds, and the time to epsilon = 1e-6 is printed with the number of honest
values that reached an honest agent after its round ended (``late_honest``). A second figure
shows the latency matrices as measured on the message trace (mean one-way delay per link,
seed 0, runs without a deadline).

CGC is left out: the matrix model gives every server link the same latency (the mean of the
base matrix), so a CGC run on a matrix is a homogeneous star.

Run (from the repository root)::

    python scenarios/heterogeneous_links.py               # full, 10 seeds
    python scenarios/heterogeneous_links.py --quick --plots /tmp/p   # a few seconds (tests)

Writes ``<plots>/heterogeneous_links.png`` and ``<plots>/heterogeneous_links_matrix.png``
(default ``results/heterogeneous_links/``).
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np

import netsim

HERE = Path(__file__).resolve().parent
BASE = HERE / "ce_paper_fig2.toml"
EPSILON = 1e-6
N = 6
CLUSTERS = ((0, 1, 2), (3, 4, 5))
INSIDE, ACROSS = 0.002, 0.040  # simulated s
JITTER_MEAN = 0.002
JITTER = {"model": "exponential", "mean": JITTER_MEAN}
PLANE = 0.060  # simulated s per unit distance
DEADLINE = 0.010  # simulated s, for the deadline variants
# (network, protocol.clock) -> curve name, the deadline variants (late values stale)
DEADLINE_CURVES = {
    ("two clusters", "lockstep"): "two clusters, 10 ms, lock-step",
    ("homogeneous, same mean", "lockstep"): "homogeneous, 10 ms, lock-step",
    ("two clusters", "event"): "two clusters, 10 ms, event clock",
    ("homogeneous, same mean", "event"): "homogeneous, 10 ms, event clock",
}


def two_clusters() -> list[list[float]]:
    """Base latency: INSIDE within a cluster, ACROSS between clusters (diagonal unused: 0)."""
    cluster = {agent: k for k, members in enumerate(CLUSTERS) for agent in members}
    return [
        [0.0 if i == j else (INSIDE if cluster[i] == cluster[j] else ACROSS) for j in range(N)]
        for i in range(N)
    ]


def homogeneous(mean_delay: float) -> list[list[float]]:
    """Every off-diagonal base latency equal to ``mean_delay``."""
    return [[0.0 if i == j else mean_delay for j in range(N)] for i in range(N)]


def off_diagonal_mean(matrix: list[list[float]]) -> float:
    values = np.array(matrix, dtype=float)
    return float(values[~np.eye(len(values), dtype=bool)].mean())


@cache
def base_scenario(rounds: int) -> netsim.Scenario:
    sc = netsim.load_scenario(BASE)
    return sc.with_overrides({"variants": [], "trace": True, "protocol.rounds": rounds})


def run_point(job: tuple) -> dict:
    """One run -> the error curve columns, time to epsilon and the measured link delays."""
    rounds, overrides, seed = job
    sc = base_scenario(rounds).with_overrides({**overrides, "seed": seed})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = netsim.run(sc, progress=False)
    (summary,) = result.summary["variants"].values()
    metrics = result.metrics
    messages = result.messages
    delivered = messages["delivered"].astype(bool)
    delay = messages["arrival_time"][delivered] - messages["send_time"][delivered]
    sender = messages["sender"][delivered].astype(int)
    receiver = messages["receiver"][delivered].astype(int)
    total = np.zeros((N, N))
    count = np.zeros((N, N))
    np.add.at(total, (sender, receiver), delay)
    np.add.at(count, (sender, receiver), 1)
    with np.errstate(invalid="ignore"):
        link_mean = total / count  # NaN on the diagonal (no self-links)
    reached = netsim.time_to_accuracy(metrics, EPSILON)
    return {
        "time": metrics["time"],
        "agent": metrics["agent"].astype(str),
        "distance": metrics["distance"],
        "reached": reached,
        "link_mean": link_mean,
        "mean_delay": float(delay.mean()),
        "absent": summary["absent_honest"],
        "late": summary.get("late_honest", 0),
        "clock": summary["clock"],
        "sim_time_end": summary["sim_time_end"],
    }


def run_all(jobs: list[tuple], workers: int) -> list[dict]:
    if workers <= 1:
        return [run_point(job) for job in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(run_point, jobs, chunksize=2))


def error_vs_time(run: dict, grid: np.ndarray) -> np.ndarray:
    """Max over honest agents of each agent's distance after its last round completed by t
    (NaN after the run ended)."""
    worst = np.full(len(grid), -np.inf)
    for agent in np.unique(run["agent"]):
        mine = run["agent"] == agent
        order = np.argsort(run["time"][mine], kind="stable")
        times, distances = run["time"][mine][order], run["distance"][mine][order]
        index = np.searchsorted(times, grid, side="right") - 1
        worst = np.maximum(worst, distances[np.clip(index, 0, None)])
    worst[grid > run["time"].max()] = np.nan
    return worst


def summarise(runs: list[dict]) -> tuple[float, float, float, int]:
    """Time to epsilon over seeds: (median, min, max, number not reached)."""
    times = np.array([r["reached"][1] for r in runs if r["reached"] is not None])
    missing = len(runs) - len(times)
    if len(times) == 0:
        return math.nan, math.nan, math.nan, missing
    return float(np.median(times)), float(times.min()), float(times.max()), missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, one seed (tests)")
    parser.add_argument(
        "--plots",
        default="results/heterogeneous_links",
        help="directory for the figures (default results/heterogeneous_links)",
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per curve (default 10)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds if args.seeds is not None else (1 if args.quick else 10)))
    rounds = 40 if args.quick else 200
    workers = 1 if args.quick else args.jobs

    clusters = two_clusters()
    cluster_mean = off_diagonal_mean(clusters)
    deadline = {"protocol.deadline": DEADLINE, "protocol.absent": "stale"}
    curves = {  # panels (a) and (b): name -> overrides
        "two clusters": {"network.delay": {"model": "matrix", "base": clusters, "jitter": JITTER}},
        "homogeneous, same mean": {
            "network.delay": {
                "model": "matrix",
                "base": homogeneous(cluster_mean),
                "jitter": JITTER,
            }
        },
    }
    for (network, clock), name in DEADLINE_CURVES.items():
        curves[name] = {**curves[network], **deadline, "protocol.clock": clock}
    plane = {"network.delay": {"model": "matrix", "plane": PLANE, "jitter": JITTER}}

    first = [(name, overrides) for name, overrides in curves.items()]
    first.append(("random plane", plane))
    jobs = [(rounds, overrides, seed) for _, overrides in first for seed in seeds]
    outcomes = run_all(jobs, workers)
    runs = {
        name: outcomes[k * len(seeds) : (k + 1) * len(seeds)] for k, (name, _) in enumerate(first)
    }
    # The homogeneous twin of each random plane: the same measured mean one-way delay.
    twins = []
    for run, seed in zip(runs["random plane"], seeds):
        latency = run["mean_delay"] - JITTER_MEAN
        delay = {"model": "matrix", "base": homogeneous(latency), "jitter": JITTER}
        twins.append((rounds, {"network.delay": delay}, seed))
    runs["plane's homogeneous twin"] = run_all(twins, workers)

    print(
        f"Heterogeneous links (CE, {rounds} rounds, {len(seeds)} seed(s)): time to epsilon = "
        f"{EPSILON:g}, simulated s"
    )
    print(
        f"{'network':42} {'mean delay ms':>13} {'max link ms':>11} {'median s':>9} "
        f"{'min s':>7} {'max s':>7} {'s/round':>8} {'late honest':>11}"
    )
    for name, group in runs.items():
        med, lo, hi, missing = summarise(group)
        mean_delay = np.median([r["mean_delay"] for r in group]) * 1000
        max_link = np.median([np.nanmax(r["link_mean"]) for r in group]) * 1000
        per_round = np.median([r["sim_time_end"] for r in group]) / rounds
        note = f"  ({missing} not reached)" if missing else ""
        late = np.median([r["late"] for r in group])
        print(
            f"{name:42} {mean_delay:13.1f} {max_link:11.1f} {med:9.3g} {lo:7.3g} {hi:7.3g} "
            f"{per_round:8.4f} {late:11.0f}{note}"
        )
    same = same_on_both_clocks(runs)
    for network, identical in same.items():
        print(
            f"{network}, {DEADLINE * 1000:g} ms deadline: lock-step and event clock give the same "
            f"estimates and round ends, every seed: {'yes' if identical else 'no'}"
        )
    paths = plot(runs, len(seeds), rounds, Path(args.plots), same)
    for path in paths:
        print(f"figure: {path}")
    return 0


STYLES = {
    "two clusters": {"color": "tab:purple", "linestyle": "-"},
    "homogeneous, same mean": {"color": "tab:green", "linestyle": "-"},
    DEADLINE_CURVES["two clusters", "lockstep"]: {"color": "tab:purple", "linestyle": "-"},
    DEADLINE_CURVES["homogeneous, same mean", "lockstep"]: {"color": "tab:green", "linestyle": "-"},
    DEADLINE_CURVES["two clusters", "event"]: {"color": "tab:purple", "linestyle": "--"},
    DEADLINE_CURVES["homogeneous, same mean", "event"]: {"color": "tab:green", "linestyle": "--"},
    "random plane": {"color": "tab:brown", "linestyle": "-"},
    "plane's homogeneous twin": {"color": "tab:green", "linestyle": "-"},
}


def same_on_both_clocks(runs: dict) -> dict[str, bool]:
    """Network -> whether its deadline runs on the two clocks have, seed by seed, the same
    distances bit for bit and the same round ends (to 1e-6 relative: lock-step rounds carry
    a 1e-9 slack, event rounds add up deadlines)."""
    same = {}
    for network in ("two clusters", "homogeneous, same mean"):
        lockstep = runs[DEADLINE_CURVES[network, "lockstep"]]
        event = runs[DEADLINE_CURVES[network, "event"]]
        same[network] = all(
            np.array_equal(a["agent"], b["agent"])
            and np.array_equal(a["distance"], b["distance"])
            and np.allclose(a["time"], b["time"], rtol=1e-6, atol=0.0)
            for a, b in zip(lockstep, event)
        )
    return same


def plot(runs: dict, n_seeds: int, rounds: int, out: Path, same: dict[str, bool]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 1e-17
    panels = {
        "(a) two clusters vs homogeneous, same mean delay\nno deadline: every round waits for "
        "all its messages": [
            "two clusters",
            "homogeneous, same mean",
        ],
        f"(b) the same, {DEADLINE * 1000:g} ms deadline, late values stale\nsolid: lock-step "
        f"(rounds of D = {DEADLINE * 1000:g} ms); dashed: event clock": list(
            DEADLINE_CURVES.values()
        ),
        f"(c) random plane ({PLANE * 1000:g} ms × distance) vs its homogeneous\ntwin; no "
        "deadline: every round waits for all its messages": [
            "random plane",
            "plane's homogeneous twin",
        ],
    }
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.8), sharey=True)
    lockstep_curves = {name for (_, clock), name in DEADLINE_CURVES.items() if clock == "lockstep"}
    for ax, (title, names) in zip(axes, panels.items()):
        t_end = max(r["time"].max() for name in names for r in runs[name])
        grid = np.linspace(0.0, t_end, 600)
        for name in names:
            curves = np.array([error_vs_time(r, grid) for r in runs[name]])
            curves = np.maximum(curves, floor)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN after every run ended
                median = np.nanmedian(curves, axis=0)
                low, high = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
            med = summarise(runs[name])[0]
            reach = f"t(ε) {med:.2f} s" if not math.isnan(med) else "ε not reached"
            mean_ms = np.median([r["mean_delay"] for r in runs[name]]) * 1000
            style = dict(STYLES[name])
            if name in lockstep_curves:  # wide and pale under the dashed event-clock curve
                style.update(linewidth=3.4, alpha=0.45)  # (often the same): both stay visible
            elif name in DEADLINE_CURVES.values():
                style.update(linewidth=1.4)
            ax.plot(grid, median, label=f"{name} (mean {mean_ms:.1f} ms; {reach})", **style)
            ax.fill_between(grid, low, high, color=style["color"], alpha=0.15, linewidth=0)
        ax.axhline(EPSILON, color="grey", linestyle=":", linewidth=1)
        ax.annotate(  # inside the panel whatever its width: x in axes fraction
            f"ε = {EPSILON:g}",
            (0.98, EPSILON),
            xycoords=("axes fraction", "data"),
            xytext=(0, 2),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=8,
            color="grey",
            annotation_clip=True,
        )
        ax.set_yscale("log")
        ax.set_xlim(0, t_end)
        ax.set_xlabel("simulated time (s)")
        ax.set_title(title, loc="left", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
        if title.startswith("(b)") and all(same.values()):
            ax.text(
                0.02,
                0.03,
                "dashed = wide pale solid: the two clocks give the same estimates and round\n"
                "ends, every seed (every agent misses a value in every round, so its event-\n"
                "clock rounds too end at the deadline, 10 ms after they start: lock-step's\n"
                "instants)",
                transform=ax.transAxes,
                fontsize=8,
                va="bottom",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 2},
            )
    axes[0].set_ylabel(r"max over honest agents of $\|x_i - x_H\|$ (units of x, log scale)")
    fig.suptitle(
        "heterogeneous_links: CE error vs simulated time on per-pair latency matrices "
        f"(jitter exp. {JITTER_MEAN * 1000:g} ms)\n{rounds} rounds; "
        + (f"median and min–max band over {n_seeds} seeds" if n_seeds > 1 else "1 seed, no band")
        + f"; (a), (c): no deadline; (b): a {DEADLINE * 1000:g} ms round deadline on CE's two "
        "round clocks",
        fontsize=11,
    )
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    curves_path = out / "heterogeneous_links.png"
    fig.savefig(curves_path, dpi=130)
    plt.close(fig)

    # The latency matrices as measured (mean one-way delay per link, first seed), in ms.
    shown = {
        "two clusters": runs["two clusters"][0]["link_mean"],
        "random plane (seed 0)": runs["random plane"][0]["link_mean"],
    }
    top = max(np.nanmax(m) for m in shown.values()) * 1000
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 5), constrained_layout=True)
    for ax, (title, matrix) in zip(axes, shown.items()):
        image = ax.imshow(matrix * 1000, cmap="viridis", vmin=0, vmax=top)
        for (i, j), value in np.ndenumerate(matrix * 1000):
            if not np.isnan(value):
                colour = "white" if value < 0.6 * top else "black"
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8, color=colour)
        labels = [f"{a} (Byz.)" if a == 0 else str(a) for a in range(N)]
        ax.set_xticks(range(N))
        ax.set_yticks(range(N))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel("receiver agent")
        ax.set_ylabel("sender agent")
        ax.set_title(f"{title}: mean one-way delay (ms)", fontsize=10)
    fig.colorbar(
        image, ax=axes, shrink=0.85, label="mean one-way delay per link (ms), from the trace"
    )
    fig.suptitle(
        f"heterogeneous_links: the latency matrices (base + exp. {JITTER_MEAN * 1000:g} ms "
        f"jitter, measured over {rounds} rounds of the runs without a deadline)",
        fontsize=11,
    )
    matrix_path = out / "heterogeneous_links_matrix.png"
    fig.savefig(matrix_path, dpi=130)
    plt.close(fig)
    return [curves_path, matrix_path]


if __name__ == "__main__":
    raise SystemExit(main())
