"""Attack matrix: the final distance to the optimum for every attack x every filter.

Reads ``scenarios/attack_matrix.toml`` (the attacks, the filters of each protocol, the base
scenarios and the seeds), runs every cell through the public API with the base scenario's other
settings (its variants dropped; for the silent ``omission`` attack the peer protocol gets a 0.1 s
round deadline, ten mean delays, since its exponential delays give it none), and writes

- ``results/attack_matrix/table.csv``: one row per (protocol, attack, filter, seed) with the
  final distance, the time to 1e-6 (simulated s) and the share of Byzantine values that entered
  the aggregate (kept or clipped, from the message trace);
- ``plots/attack_matrix.png``: one heatmap per protocol, the worst final distance over the
  seeds, log colour scale.

Run (from the repository root)::

    python scenarios/attack_matrix.py                  # full: ~3 minutes on 2 cores
    python scenarios/attack_matrix.py --quick --plots /tmp/p --out /tmp/r   # seconds (tests)
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

import netsim

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
FLOOR = 1e-16  # distances below are drawn at the floor (machine precision)
KEPT, CLIPPED = 0, 2  # decision codes of the message trace
CEILING = 1e4  # and above are drawn at the ceiling (diverged); the cell text has the value
SILENCE_DEADLINE = 0.1  # simulated s: the peer deadline for the silent (omission) attack


def run_cell(job: tuple[str, str, dict, str, int, int | None]) -> dict:
    """One (protocol, attack, filter, seed) cell; ``attack`` is an adversary table."""
    protocol, base, table, rule, seed, rounds = job
    attack = label(table)
    overrides: dict = {
        "variants": [],
        "seed": seed,
        "protocol.filter": rule,
        "trace": True,
        "adversary": dict(table),
    }
    if rounds is not None:
        overrides["protocol.rounds"] = rounds
    if table["kind"] == "omission" and protocol == "peer":
        overrides["protocol.deadline"] = SILENCE_DEADLINE  # else a peer waits forever
    scenario = netsim.load_scenario(HERE / base).with_overrides(overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Theorem 2 does not cover": the table says so
        result = netsim.run(scenario)
    (summary,) = result.summary["variants"].values()
    m = result.messages
    to_filter = m["byzantine"] & ~np.isin(m["receiver"], summary["byzantine"])
    decided = to_filter & m["delivered"] & (m["decision"] != 3)  # not late
    entered = np.isin(m["decision"][decided], [KEPT, CLIPPED])
    reached = summary["time_to_accuracy"]["1e-06"]
    return {
        "protocol": protocol,
        "attack": attack,
        "filter": rule,
        "seed": seed,
        "final_distance": summary["final_distance"],
        "time_to_1e-6": reached[1] if reached else "",
        "byzantine_influence": float(entered.mean()) if entered.size else "",
    }


def label(table: dict) -> str:
    """An attack's name in the table and the figure: its kind, with any parameters."""
    params = ", ".join(f"{k}={v}" for k, v in table.items() if k != "kind")
    return f"{table['kind']} ({params})" if params else table["kind"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 attacks, 2 filters, 20 rounds")
    parser.add_argument("--plots", type=Path, default=Path("plots"))
    parser.add_argument("--out", type=Path, default=Path("results/attack_matrix"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    config = tomllib.loads((HERE / "attack_matrix.toml").read_text())["matrix"]
    attacks = [a if isinstance(a, dict) else {"kind": a} for a in config["attacks"]]
    seeds, rounds = config["seeds"], None
    if args.quick:
        attacks, seeds, rounds = attacks[:3], seeds[:1], 20
    jobs = []
    for protocol in ("peer", "server"):
        rules = config[protocol]["filters"][: 2 if args.quick else None]
        jobs += [
            (protocol, config[protocol]["scenario"], attack, rule, seed, rounds)
            for attack in attacks
            for rule in rules
            for seed in seeds
        ]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(run_cell, jobs, chunksize=4))
    else:
        rows = [run_cell(job) for job in jobs]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "table.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    names = [label(a) for a in attacks]
    path = plot(rows, config, names, args.quick, args.plots / "attack_matrix.png", len(seeds))
    print(f"table: {args.out / 'table.csv'}\nfigure: {path}")
    return 0


def plot(
    rows: list[dict], config: dict, attacks: list[str], quick: bool, path: Path, seeds: int
) -> Path:
    """Two heatmaps (peer, server): worst final distance over the seeds, log colours."""
    fig, axes = plt.subplots(1, 2, figsize=(16, 7.5))
    norm = LogNorm(vmin=FLOOR, vmax=CEILING)
    titles = {
        "peer": "peer to peer (CE paper's instance, n = 6, f = 1)",
        "server": "server (spec's CGC instance, n = 6, f = 1, alpha > 0)",
    }
    image = None
    for ax, protocol in zip(axes, ("peer", "server")):
        rules = config[protocol]["filters"][: 2 if quick else None]
        grid = np.full((len(attacks), len(rules)), np.nan)
        for row in rows:
            if row["protocol"] == protocol:
                a, r = attacks.index(row["attack"]), rules.index(row["filter"])
                grid[a, r] = max(np.nan_to_num(grid[a, r], nan=0.0), row["final_distance"])
        image = ax.imshow(np.clip(grid, FLOOR, CEILING), norm=norm, cmap="viridis", aspect="auto")
        for a in range(len(attacks)):
            for r in range(len(rules)):
                value = grid[a, r]
                colour = "white" if value < 1e-3 else "black"
                ax.text(r, a, f"{value:.0e}", ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(len(rules)), rules, rotation=35, ha="right")
        ax.set_yticks(range(len(attacks)), attacks)
        ax.set_xlabel("filter")
        ax.set_ylabel("attack (default parameters)")
        ax.set_title(titles[protocol], fontsize=10)
    fig.suptitle(
        f"attack_matrix: final distance to the optimum (worst of {seeds} seed(s); "
        f"log colours clipped to [{FLOOR:.0e}, {CEILING:.0e}])"
    )
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    bar = fig.add_axes((0.94, 0.15, 0.015, 0.7))
    fig.colorbar(image, cax=bar, label="final distance to the optimum (log)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
