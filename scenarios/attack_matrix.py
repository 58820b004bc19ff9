"""Attack matrix: the final distance to the optimum for every attack x every filter.

Reads ``scenarios/attack_matrix.toml`` (the attacks, the seeds, and one table per instance: its
base scenario, title, filters and optionally rounds and overrides) and runs every cell through the
public API with the base scenario's other settings (its variants dropped, the instance's
overrides applied; ``filter_aware`` is told the cell's filter unless the grid names one: an
omniscient attacker knows it).

Round clocks (:mod:`netsim.clocks`). A peer instance without a round deadline (exponential
delays) runs on the event clock with every agent waiting for all n - 1 values, so no value is ever
late. The attacks that withhold values (``omission``, ``desync`` with its default
``lag = "withhold"``) would make it wait forever: their cells get a round deadline of 0.1 s, ten
mean delays. A deadline also makes lock-step the default clock, so those cells are synchronous
lock-step runs (rounds of D = 0.1 s on a shared clock). An instance whose delays are bounded
derives its deadline from the bound and needs none. Each heatmap's title says which clock its
cells ran on (read back from the runs' summaries).

It writes

- ``results/attack_matrix/table.csv``: one row per (instance, attack, filter, seed) with the
  protocol, the final distance, the time to 1e-6 (simulated s), the share of Byzantine values
  that entered the aggregate (kept or clipped, from the message trace), the rounds, the clock
  (``lockstep``, ``event`` or ``server``), D and the deadline (simulated s, empty if none), the
  honest values that arrived late, and the deadline the cell was given because its attack
  withholds values (empty if none);
- ``<plots>/attack_matrix.png`` (default ``results/attack_matrix/``): one heatmap per instance
  (three a row), the worst final distance over the seeds, log colour scale.

Run (from the repository root)::

    python scenarios/attack_matrix.py                  # full: ~30 minutes on 2 cores
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
from tqdm import tqdm

import netsim

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
FLOOR = 1e-16  # distances below are drawn at the floor (machine precision)
KEPT, CLIPPED = 0, 2  # decision codes of the message trace
CEILING = 1e4  # and above are drawn at the ceiling (diverged); the cell text has the value
SILENCE_DEADLINE = 0.1  # simulated s: the peer deadline for the withholding attacks
COLUMNS = 3  # heatmaps a row
KEY = """Round clocks (netsim/clocks.py)

lock-step: every agent's round r spans [r D, (r + 1) D)
  on a shared clock; a value that arrives after its
  receiver's round end is late (the papers' synchronous
  rounds). With every delay within D it runs as with
  zero delays.
event clock: each agent ends a round at its last arrival
  or its deadline after its own round start; round starts
  drift apart and honest values miss deadlines although
  every delay is within the bound. An absent value uses
  up one of the f eliminations: the Byzantine one gets in.
waits for all n - 1 values: no deadline (exponential
  delays); no value is ever late. The attacks that
  withhold values (*) get a deadline: lock-step rounds.

n/f (grey): the filter's condition on n and f fails on
  this instance (Bulyan needs k >= 4f + 3 inputs): the
  scenario is refused before the run.
not run (grey): the optimised attacks run on the first
  three instances only (a cell costs 10-100 plain ones).
