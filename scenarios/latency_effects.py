"""Latency effects: how the mean and the variability of link delays set the time to accuracy.

What it studies. The simulated time (seconds) until every honest agent, or the CGC server, is
within epsilon = 1e-6 of the optimum, for

- CE (peer to peer; base ``ce_paper_fig2.toml``, the ``CE`` variant only) and
- CGC (server, synchronous; base ``cgc_sync.toml``, the ``CGC, large norm`` variant only),

on two sweeps of the link-delay model, with no round deadline: every round waits for all its
messages, so no value is ever absent or late. CE runs on netsim's event clock, the default
without a deadline (each agent ends a round at its last arrival); the lock-step clock needs a
round length, and a fixed one with these unbounded delays would make some values late, which is
not the question here (without late values both clocks give the same estimates, netsim.clocks).
The CGC server keeps its own clock and waits for every reply.

1. mean sweep: exponential delays with mean 1, 3, 10, 30, 100 ms;
2. variability sweep at a fixed mean of 10 ms: lognormal delays with sigma = 0.5, 1, 1.5, 2 and
   median = mean * exp(-sigma^2 / 2) (so the mean stays 10 ms), plotted against the coefficient
   of variation CV = std / mean = sqrt(exp(sigma^2) - 1). The CV = 0 point is the constant model
   (10 ms) with ``protocol.deadline = "none"`` (a bounded model otherwise gets a deadline at its
   bound; it would not bind here either, but "none" says what is meant).

Each point is run with several seeds (links' random delays and, for CE, the attack change);
the figure shows the median and the min-max band. It also checks that the number of *rounds*
to epsilon does not depend on the delays at all: without a deadline the iterates are the same
whatever the timing, so latency only stretches the time axis.

Run (from the repository root)::

    python scenarios/latency_effects.py                  # full: ~10 seeds
    python scenarios/latency_effects.py --quick --plots /tmp/p   # a few seconds (tests)

Writes ``<plots>/latency_effects.png`` (default ``results/latency_effects/``) and prints the
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
EPSILON = 1e-6
BASES = {"CE": HERE / "ce_paper_fig2.toml", "CGC": HERE / "cgc_sync.toml"}
ROUNDS = {"CE": 150, "CGC": 220}  # enough to reach 1e-6 (CE ~62 rounds, CGC 167)
MEANS_MS = (1.0, 3.0, 10.0, 30.0, 100.0)
FIXED_MEAN = 0.010  # simulated seconds, for the variability sweep
SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0)
COLOURS = {"CE": "tab:blue", "CGC": "tab:red"}


def lognormal_point(mean: float, sigma: float) -> dict:
    """Overrides for a delay with the given mean: lognormal (median = mean e^{-sigma^2/2}), or
    the constant model for sigma = 0 (no deadline: every round waits for all its messages)."""
    if sigma == 0:
        return {
            "network.delay": {"model": "constant", "value": mean},
            "protocol.deadline": "none",
        }
    median = mean * math.exp(-(sigma**2) / 2)
    return {"network.delay": {"model": "lognormal", "median": median, "sigma": sigma}}


def coefficient_of_variation(sigma: float) -> float:
    """std / mean of a lognormal delay with shape sigma."""
    return math.sqrt(math.expm1(sigma**2))


@cache
def base_scenario(protocol: str, rounds: int) -> netsim.Scenario:
    """The base scenario without its variants (one run), trace off."""
    sc = netsim.load_scenario(BASES[protocol])
    return sc.with_overrides({"variants": [], "trace": False, "protocol.rounds": rounds})


def run_point(job: tuple) -> dict:
    """One run: (protocol, rounds, overrides, seed) -> rounds/time to epsilon and counters."""
    protocol, rounds, overrides, seed = job
    sc = base_scenario(protocol, rounds).with_overrides({**overrides, "seed": seed})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = netsim.run(sc, progress=False)
    (summary,) = result.summary["variants"].values()
    reached = netsim.time_to_accuracy(result.metrics, EPSILON)
    return {
        "round": None if reached is None else reached[0],
        "time": None if reached is None else reached[1],
        "absent": summary["absent_honest"],
        "late": summary.get("late_honest", 0),
        "deadline_rounds": summary["deadline_rounds"],
        "clock": summary.get("clock", ""),
    }


def run_all(jobs: list[tuple], workers: int) -> list[dict]:
    if workers <= 1:
        return [run_point(job) for job in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(run_point, jobs, chunksize=4))


def spread(values: list[float | None]) -> tuple[float, float, float, int]:
    """(median, min, max, number not reached) over seeds; NaN if no seed reached epsilon."""
    got = np.array([v for v in values if v is not None], dtype=float)
    missing = len(values) - len(got)
    if len(got) == 0:
        return math.nan, math.nan, math.nan, missing
    return float(np.median(got)), float(got.min()), float(got.max()), missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small grid, few rounds (tests)")
    parser.add_argument(
        "--plots",
        default="results/latency_effects",
        help="directory for the figure (default results/latency_effects)",
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per point (default 10)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)

    means = (1.0, 100.0) if args.quick else MEANS_MS
    sigmas = (0.0, 2.0) if args.quick else SIGMAS
    seeds = list(range(args.seeds if args.seeds is not None else (1 if args.quick else 10)))
    rounds = {"CE": 70, "CGC": 175} if args.quick else ROUNDS

    points = []  # (protocol, sweep, x, overrides)
    for protocol in BASES:
        for mean_ms in means:
            delay = {"model": "exponential", "mean": mean_ms / 1000}
            points.append((protocol, "mean", mean_ms, {"network.delay": delay}))
        for sigma in sigmas:
            points.append((protocol, "sigma", sigma, lognormal_point(FIXED_MEAN, sigma)))
    jobs = [(p, rounds[p], ov, seed) for p, _, _, ov in points for seed in seeds]
    outcomes = run_all(jobs, 1 if args.quick else args.jobs)
    by_point: dict[tuple, list[dict]] = {}
    for (protocol, sweep, x, _), k in zip(points, range(0, len(jobs), len(seeds))):
        by_point[(protocol, sweep, x)] = outcomes[k : k + len(seeds)]

    # Rounds to epsilon must not depend on the delays (no deadline): check it per seed.
    rounds_per_seed = {}
    for protocol in BASES:
        rows = [by_point[key] for key in by_point if key[0] == protocol]
        per_seed = [{row[s]["round"] for row in rows} for s in range(len(seeds))]
        rounds_per_seed[protocol] = per_seed
    absent = sum(o["absent"] + o["late"] + o["deadline_rounds"] for o in outcomes)
    clocks = {
        protocol: sorted(
            {o["clock"] for (p, *_), row in by_point.items() if p == protocol for o in row}
        )
        for protocol in BASES
    }

    print(f"Latency effects: time to epsilon = {EPSILON:g} (simulated s), {len(seeds)} seed(s)")
    print(
        f"{'protocol':8} {'sweep':28} {'rounds':>12} {'median s':>10} {'min s':>10} {'max s':>10}"
    )
    for (protocol, sweep, x), row in by_point.items():
        med, lo, hi, missing = spread([o["time"] for o in row])
        r_med, r_lo, r_hi, _ = spread([o["round"] for o in row])
        if sweep == "mean":
            label = f"exponential, mean {x:g} ms"
        else:
            label = f"CV {coefficient_of_variation(x):.2f} (sigma {x:g})"
        r_text = f"{r_med:.0f} [{r_lo:.0f}-{r_hi:.0f}]" if not math.isnan(r_med) else "-"
        note = f"  ({missing} not reached)" if missing else ""
        print(f"{protocol:8} {label:28} {r_text:>12} {med:10.4g} {lo:10.4g} {hi:10.4g}{note}")
    for protocol, per_seed in rounds_per_seed.items():
        same = all(len(s) == 1 for s in per_seed)
        values = sorted({r for s in per_seed for r in s if r is not None})
        print(
            f"{protocol}: rounds to epsilon identical across every delay model, per seed: "
            f"{'yes' if same else 'NO'} (values over seeds: {values})"
        )
    print(f"absent + late honest values + deadline rounds over all runs: {absent} (expected 0)")
    print(
        "round clocks (no deadline: every round waits for all its messages): "
        + ", ".join(f"{protocol} {'/'.join(c)}" for protocol, c in clocks.items())
    )

    path = plot(by_point, rounds_per_seed, len(seeds), Path(args.plots))
    print(f"figure: {path}")
    return 0


def plot(by_point: dict, rounds_per_seed: dict, n_seeds: int, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_mean, ax_cv) = plt.subplots(1, 2, figsize=(12, 5))
    for protocol in BASES:
        colour = COLOURS[protocol]
        for ax, sweep in ((ax_mean, "mean"), (ax_cv, "sigma")):
            keys = [k for k in by_point if k[0] == protocol and k[1] == sweep]
            xs = np.array([k[2] for k in keys])
            if sweep == "sigma":
                xs = np.array([coefficient_of_variation(s) for s in xs])
            stats = np.array([spread([o["time"] for o in by_point[k]])[:3] for k in keys])
            rounds = sorted({r for s in rounds_per_seed[protocol] for r in s if r is not None})
            r_text = f"{rounds[0]}" if len(rounds) == 1 else f"{rounds[0]}-{rounds[-1]}"
            ax.plot(
                xs,
                stats[:, 0],
                "o-",
                color=colour,
                label=f"{protocol} (median; {r_text} rounds to ε at every delay)",
            )
            ax.fill_between(xs, stats[:, 1], stats[:, 2], color=colour, alpha=0.2, linewidth=0)
        # the exponential point at 10 ms (CV = 1) on the variability panel, for reference
        ref = by_point.get((protocol, "mean", FIXED_MEAN * 1000))
        if ref is not None:
            med, lo, hi, _ = spread([o["time"] for o in ref])
            ax_cv.errorbar(
                [1.0],
                [med],
                yerr=[[med - lo], [hi - med]],
                fmt="*",
                markersize=12,
                color=colour,
                markerfacecolor="white",
                capsize=3,
                label=f"{protocol}, exponential (CV 1)",
            )

    ax_mean.set_xscale("log")
    ax_mean.set_yscale("log")
    means = sorted({k[2] for k in by_point if k[1] == "mean"})
    ax_mean.set_xticks(means)
    ax_mean.set_xticklabels([f"{m:g}" for m in means])
    ax_mean.set_xlabel("mean link delay (ms), exponential delays")
    ax_mean.set_title("(a) vs mean delay", loc="left")
    ax_cv.set_xscale("symlog", linthresh=1.0, linscale=1.5)
    ax_cv.set_yscale("log")
    ax_cv.set_xlim(-0.1, 9)
    sigmas = sorted({k[2] for k in by_point if k[1] == "sigma"})
    ax_cv.set_xticks([coefficient_of_variation(s) for s in sigmas])
    ax_cv.set_xticklabels(
        [f"{coefficient_of_variation(s):.2g}\n(σ={s:g})" for s in sigmas], fontsize=9
    )
    ax_cv.set_xlabel(
        f"coefficient of variation (std / mean) of the link delay, mean {FIXED_MEAN * 1000:g} ms"
    )
    ax_cv.set_title("(b) vs delay variability (lognormal; CV 0 = constant)", loc="left")
    for ax in (ax_mean, ax_cv):
        ax.set_ylabel(f"time to ε = {EPSILON:g} (simulated s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        "latency_effects: simulated time to ε-accuracy, CE (peer to peer) vs CGC (server, sync)"
        "\nno deadline: every round waits for all its messages (CE: event clock, CGC: the "
        "server's); "
        + (f"median and min–max band over {n_seeds} seeds" if n_seeds > 1 else "1 seed, no band"),
        fontsize=11,
    )
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latency_effects.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
