"""Asynchrony stress: where CE with a round deadline, on each of its two round clocks, and the
asynchronous CGC server degrade and where they break, as the network gets worse along four axes.

What it studies. Five configurations, each run with a fixed number of rounds:

- CE (``ce_paper_fig2.toml``, CE variant, 200 rounds) with a round deadline of 100 ms, on each
  round clock (``protocol.clock``, netsim.clocks) and with each absent policy:

  - lock-step: every round lasts D = 100 ms on a shared clock (D = deadline + compute time;
    compute is 0 here); a round-r value arriving after (r + 1) D is late;
  - event clock: each agent ends a round at its last arrival or 100 ms after its *own* round
    start; round starts drift apart, so honest values can miss a deadline the network alone
    would not make them miss;
  - absent = stale: a value that misses its round is replaced by the sender's last one;
  - absent = eliminated: a missing value uses up one of the f eliminations;

- CGC async, quorum: ``cgc_async.toml`` (quorum n - f variant), 400 rounds, diminishing step;
  a 100 ms deadline is the safety net if no quorum forms. The server keeps the only clock of its
  protocol (no ``protocol.clock`` choice).

The stress axes (one at a time, everything else as in the base scenarios, where link delays are
exponential with mean 10 ms):

1. stragglers: honest agent 3's links and compute time are F times slower (F = 1 ... 100),
   delay model ``stragglers`` around the exponential;
2. heavy tails: shifted Pareto (Lomax) delays with scale 10 ms and tail index alpha from 4 down
   to 0.5 (mean infinite for alpha <= 1);
3. message loss: every message is lost with probability p = 0 ... 0.5;
4. partial synchrony: ``network.asynchrony = {gst = 0, delta = Delta}``, every delay capped at
   Delta, and the round timing left to netsim's rule for a practitioner who knows Delta: CE
   lock-step D = Delta + compute time (= Delta), CE event clock a deadline Delta after each
   agent's own round start, CGC 2 Delta + compute; Delta from 1 s down to 1 ms. Every honest
   delay is within the bound, so on lock-step no honest value is ever late.

Metrics: the final distance to the optimum (max over honest agents, or the server) and the
simulated time from which the distance stays below epsilon = 1e-3 until the end of the run
(``netsim.time_to_accuracy(..., settle=True)``), not the first time it gets below epsilon: a run
can pass through epsilon and leave again (CGC with a 100x straggler reaches 1e-3 on the four
fast honest agents, then the straggler's gradient at w_0 arrives, is used for the rest of the
run, and pushes w away to ~3); the table prints both, and the honest values that reached an
honest agent after its round ended (``late_honest``). Dotted lines mark the initial distances: a
point at or above its line made no progress. Median and min-max band over the seeds. A lock-step
round lasts D whatever the delays, so its times are (rounds to epsilon) x D.

Run (from the repository root)::

    python scenarios/asynchrony_stress.py                 # full, 3 seeds
    python scenarios/asynchrony_stress.py --quick --plots /tmp/p   # a few seconds (tests)

Writes ``<plots>/asynchrony_stress.png`` (default ``results/asynchrony_stress/``) and prints the
numbers.
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
EPSILON = 1e-3
DEADLINE = 0.1  # simulated s: CE's round deadline and CGC's safety net (axes 1-3)
EXPONENTIAL = {"model": "exponential", "mean": 0.01}
STRAGGLER = 3  # honest in both base scenarios (CE: Byzantine 0; CGC: Byzantine 5)

# name -> (base file, fixed overrides, rounds, quick rounds)
CE_STALE = {"protocol.absent": "stale"}
CE_ELIMINATED = {"protocol.absent": "eliminated"}
LOCKSTEP = {"protocol.clock": "lockstep"}
EVENT = {"protocol.clock": "event"}
CGC = "CGC async, quorum n − f (server clock)"
CONFIGS = {
    "CE lock-step, stale": ("ce_paper_fig2.toml", {**LOCKSTEP, **CE_STALE}, 200, 40),
    "CE event clock, stale": ("ce_paper_fig2.toml", {**EVENT, **CE_STALE}, 200, 40),
    "CE lock-step, eliminated": ("ce_paper_fig2.toml", {**LOCKSTEP, **CE_ELIMINATED}, 200, 40),
    "CE event clock, eliminated": ("ce_paper_fig2.toml", {**EVENT, **CE_ELIMINATED}, 200, 40),
    CGC: ("cgc_async.toml", {}, 400, 60),
}
# colour: the absent policy (CGC: red); solid, filled: lock-step; dashed, hollow: event clock
STYLES = {
    "CE lock-step, stale": {"color": "tab:blue", "marker": "o", "linestyle": "-"},
    "CE event clock, stale": {
        "color": "tab:blue",
        "marker": "o",
        "linestyle": "--",
        "markerfacecolor": "white",
    },
    "CE lock-step, eliminated": {"color": "tab:orange", "marker": "s", "linestyle": "-"},
    "CE event clock, eliminated": {
        "color": "tab:orange",
        "marker": "s",
        "linestyle": "--",
        "markerfacecolor": "white",
    },
    CGC: {"color": "tab:red", "marker": "^", "linestyle": "-"},
}


def stress_axes() -> dict[str, dict]:
    """Axis name -> {"title", "xlabel", "levels": [(tick label, overrides)], "deadline": bool}
    (``deadline``: the axis runs with the fixed 100 ms deadline; else netsim derives it)."""
    return {
        "stragglers": {
            "title": f"(a) straggler: agent {STRAGGLER} links and compute × F\n"
            f"deadline {DEADLINE * 1000:g} ms (CE lock-step: D = {DEADLINE * 1000:g} ms)",
            "xlabel": "slow-down factor F",
            "deadline": True,
            "levels": [
                (
                    f"{factor:g}",
                    {
                        "network.delay": {
                            "model": "stragglers",
                            "agents": [STRAGGLER],
                            "factor": factor,
                            "base": EXPONENTIAL,
                        }
                    },
                )
                for factor in (1.0, 3.0, 10.0, 30.0, 100.0)
            ],
        },
        "heavy tails": {
            "title": "(b) heavy tails: Pareto delays, scale 10 ms\n"
            f"deadline {DEADLINE * 1000:g} ms (CE lock-step: D = {DEADLINE * 1000:g} ms)",
            "xlabel": "tail index α (mean = ∞ for α ≤ 1)",
            "deadline": True,
            "levels": [
                (
                    f"{shape:g}",
                    {"network.delay": {"model": "pareto", "scale": 0.01, "shape": shape}},
                )
                for shape in (4.0, 2.0, 1.5, 1.0, 0.7, 0.5)
            ],
        },
        "loss": {
            "title": "(c) message loss\n"
            f"deadline {DEADLINE * 1000:g} ms (CE lock-step: D = {DEADLINE * 1000:g} ms)",
            "xlabel": "loss probability p (per message)",
            "deadline": True,
            "levels": [(f"{p:g}", {"network.loss": p}) for p in (0.0, 0.01, 0.03, 0.1, 0.3, 0.5)],
        },
        "delta": {
            "title": "(d) partial synchrony: delays ≤ Δ from t = 0\n"
            "CE lock-step: D = Δ; event clock: deadline Δ\nCGC: deadline 2Δ + compute",
            "xlabel": "Δ (ms)",
            "deadline": False,
            "levels": [
                (f"{d * 1000:g}", {"network.asynchrony": {"gst": 0.0, "delta": d}})
                for d in (1.0, 0.1, 0.05, 0.03, 0.01, 0.003, 0.001)
            ],
        },
    }


@cache
def base_scenario(path: str, rounds: int) -> netsim.Scenario:
    """A base file without its variants (one run), trace off."""
    sc = netsim.load_scenario(HERE / path)
    return sc.with_overrides({"variants": [], "trace": False, "protocol.rounds": rounds})


def run_point(job: tuple) -> dict:
    """One run -> final distance, initial distance, time to epsilon and a few counters."""
    config, rounds, overrides, seed = job
    path, fixed, _, _ = CONFIGS[config]
    # the clock with the stress at once: lock-step needs the deadline or Delta it takes D from
    sc = base_scenario(path, rounds).with_overrides({**fixed, **overrides, "seed": seed})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # staleness-bound warnings: counted in the summary
        result = netsim.run(sc, progress=False)
    (summary,) = result.summary["variants"].values()
    metrics = result.metrics
    reached = netsim.time_to_accuracy(metrics, EPSILON)
    return {
        "final": summary["final_distance"],
        "initial": float(np.max(metrics["distance"][metrics["round"] == 0])),
        "first": None if reached is None else reached[1],
        "time": settled[1]
        if (settled := netsim.time_to_accuracy(metrics, EPSILON, settle=True))
        else None,
        "absent": summary["absent_honest"],
        "late": summary.get("late_honest", 0),
        "violations": summary["synchrony_violations"],
        "clock": summary.get("clock", "server"),
        "round_length": summary.get("round_length"),
        "lost": summary.get("messages_lost", 0),
        "staleness": summary.get("max_honest_staleness"),
        "sim_time_end": summary["sim_time_end"],
    }


def run_all(jobs: list[tuple], workers: int) -> list[dict]:
    if workers <= 1:
        return [run_point(job) for job in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(run_point, jobs, chunksize=2))


def spread(values: list[float | None]) -> tuple[float, float, float, int]:
    """(median, min, max, number missing) over seeds; NaN if every value is missing."""
    got = np.array([v for v in values if v is not None], dtype=float)
    if len(got) == 0:
        return math.nan, math.nan, math.nan, len(values)
    return float(np.median(got)), float(got.min()), float(got.max()), len(values) - len(got)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small grid, few rounds (tests)")
    parser.add_argument(
        "--plots",
        default="results/asynchrony_stress",
        help="directory for the figure (default results/asynchrony_stress)",
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per point (default 3)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds if args.seeds is not None else (1 if args.quick else 3)))

    axes = stress_axes()
    if args.quick:
        for axis in axes.values():
            axis["levels"] = [axis["levels"][0], axis["levels"][-1]]
    points = []  # (axis, level index, config, overrides)
    for name, axis in axes.items():
        for k, (_, overrides) in enumerate(axis["levels"]):
            for config in CONFIGS:
                extra = {"protocol.deadline": DEADLINE} if axis["deadline"] else {}
                points.append((name, k, config, {**overrides, **extra}))
    jobs = []
    for _, _, config, overrides in points:
        rounds = CONFIGS[config][3] if args.quick else CONFIGS[config][2]
        jobs.extend((config, rounds, overrides, seed) for seed in seeds)
    outcomes = run_all(jobs, 1 if args.quick else args.jobs)
    results = {
        (name, k, config): outcomes[j * len(seeds) : (j + 1) * len(seeds)]
        for j, (name, k, config, _) in enumerate(points)
    }

    print(
        f"Asynchrony stress: final distance and time to epsilon = {EPSILON:g} (simulated s), "
        f"{len(seeds)} seed(s); medians [min-max]"
    )
    header = f"{'axis':12} {'level':>6}  {'configuration':38} {'final distance':>30}"
    print(f"{header} {'t_stay s':>9} {'miss':>5} {'t_first s':>9}  counters (median)")
    for (name, k, config), row in results.items():
        med, lo, hi, _ = spread([o["final"] for o in row])
        t_med, _, _, missing = spread([o["time"] for o in row])
        first, _, _, _ = spread([o["first"] for o in row])
        if config.startswith("CE"):
            length = row[0]["round_length"]
            counters = (
                f"{'D ' + format(length * 1000, '.4g') + ' ms, ' if length else ''}"
                f"late honest {np.median([o['late'] for o in row]):.0f}, "
                f"absent honest {np.median([o['absent'] for o in row]):.0f}, "
                f"rounds > f absent {np.median([o['violations'] for o in row]):.0f}"
            )
        else:
            counters = f"max staleness {np.median([o['staleness'] for o in row]):.0f}"
        counters += f", lost {np.median([o['lost'] for o in row]):.0f}"
        level = axes[name]["levels"][k][0]
        final = f"{med:.2e} [{lo:.1e}-{hi:.1e}]"
        print(
            f"{name:12} {level:>6}  {config:38} {final:>30} {t_med:9.3g} "
            f"{missing:>3}/{len(row)} {first:9.3g}  {counters}"
        )
    used = {
        protocol: next(j[1] for j in jobs if j[0].startswith(protocol))
        for protocol in ("CE", "CGC")
    }
    path = plot(axes, results, len(seeds), used, Path(args.plots))
    print(f"figure: {path}")
    return 0


def plot(axes_spec: dict, results: dict, n_seeds: int, rounds: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(axes_spec)
    fig, grid = plt.subplots(2, len(names), figsize=(4.4 * len(names), 9.0), sharey="row")
    floor = 1e-17  # exact zeros on the log scale
    initial = {}
    lowest = np.inf  # the top row's y range: fitted to the data, not to the floor
    t_top = max(
        (o["time"] for row in results.values() for o in row if o["time"] is not None),
        default=1.0,
    )
    # Each configuration a little to the side of the level, so that equal values stay visible;
    # "never below epsilon" markers one row per configuration above the data.
    shift = dict(zip(STYLES, np.linspace(-0.14, 0.14, len(STYLES))))
    never_row = {config: t_top * 2.0 * 1.45**j for j, config in enumerate(STYLES)}
    for col, name in enumerate(names):
        spec = axes_spec[name]
        ticks = [label for label, _ in spec["levels"]]
        top, bottom = grid[0, col], grid[1, col]
        for config, style in STYLES.items():
            xs = np.arange(len(ticks)) + shift[config]
            rows = [results[(name, k, config)] for k in range(len(ticks))]
            final = np.array([spread([o["final"] for o in row])[:3] for row in rows])
            final = np.maximum(final, floor)
            lowest = min(lowest, float(np.nanmin(final)))
            top.plot(xs, final[:, 0], label=config, **style)
            top.fill_between(xs, final[:, 1], final[:, 2], color=style["color"], alpha=0.12)
            initial[config] = max(o["initial"] for row in rows for o in row)
            times = [spread([o["time"] for o in row]) for row in rows]
            t = np.array([s[:3] for s in times])
            bottom.plot(xs, t[:, 0], **style)
            bottom.fill_between(xs, t[:, 1], t[:, 2], color=style["color"], alpha=0.12)
            face = style.get("markerfacecolor", style["color"])  # hollow: event clock
            for marker, hit in (("X", lambda m: m == n_seeds), ("P", lambda m: 0 < m < n_seeds)):
                where = [x for x, s in zip(xs, times) if hit(s[3])]
                bottom.plot(
                    where,
                    [never_row[config]] * len(where),
                    linestyle="none",
                    marker=marker,
                    markersize=9,
                    color=style["color"],
                    markerfacecolor=face,
                )
        for config in ("CE lock-step, stale", CGC):
            colour = STYLES[config]["color"]
            top.axhline(initial[config], color=colour, linestyle=":", linewidth=1.2)
        top.set_title(spec["title"], loc="left", fontsize=9.5)
        for ax in (top, bottom):
            ax.set_yscale("log")
            ax.set_xticks(np.arange(len(ticks)))
            ax.set_xticklabels(ticks)
            ax.grid(True, which="major", alpha=0.3)
        bottom.set_xlabel(spec["xlabel"], fontsize=9)
        bottom.axhspan(t_top * 1.6, t_top * 30, color="grey", alpha=0.08, linewidth=0)
    ce_start = initial["CE lock-step, stale"]
    cgc_start = initial[CGC]
    grid[0, 1].text(
        -0.2, cgc_start * 1.8, "initial distance, CGC", color="tab:red", fontsize=8, va="bottom"
    )
    grid[0, 1].text(
        -0.2, ce_start / 1.8, "initial distance, CE", color="tab:blue", fontsize=8, va="top"
    )
    grid[0, 0].set_ylim((lowest if np.isfinite(lowest) else floor) / 3, cgc_start * 30)
    grid[1, 0].set_ylim(None, t_top * 30)
    grid[0, 0].set_ylabel(
        "final distance to the optimum\n(max over honest agents / server;\nunits of x, log scale)"
    )
    grid[1, 0].set_ylabel(f"time to ε = {EPSILON:g}, staying below\n(simulated s)")
    handles, labels = grid[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=len(labels),
        fontsize=9,
        frameon=False,
        title="colour: absent policy (CGC red); solid, filled: CE lock-step; dashed, hollow: CE "
        "event clock; ✕/✚ in the grey band: not below ε at the end for every / some seed",
        title_fontsize=9,
    )
    fig.suptitle(
        "asynchrony_stress: CE with a round deadline on its two round clocks vs the asynchronous "
        "CGC server (quorum); stress grows to the right\n(a)-(c) deadline "
        f"{DEADLINE * 1000:g} ms: CE lock-step = rounds of D = {DEADLINE * 1000:g} ms on a shared "
        f"clock, CE event clock = {DEADLINE * 1000:g} ms after each agent's own round start, CGC "
        "= safety net; (d) see its title\n"
        f"rounds: CE {rounds['CE']}, CGC {rounds['CGC']}; "
        + (f"median and min–max band over {n_seeds} seeds" if n_seeds > 1 else "1 seed, no band")
        + "; points shifted sideways per configuration",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "asynchrony_stress.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