"""


def protocol_of(base: str) -> str:
    """ "peer" (CE) or "server" (CGC): the protocol of a base scenario."""
    return "server" if netsim.load_scenario(HERE / base).protocol.kind == "cgc" else "peer"


def run_cell(job: tuple[str, str, dict, dict, str, int, int | None]) -> dict:
    """One (instance, attack, filter, seed) cell; ``table`` is an adversary table, ``extra`` the
    instance's overrides."""
    instance, base, extra, table, rule, seed, rounds = job
    attack = label(table)
    protocol = protocol_of(base)
    adversary = dict(table)
    if adversary["kind"] == "filter_aware":
        adversary.setdefault("against", rule)  # the omniscient attacker knows the filter
    overrides: dict = {
        "variants": [],
        **extra,
        "seed": seed,
        "protocol.filter": rule,
        "trace": True,
        "adversary": adversary,
    }
    if rounds is not None:
        overrides["protocol.rounds"] = rounds
    cell = {"instance": instance, "protocol": protocol, "attack": attack, "filter": rule}
    try:
        scenario = netsim.load_scenario(HERE / base).with_overrides(overrides)
        silence = False
    except netsim.ScenarioError as err:  # an attack that withholds values, and no deadline
        if err.key == "protocol.filter":  # the filter's n/f condition fails on this instance
            return {**cell, "seed": seed, "refused": str(err)}
        if not (protocol == "peer" and err.key == "protocol.deadline"):
            raise
        silence = True
    if silence:  # else a peer waits forever; the deadline also makes the default clock lock-step
        overrides["protocol.deadline"] = SILENCE_DEADLINE
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
        **cell,
        "seed": seed,
        "final_distance": summary["final_distance"],
        "time_to_1e-6": reached[1] if reached else "",
        "byzantine_influence": float(entered.mean()) if entered.size else "",
        "rounds": summary["rounds"],
        "clock": summary["clock"],
        "round_length": summary.get("round_length") or "",
        "deadline": summary["deadline"] or "",
        "late_honest": summary["late_honest"],
        "silence_deadline": SILENCE_DEADLINE if silence else "",
        "refused": "",
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
    parser.add_argument(
        "--plots",
        type=Path,
        default=Path("results/attack_matrix"),
        help="directory for the figure (default results/attack_matrix)",
    )
    parser.add_argument("--out", type=Path, default=Path("results/attack_matrix"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--from-table",
        type=Path,
        help="draw the figure from a table.csv this script wrote, without running anything",
    )
    args = parser.parse_args(argv)
    config = tomllib.loads((HERE / "attack_matrix.toml").read_text())["matrix"]
    attacks = [a if isinstance(a, dict) else {"kind": a} for a in config["attacks"]]
    seeds, rounds = config["seeds"], None
    instances = {key: table for key, table in config.items() if isinstance(table, dict)}
    names = [label(a) for a in attacks]
    for key, table in instances.items():
        unknown = sorted(set(table.get("skip_attacks", [])) - set(names))
        if unknown:
            parser.error(
                f"matrix.{key}.skip_attacks: {', '.join(unknown)} is not an attack of the matrix "
                f"(allowed: {', '.join(names)})"
            )
    if args.quick:
        attacks, seeds, rounds = attacks[:3], seeds[:1], 20
        first: dict[str, str] = {}
        for key, table in instances.items():
            first.setdefault(protocol_of(table["scenario"]), key)
        instances = {key: instances[key] for key in first.values()}
        for table in instances.values():
            table["filters"] = table["filters"][:2]
    if args.from_table is not None:
        rows = read_table(args.from_table)
        names = [label(a) for a in attacks]
        path = plot(rows, instances, names, args.plots / "attack_matrix.png", len(seeds))
        print(f"figure: {path}")
        return 0
    jobs = [
        (
            key,
            table["scenario"],
            table.get("overrides", {}),
            attack,
            rule,
            seed,
            rounds or table.get("rounds"),
        )
        for key, table in instances.items()
        for attack in attacks
        if label(attack) not in table.get("skip_attacks", [])
        for rule in table["filters"]
        for seed in seeds
    ]
    rows = []
    with tqdm(total=len(jobs), desc="attack matrix", unit="cell", file=sys.stderr) as bar:
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as pool:
                for row in pool.map(run_cell, jobs, chunksize=4):
                    rows.append(row)
                    bar.update(1)
        else:
            for job in jobs:
                rows.append(run_cell(job))
                bar.update(1)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "table.csv", "w", newline="") as handle:
        fields = max((list(row) for row in rows), key=len)  # a refused cell has fewer columns
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    names = [label(a) for a in attacks]
    path = plot(rows, instances, names, args.plots / "attack_matrix.png", len(seeds))
    print(f"table: {args.out / 'table.csv'}\nfigure: {path}")
    return 0


