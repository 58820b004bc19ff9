"""Attack matrix: the final distance to the optimum for every attack x every filter.

Reads ``scenarios/attack_matrix.toml`` (the attacks, the seeds, and one table per instance: its
base scenario, title, filters and optionally rounds), runs every cell through the public API
with the base scenario's other settings (its variants dropped; for the silent ``omission``
attack a peer instance gets a 0.1 s round deadline, ten mean delays, since its exponential
delays give it none; ``filter_aware`` is told the cell's filter unless the grid names one: an
omniscient attacker knows it), and writes

- ``results/attack_matrix/table.csv``: one row per (instance, attack, filter, seed) with the
  protocol, the final distance, the time to 1e-6 (simulated s) and the share of Byzantine values
  that entered the aggregate (kept or clipped, from the message trace);
- ``plots/attack_matrix.png``: one heatmap per instance, the worst final distance over the
  seeds, log colour scale.

Run (from the repository root)::

    python scenarios/attack_matrix.py                  # full: ~4.5 minutes on 2 cores
    python scenarios/attack_matrix.py --quick --plots /tmp/p --out /tmp/r   # seconds (tests)

``--quick``: 3 attacks, 2 filters, 1 seed, 20 rounds, on the first instance of each protocol.
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


def protocol_of(base: str) -> str:
    """ "peer" (CE) or "server" (CGC): the protocol of a base scenario."""
    return "server" if netsim.load_scenario(HERE / base).protocol.kind == "cgc" else "peer"


def run_cell(job: tuple[str, str, dict, str, int, int | None]) -> dict:
    """One (instance, attack, filter, seed) cell; ``attack`` is an adversary table."""
    instance, base, table, rule, seed, rounds = job
    attack = label(table)
    protocol = protocol_of(base)
    adversary = dict(table)
    if adversary["kind"] == "filter_aware":
        adversary.setdefault("against", rule)  # the omniscient attacker knows the filter
    overrides: dict = {
        "variants": [],
        "seed": seed,
        "protocol.filter": rule,
        "trace": True,
        "adversary": adversary,
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
        "instance": instance,
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
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 attacks, 2 filters, 20 rounds, the first instance of each protocol",
    )
    parser.add_argument("--plots", type=Path, default=Path("plots"))
    parser.add_argument("--out", type=Path, default=Path("results/attack_matrix"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    config = tomllib.loads((HERE / "attack_matrix.toml").read_text())["matrix"]
    attacks = [a if isinstance(a, dict) else {"kind": a} for a in config["attacks"]]
    seeds, rounds = config["seeds"], None
    instances = {key: table for key, table in config.items() if isinstance(table, dict)}
    if args.quick:
        attacks, seeds, rounds = attacks[:3], seeds[:1], 20
        first: dict[str, str] = {}
        for key, table in instances.items():
            first.setdefault(protocol_of(table["scenario"]), key)
        instances = {key: instances[key] for key in first.values()}
        for table in instances.values():
            table["filters"] = table["filters"][:2]
    jobs = [
        (key, table["scenario"], attack, rule, seed, rounds or table.get("rounds"))
        for key, table in instances.items()
        for attack in attacks
        for rule in table["filters"]
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
    path = plot(rows, instances, names, args.plots / "attack_matrix.png", len(seeds))
    print(f"table: {args.out / 'table.csv'}\nfigure: {path}")
    return 0


def plot(rows: list[dict], instances: dict, attacks: list[str], path: Path, seeds: int) -> Path:
    """One heatmap per instance: worst final distance over the seeds, log colours."""
    fig, axes = plt.subplots(
        1, len(instances), figsize=(1.0 + 7.2 * len(instances), 7.5), squeeze=False
    )
    norm = LogNorm(vmin=FLOOR, vmax=CEILING)
    image = None
    for ax, (key, table) in zip(axes[0], instances.items()):
        rules = table["filters"]
        grid = np.full((len(attacks), len(rules)), np.nan)
        for row in rows:
            if row["instance"] == key:
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
        protocol = {"peer": "peer to peer", "server": "server"}[protocol_of(table["scenario"])]
        ax.set_title(f"{protocol}: {table.get('title', key)}", fontsize=10)
    fig.suptitle(
        f"attack_matrix: final distance to the optimum (worst of {seeds} seed(s); "
        f"log colours clipped to [{FLOOR:.0e}, {CEILING:.0e}])"
    )
    width = fig.get_figwidth()  # inches: keep 1.2 in on the right for the colour bar
    fig.tight_layout(rect=(0, 0, 1 - 1.2 / width, 1))
    bar = fig.add_axes((1 - 1.0 / width, 0.15, 0.15 / width, 0.7))
    fig.colorbar(image, cax=bar, label="final distance to the optimum (log)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