def read_table(path: Path) -> list[dict]:
    """The rows of a table.csv written by :func:`main`, numbers as numbers."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row.setdefault("refused", "")
        if not row["refused"]:
            row["final_distance"] = float(row["final_distance"])
            row["rounds"] = int(row["rounds"])
    return rows


def clock_of(row: dict) -> str:
    """How a cell's rounds were timed, from its run's summary (:mod:`netsim.clocks`)."""
    deadline = f"{float(row['deadline']) * 1e3:.3g} ms" if row["deadline"] != "" else ""
    if row["clock"] == "server":
        return f"the server's clock, rounds end at its {deadline} deadline"
    if row["clock"] == "lockstep":
        lockstep = f"lock-step rounds of D = {float(row['round_length']) * 1e3:.3g} ms"
        if row["silence_deadline"] != "":
            return f"{lockstep}\n(a {deadline} deadline, as the attack withholds values)"
        return lockstep
    if not deadline:
        return "each agent waits for all n - 1 values (no deadline)"
    return f"event clock, deadline {deadline} after each agent's own round start"


def clock_lines(rows: list[dict], attacks: list[str]) -> tuple[list[str], dict[str, str]]:
    """The title lines that say which clock an instance's cells ran on (the clock most attacks
    ran on, then each exception), and a mark per attack that ran on another clock."""
    clocks: dict[str, set[str]] = {}
    for row in (row for row in rows if not row["refused"]):
        clocks.setdefault(row["attack"], set()).add(clock_of(row))
    per_attack = {a: " / ".join(sorted(c)) for a, c in clocks.items()}
    counts: dict[str, int] = {}
    for clock in per_attack.values():
        counts[clock] = counts.get(clock, 0) + 1
    main = max(counts, key=lambda c: counts[c])
    lines, marks = [f"clock: {main}"], {}
    for k, clock in enumerate(c for c in counts if c != main):
        mark = "*" * (k + 1)
        names = [a for a in attacks if per_attack.get(a) == clock]
        marks.update((a, mark) for a in names)
        lines.append(f"{mark} {', '.join(names)}: {clock}")
    return lines, marks


def plot(rows: list[dict], instances: dict, attacks: list[str], path: Path, seeds: int) -> Path:
    """One heatmap per instance, ``COLUMNS`` a row: worst final distance over the seeds, log
    colours; each title names the instance, its rounds and the clock its cells ran on."""
    columns = min(COLUMNS, len(instances))
    widest = max(len(table["filters"]) for table in instances.values())
    panel = 2.6 + 0.5 * max(widest, 9)  # inches: the attack names, then a cell per filter
    lines = 2 + max(  # title lines
        "\n".join(clock_lines([r for r in rows if r["instance"] == k], attacks)[0]).count("\n")
        for k in instances
    )
    height = 6.8 + 0.2 * lines  # inches a row: the heatmap and its title
    grid_rows = -(-len(instances) // columns)
    fig, axes = plt.subplots(
        grid_rows,
        columns,
        figsize=(1.0 + panel * columns, 0.6 + height * grid_rows),
        squeeze=False,
    )
    norm = LogNorm(vmin=FLOOR, vmax=CEILING)
    image = None
    for ax in axes.flat[len(instances) :]:
        ax.set_axis_off()
    if len(instances) < axes.size:  # a key to the clocks in the first free slot
        axes.flat[len(instances)].text(0.02, 0.5, KEY, fontsize=10, va="center")
    for ax, (key, table) in zip(axes.flat, instances.items()):
        mine = [row for row in rows if row["instance"] == key]
        rules = table["filters"]
        grid = np.full((len(attacks), len(rules)), np.nan)
        refused = np.zeros(grid.shape, dtype=bool)
        for row in mine:
            a, r = attacks.index(row["attack"]), rules.index(row["filter"])
            if row["refused"]:
                refused[a, r] = True
                continue
            grid[a, r] = max(np.nan_to_num(grid[a, r], nan=0.0), row["final_distance"])
        ax.set_facecolor("0.85")  # a refused cell (the filter's n/f condition fails): grey
        image = ax.imshow(np.clip(grid, FLOOR, CEILING), norm=norm, cmap="viridis", aspect="auto")
        for a in range(len(attacks)):
            for r in range(len(rules)):
                value = grid[a, r]
                colour = "white" if value < 1e-3 else "black"
                text = "n/f" if refused[a, r] else "not run" if np.isnan(value) else f"{value:.0e}"
                ax.text(r, a, text, ha="center", va="center", fontsize=7, color=colour)
        clock, marks = clock_lines(mine, attacks)
        ax.set_xticks(range(len(rules)), rules, rotation=35, ha="right")
        ax.set_yticks(range(len(attacks)), [f"{a} {marks.get(a, '')}".strip() for a in attacks])
        ax.set_xlabel("filter")
        ax.set_ylabel("attack (default parameters)")
        protocol = {"peer": "peer to peer", "server": "server"}[protocol_of(table["scenario"])]
        ran = {row["rounds"] for row in mine if not row["refused"]}
        rounds = "/".join(str(r) for r in sorted(ran))
        title = f"{protocol}: {table.get('title', key)}, {rounds} rounds"
        ax.set_title("\n".join([title, *clock]), fontsize=9)
    fig.suptitle(
        f"attack_matrix: final distance to the optimum (worst of {seeds} seed(s); "
        f"log colours clipped to [{FLOOR:.0e}, {CEILING:.0e}])"
    )
    width = fig.get_figwidth()  # inches: keep 1.2 in on the right for the colour bar
    fig.tight_layout(rect=(0, 0, 1 - 1.2 / width, 1), h_pad=2.0)
    bar = fig.add_axes((1 - 1.0 / width, 0.15, 0.15 / width, 0.7))
    fig.colorbar(image, cax=bar, label="final distance to the optimum (log)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
