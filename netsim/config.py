"""Scenario files: TOML -> validated, frozen dataclasses (spec/interface.md, "Scenario file").

Everything is checked here, before anything runs; an error names the dotted key, the value and
the allowed range (:class:`netsim.errors.ScenarioError`). ``Scenario.resolved`` keeps the scenario
as a plain dict with every default filled in: it is what ``manifest.json`` records and what
:meth:`Scenario.with_overrides` edits.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import math
import re
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .adversaries import ADVERSARIES, Adversary
from .checks import as_choice, as_float, as_int
from .clocks import CLOCKS, ROUNDING_SLACK, RoundClock, draw_clocks
from .costs import LeastSquares
from .delays import DELAY_MODELS, MAX_DELAY, DelayModel
from .errors import ScenarioError
from .preaggregation import parse_filter
from .step_sizes import STEP_SIZES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# auto (the default): the fast engine where it applies, else the reference, silently (the same
# run bit for bit either way); fast: the same, with a warning when it falls back; reference: one
# SimPy event per message.
ENGINES = ("auto", "fast", "reference")
PROTOCOLS = ("ce", "cgc")
ABSENT_POLICIES = ("eliminated", "stale")
TOP_KEYS = (
    "name",
    "seed",
    "engine",
    "trace",
    "trace_format",
    "timing_plots",
    "network",
    "costs",
    "protocol",
    "adversary",
    "variants",
    "search",  # `netsim search` settings (netsim/search/); `netsim run` ignores them
)
NETWORK_KEYS = (
    "n",
    "f",
    "byzantine",
    "topology",
    "delay",
    "compute_time",
    "loss",
    "asynchrony",
    "clocks",
)
CLOCK_KEYS = ("offset", "drift", "offsets", "drifts")
COSTS_KEYS = ("kind", "A", "B", "require_redundancy")
CE_ONLY_KEYS = ("absent", "clock", "round_length")
CGC_ONLY_KEYS = (
    "mode",
    "trigger",
    "staleness_bound",
    "on_staleness",
    "require_diminishing",
    "server_compute_time",
    "agent_queue",
)
PROTOCOL_KEYS = (
    "kind",
    "filter",
    "rounds",
    "deadline",
    "x0",
    "step_size",
    *CE_ONLY_KEYS,
    *CGC_ONLY_KEYS,
)
MAX_AGENTS = 100_000  # n^2 links: 10^10 messages a round already
RECORD_BYTES = 8 * 2**30  # the most memory a run's per-round records may take
MAGNITUDE = 1e100  # |entries| of A, B and x0: the costs' squares and products stay finite
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # a file name on every OS
# Filters by protocol (spec/interface.md): a peer filters estimates, the server gradients.
PEER_RULES = (
    "ce",
    "none",
    "median",
    "trimmed_mean",
    "krum",
    "multi_krum",
    "geometric_median",
    "centered_clipping",
    "meamed",
    "mda",
    "bulyan",
    "caf",
    "smea",
)
SERVER_RULES = (
    "cgc",
    "none",
    "cge",
    "median",
    "trimmed_mean",
    "krum",
    "multi_krum",
    "geometric_median",
    "centered_clipping",
    "meamed",
    "mda",
    "bulyan",
    "caf",
    "smea",
)
# Why the CGC server has no clock choice: it is the only one that keeps rounds.
SERVER_CLOCK = (
    ": the server keeps the only round clock, and every reply is due at the server's deadline "
    "counted from its own request, so round starts cannot drift apart"
)
SLACK = ROUNDING_SLACK  # derived deadlines: absorbs the rounding of sums of times (see _deadline)
TRACE_AUTO_LIMIT = 200_000  # messages: the trace is kept by default up to this many


@dataclass(frozen=True)
class AsynchronyConfig:
    """``[network.asynchrony]``: partial synchrony as a checked model (spec/interface.md).

    After the global stabilisation time ``gst`` every honest message arrives within ``delta``
    simulated seconds of its sending: the engine caps a longer draw (``on_violation = "cap"``)
    or stops the run naming the link (``"error"``). Before ``gst`` delays follow the model.
    """

    gst: float
    delta: float
    on_violation: str = "cap"


@dataclass(frozen=True, eq=False)
class ClocksConfig:
    """``[network.clocks]``: imperfect clocks for lock-step rounds (:mod:`netsim.clocks`).

    Agent i starts its rounds ``offsets[i]`` in [-offset, offset] simulated seconds late (early
    when negative) and its rounds last D (1 + ``drifts[i]``), ``drifts[i]`` in [-drift, drift]
    (a relative rate error). The per-agent values are drawn from each agent's own stream
    unless given."""

    offset: float
    drift: float
    offsets: np.ndarray  # (n,) eps_i
    drifts: np.ndarray  # (n,) rho_i


@dataclass(frozen=True)
class NetworkConfig:
    """``[network]``: agents, the Byzantine set, links and compute time."""

    n: int
    f: int
    byzantine: tuple[int, ...]
    delay: DelayModel
    compute_time: tuple[float, ...]  # per agent, simulated seconds per round (stragglers applied)
    topology: str = "complete"
    loss: float = 0.0  # probability that a message is lost, per message
    asynchrony: AsynchronyConfig | None = None
    clocks: ClocksConfig | None = None  # imperfect clocks (lock-step rounds only)

    @property
    def honest(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.n) if i not in self.byzantine)


@dataclass(frozen=True, eq=False)
class CostsConfig:
    """``[costs]``: least-squares costs Q_i(x) = ||B_i - A_i x||^2, one per agent."""

    costs: tuple[LeastSquares, ...]
    require_redundancy: bool = False
    kind: str = "least_squares"

    @property
    def dim(self) -> int:
        return self.costs[0].dim


@dataclass(frozen=True, eq=False)
class ProtocolConfig:
    """``[protocol]``: the algorithm run by the honest agents."""

    kind: str
    filter: str
    rounds: int
    deadline: float | None  # simulated s after the round starts; None: wait for every message
    deadline_rule: str  # how the deadline was chosen (spec/ce.md, "The round deadline")
    absent: str
    x0: np.ndarray | None  # CE: (n, d) or None for [0]_{X_i} ("argmin"); CGC: w_0, shape (d,)
    step_size: Any  # a registered schedule: eta_t = step_size(t)
    mode: str = "sync"  # CGC: sync | async
    trigger: str = "deadline"  # CGC async: deadline | quorum
    staleness_bound: int | None = None  # CGC async: declared bound B on t - s_i(t)
    on_staleness: str = "warn"  # CGC async: what a breach of B does (warn | error)
    require_diminishing: bool = True  # CGC async: refuse a non-diminishing schedule
    server_compute_time: float = 0.0  # CGC: simulated s between two server rounds
    agent_queue: str = "latest"  # CGC: requests waiting at a busy agent (latest | fifo)
    clock: str = "event"  # CE: lockstep | event (netsim.clocks); the CGC server: its own clock
    round_length: float | None = None  # CE lockstep: D (simulated s)
    round_length_rule: str = ""  # how D was chosen
    round_clock: RoundClock | None = None  # CE lockstep: every agent's round starts


@dataclass(frozen=True, eq=False)
class Variant:
    """One ``[[variants]]`` entry: a name and dotted-key overrides of the base scenario."""

    name: str
    overrides: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated scenario (frozen). Build with :func:`load_scenario` or :func:`parse_scenario`."""

    name: str
    seed: int
    engine: str  # auto | fast | reference (ENGINES)
    trace: bool
    trace_format: str  # messages.csv, or messages.parquet (pyarrow)
    timing_plots: bool  # draw the timing plots after `netsim run`
    network: NetworkConfig
    costs: CostsConfig
    protocol: ProtocolConfig
    adversary: Adversary | None
    adversary_delivery: str  # "model" | "last_moment": when Byzantine messages arrive (after GST)
    variants: tuple[Variant, ...]
    raw: dict[str, Any] = field(repr=False)  # as given (what overrides edit)
    resolved: dict[str, Any] = field(repr=False)  # every default filled in (manifest.json)
    source: Path | None = None

    @property
    def dim(self) -> int:
        return self.costs.dim

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A new scenario with dotted keys replaced (``{"network.delay.mean": 0.05}``),
        validated again. Defaults that derive from other keys (the deadline, eta = 1/(n - f))
        are derived again."""
        return self._reparsed(overrides, keep_variants=True)

    def variant(self, variant: Variant | str) -> Scenario:
        """The scenario of one variant (a :class:`Variant`, or its name): its overrides applied,
        no variants of its own."""
        if isinstance(variant, str):
            names = {v.name: v for v in self.variants}
            if variant not in names:
                raise ScenarioError(
                    "variants", "no variant of that name", variant, ", ".join(names) or "none"
                )
            variant = names[variant]
        return self._reparsed(variant.overrides, keep_variants=False)

    def _reparsed(self, overrides: Mapping[str, Any], keep_variants: bool) -> Scenario:
        raw = copy_tree(self.raw)
        if not keep_variants:
            raw.pop("variants", None)
        for key, value in overrides.items():
            _set(raw, key, value)
        return parse_scenario(raw, source=self.source)

    def runs(self) -> list[tuple[str, Scenario]]:
        """(variant name, scenario) for every run; a scenario without variants is one run."""
        if not self.variants:
            return [(self.name, self)]
        return [(variant.name, self.variant(variant)) for variant in self.variants]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    raw = read_toml(path)
    raw.setdefault("name", path.stem)
    return parse_scenario(raw, source=path)


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML file, or a :class:`ScenarioError` that says why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(
            "scenario",
            f"cannot read file: {err.strerror}",
            str(path),
            "a readable scenario TOML file",
        ) from None
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ScenarioError(
            "scenario",
            f"not UTF-8 text: byte {err.object[err.start]:#04x} on line {line}",
            str(path),
            "a TOML file in UTF-8 (save it as UTF-8)",
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(
            "scenario", f"not valid TOML: {err}", str(path), "a TOML file (https://toml.io)"
        ) from None
    return raw


SCALARS = (str, int, float, bool, type(None))


def copy_tree(value: Any) -> Any:
    """A copy of parsed TOML/JSON data (dicts and lists down to scalars, shared: they are
    immutable): what ``copy.deepcopy`` gives for such data, several times faster on the long
    lists of cost matrices a large scenario holds; anything else is deep-copied."""
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, list):
        if all(isinstance(item, SCALARS) for item in value):
            return list(value)
        return [copy_tree(item) for item in value]
    if isinstance(value, dict):
        return {key: copy_tree(item) for key, item in value.items()}
    return copy.deepcopy(value)


def parse_scenario(raw: Mapping[str, Any], source: Path | None = None) -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML)."""
    raw = copy_tree(dict(raw))
    if "matrix" in raw:  # scenarios/attack_matrix.toml: a study grid over scenarios
        raise ScenarioError(
            "matrix",
            "this file is an attack-matrix grid, not a scenario",
            "[matrix]",
            "run it with: python scenarios/attack_matrix.py",
        )
    if "sweep" in raw:  # a sweep file: the scenario plus a [sweep] grid
        raise ScenarioError(
            "sweep",
            "this file is a sweep (a scenario plus a [sweep] table), not a single scenario",
            "[sweep]",
            "run it with: netsim sweep FILE",
        )
    _no_unknown(raw, TOP_KEYS, "")
    name = raw.get("name", "scenario")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ScenarioError(
            "name",
            "must be an identifier: it names the results directory and the figures",
            name,
            '1-100 of A-Z a-z 0-9 _ . -, starting with a letter or digit, e.g. "ce_paper_fig2"',
        )
    seed = as_int(raw.get("seed", 0), "seed", low=0, high=2**63 - 1)
    engine = as_choice(raw.get("engine", "auto"), "engine", ENGINES)
    network = _network(_table(raw, "network"), seed)
    costs = _costs(_table(raw, "costs"), network)
    protocol = _protocol(_table(raw, "protocol"), network, costs)
    adversary, delivery = _adversary(raw.get("adversary"), network)
    _check_silence(adversary, network, protocol)
    if network.loss > 0 and protocol.deadline is None:
        raise ScenarioError(
            "network.loss",
            "lost messages need a round deadline, or a receiver "
            "waits forever (delays are unbounded)",
            network.loss,
            "0, or set protocol.deadline",
        )
    trace = raw.get("trace", "auto")
    if trace == "auto":
        messages = network.n * (network.n - 1) * protocol.rounds
        trace = messages <= TRACE_AUTO_LIMIT
    if not isinstance(trace, bool):
        raise ScenarioError("trace", 'must be true, false or "auto"', trace, "true | false | auto")
    trace_format = as_choice(raw.get("trace_format", "csv"), "trace_format", ("csv", "parquet"))
    timing_plots = raw.get("timing_plots", False)
    if not isinstance(timing_plots, bool):
        raise ScenarioError("timing_plots", "must be true or false", timing_plots, "true | false")
    if trace_format == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ScenarioError(
            "trace_format",
            "Parquet needs pyarrow: pip install -e '.[parquet]' in the netsim checkout",
            trace_format,
            "csv, or parquet with pyarrow installed",
        )
    variants = _variants(raw.get("variants", []))
    resolved = _resolved(raw, name, seed, engine, trace, network, protocol, adversary)
    scenario = Scenario(
        name=name,
        seed=seed,
        engine=engine,
        trace=trace,
        trace_format=trace_format,
        timing_plots=timing_plots,
        network=network,
        costs=costs,
        protocol=protocol,
        adversary=adversary,
        adversary_delivery=delivery,
        variants=variants,
        raw=raw,
        resolved=resolved,
        source=source,
    )
    for variant in variants:  # every variant must be valid before anything runs
        try:
            scenario.variant(variant)
        except ScenarioError as err:
            raise ScenarioError(
                f"variants[{variant.name}].{err.key}", err.problem, err.value, err.allowed
            ) from None
    return scenario


# --- sections ----------------------------------------------------------------------------------


def _network(table: dict[str, Any], seed: int) -> NetworkConfig:
    _no_unknown(table, NETWORK_KEYS, "network")
    n = as_int(_required(table, "n", "network"), "network.n", low=2, high=MAX_AGENTS)
    f = as_int(table.get("f", 0), "network.f", low=0)
    if not 2 * f < n:
        raise ScenarioError(
            "network.f", f"must satisfy 2f < n (n={n})", f, f"0 <= f <= {(n - 1) // 2}"
        )
    byzantine = table.get("byzantine", [])
    if not isinstance(byzantine, list):
        raise ScenarioError(
            "network.byzantine",
            "must be a list of agent ids",
            byzantine,
            f"a list of distinct ids in [0, {n - 1}]",
        )
    for k, agent in enumerate(byzantine):
        as_int(agent, f"network.byzantine[{k}]", low=0, high=n - 1)
    if len(set(byzantine)) != len(byzantine):
        raise ScenarioError(
            "network.byzantine",
            "ids must be distinct",
            byzantine,
            f"a list of distinct ids in [0, {n - 1}]",
        )
    if len(byzantine) >= n:
        raise ScenarioError(
            "network.byzantine",
            "at least one agent must be honest",
            byzantine,
            f"at most {n - 1} ids",
        )
    topology = as_choice(table.get("topology", "complete"), "network.topology", ("complete",))
    delay_table = _optional_table(table, "delay", "network", {"model": "constant", "value": 0.0})
    model = delay_table.pop("model", None)
    if model is None:
        raise ScenarioError(
            "network.delay.model", "required", None, ", ".join(DELAY_MODELS.names())
        )
    delay = DELAY_MODELS.build(model, delay_table, "network.delay")
    try:
        delay = delay.for_network(n, seed)
    except ScenarioError as err:
        raise ScenarioError(
            f"network.delay.{err.key}", err.problem, err.value, err.allowed
        ) from None
    if not delay.largest_draw <= MAX_DELAY:  # simulated time must stay a finite float
        raise ScenarioError(
            "network.delay",
            f"model {delay.name!r} can draw a delay of {delay.largest_draw:.4g} s",
            delay.largest_draw,
            f"delays (times any factor) <= {MAX_DELAY:g} s",
        )
    loss = as_float(table.get("loss", 0.0), "network.loss", low=0.0, high=0.999)
    asynchrony = _asynchrony(table.get("asynchrony"))
    if asynchrony is not None and asynchrony.on_violation == "error":
        floor = delay.lower_bound
        if asynchrony.delta < floor:  # every honest message after GST would stop the run
            raise ScenarioError(
                "network.asynchrony.delta",
                f"is below the smallest delay the model draws ({floor:g} s), so with "
                'on_violation = "error" the first honest message after GST stops the run',
                asynchrony.delta,
                f'>= {floor:g}, or on_violation = "cap"',
            )
    compute = table.get("compute_time", 0.0)
    if isinstance(compute, list):
        if len(compute) != n:
            raise ScenarioError(
                "network.compute_time",
                "needs one value per agent",
                len(compute),
                f"a number or a list of {n} numbers",
            )
        compute_time = tuple(
            as_float(c, f"network.compute_time[{k}]", low=0.0) for k, c in enumerate(compute)
        )
    else:
        compute_time = (as_float(compute, "network.compute_time", low=0.0),) * n
    compute_time = tuple(c * delay.compute_factor(i) for i, c in enumerate(compute_time))
    return NetworkConfig(
        n=n,
        f=f,
        byzantine=tuple(sorted(byzantine)),
        delay=delay,
        compute_time=compute_time,
        topology=topology,
        loss=loss,
        asynchrony=asynchrony,
        clocks=_clocks(table.get("clocks"), n, seed),
    )


def _clocks(table: Any, n: int, seed: int) -> ClocksConfig | None:
    """``[network.clocks]``: bounds, and per-agent values drawn from each agent's stream
    (:func:`netsim.clocks.draw_clocks`) unless ``offsets`` / ``drifts`` give them."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ScenarioError(
            "network.clocks", "must be a table", table, "offset, drift, offsets, drifts"
        )
    _no_unknown(table, CLOCK_KEYS, "network.clocks")
    offset = as_float(table.get("offset", 0.0), "network.clocks.offset", low=0.0)
    drift = as_float(table.get("drift", 0.0), "network.clocks.drift", low=0.0, high=0.5)
    offsets, drifts = draw_clocks(seed, n, offset, drift)
    for key, bound, drawn in (("offsets", offset, offsets), ("drifts", drift, drifts)):
        values = table.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or len(values) != n:
            raise ScenarioError(
                f"network.clocks.{key}",
                "needs one value per agent",
                _shape(values),
                f"a list of {n} numbers in [-{bound}, {bound}] (network.clocks.{key[:-1]})",
            )
        drawn[:] = [
            as_float(v, f"network.clocks.{key}[{k}]", low=-bound, high=bound)
            for k, v in enumerate(values)
        ]
    return ClocksConfig(offset, drift, offsets, drifts)


def _asynchrony(table: Any) -> AsynchronyConfig | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ScenarioError(
            "network.asynchrony", "must be a table", table, "gst, delta, on_violation"
        )
    _no_unknown(table, ("gst", "delta", "on_violation"), "network.asynchrony")
    gst = as_float(table.get("gst", 0.0), "network.asynchrony.gst", low=0.0)
    delta = as_float(
        _required(table, "delta", "network.asynchrony"),
        "network.asynchrony.delta",
        low=0.0,
        low_open=True,
    )
    on_violation = as_choice(
        table.get("on_violation", "cap"), "network.asynchrony.on_violation", ("cap", "error")
    )
    return AsynchronyConfig(gst=gst, delta=delta, on_violation=on_violation)


def _costs(table: dict[str, Any], network: NetworkConfig) -> CostsConfig:
    _no_unknown(table, COSTS_KEYS, "costs")
    as_choice(table.get("kind", "least_squares"), "costs.kind", ("least_squares",))
    A = _required(table, "A", "costs")
    B = _required(table, "B", "costs")
    n = network.n
    for key, value in (("costs.A", A), ("costs.B", B)):
        if not isinstance(value, list) or len(value) != n:
            raise ScenarioError(key, "needs one entry per agent", _shape(value), f"a list of {n}")
    matrices = [_matrix(A[i], f"costs.A[{i}]") for i in range(n)]
    widths = Counter(a.shape[1] for a in matrices)
    dim = widths.most_common(1)[0][0]  # d: what most agents say, so the odd one is blamed
    costs = []
    for i, a in enumerate(matrices):
        if a.shape[1] != dim:
            raise ScenarioError(
                f"costs.A[{i}]",
                "wrong number of columns",
                a.shape[1],
                f"{dim} columns (the d of {widths[dim]} of the {n} agents)",
            )
        b = _vector(B[i], f"costs.B[{i}]")
        if b.shape[0] != a.shape[0]:
            raise ScenarioError(
                f"costs.B[{i}]",
                "length must equal the rows of costs.A",
                len(b),
                f"{a.shape[0]} entries",
            )
        cost = LeastSquares(a, b)
        if not np.all(np.isfinite(cost.pinv)):  # the projection onto argmin Q_i would overflow
            tiny = float(np.min(np.abs(a[a != 0])))
            raise ScenarioError(
                f"costs.A[{i}]",
                "is so close to singular that its pseudo-inverse overflows (the projection "
                "onto its argmin set is not representable)",
                tiny,
                "non-zero singular values above 1 / 1.8e308 ~ 5.6e-309",
            )
        costs.append(cost)
    require = table.get("require_redundancy", False)
    if not isinstance(require, bool):
        raise ScenarioError(
            "costs.require_redundancy", "must be true or false", require, "true | false"
        )
    config = CostsConfig(costs=tuple(costs), require_redundancy=require)
    if require:
        from .theory import check_redundancy  # local: theory imports costs, not config

        honest, size = len(network.honest), network.n - 2 * network.f
        if honest < size:  # more Byzantine agents than f: too few honest costs to check
            raise ScenarioError(
                "costs.require_redundancy",
                f"2f-redundancy is about subsets of n - 2f = {size} honest costs, but only "
                f"{honest} agents are honest ({len(network.byzantine)} Byzantine, f = "
                f"{network.f})",
                True,
                f"false, or at most 2f = {2 * network.f} agents in network.byzantine",
            )
        report = check_redundancy([costs[i] for i in network.honest], network.n, network.f)
        if not report.holds:
            raise ScenarioError(
                "costs",
                f"not 2f-redundant: {report.explain()}",
                None,
                "every n - 2f honest costs share the honest minimizers",
            )
    return config


def _protocol(table: dict[str, Any], network: NetworkConfig, costs: CostsConfig) -> ProtocolConfig:
    _no_unknown(table, PROTOCOL_KEYS, "protocol")
    kind = as_choice(table.get("kind", "ce"), "protocol.kind", PROTOCOLS)
    for key in CGC_ONLY_KEYS if kind == "ce" else CE_ONLY_KEYS:
        if key in table:
            why = SERVER_CLOCK if key in ("clock", "round_length") else ""
            raise ScenarioError(
                f"protocol.{key}",
                f"does not apply to protocol.kind = {kind!r}{why}",
                table[key],
                "remove it",
            )
    if kind == "cgc" and network.clocks is not None:
        raise ScenarioError(
            "network.clocks",
            f"does not apply to protocol.kind = 'cgc'{SERVER_CLOCK}",
            "[network.clocks]",
            "remove it",
        )
    rounds = as_int(table.get("rounds", 300), "protocol.rounds", low=1)
    _check_record_memory(rounds, network.n, costs.dim)
    if kind == "ce":
        return _ce_protocol(table, network, costs, rounds)
    return _cgc_protocol(table, network, costs, rounds)


def _check_record_memory(rounds: int, n: int, dim: int) -> None:
    """A run keeps, per round and agent, its estimate (d floats), distance and time: refuse a
    run whose records alone would exceed :data:`RECORD_BYTES` before it starts."""
    per_round = n * (dim + 2) * 8
    if (rounds + 1) * per_round > RECORD_BYTES:
        most = RECORD_BYTES // per_round - 1
        raise ScenarioError(
            "protocol.rounds",
            f"the run's per-round records would need {(rounds + 1) * per_round / 2**30:.3g} GiB "
            f"((rounds + 1) x n x (d + 2) x 8 bytes, n = {n}, d = {dim})",
            rounds,
            f"1..{most} (at most {RECORD_BYTES / 2**30:g} GiB of records)",
        )


def _ce_protocol(
    table: dict[str, Any], network: NetworkConfig, costs: CostsConfig, rounds: int
) -> ProtocolConfig:
    pipeline = parse_filter(table.get("filter", "ce"), PEER_RULES)
    n, f = network.n, network.f
    if not n - 1 - f >= 1:
        raise ScenarioError("network.f", f"CE needs n - 1 - f >= 1 (n={n})", f, f"f <= {n - 2}")
    pipeline.check(n - 1, f)  # a peer filters the n - 1 values it receives
    absent = as_choice(table.get("absent", "eliminated"), "protocol.absent", ABSENT_POLICIES)
    deadline, rule = _deadline(table, network, round_trip=False)
    clock, round_length, length_rule = _round_clock(table, network, deadline)
    round_clock = None
    if clock == "lockstep":
        assert round_length is not None
        round_clock = _lockstep(round_length, network)
    step_size = _step_size(table, {"schedule": "constant", "eta": 1.0 / (n - f)})
    x0 = _initial_points(table.get("x0", "argmin"), network, costs)
    return ProtocolConfig(
        kind="ce",
        filter=pipeline.name,
        rounds=rounds,
        deadline=deadline,
        deadline_rule=rule,
        absent=absent,
        x0=x0,
        step_size=step_size,
        clock=clock,
        round_length=round_length,
        round_length_rule=length_rule,
        round_clock=round_clock,
    )


def _round_clock(
    table: dict[str, Any], network: NetworkConfig, deadline: float | None
) -> tuple[str, float | None, str]:
    """The CE round clock, D and how D was chosen (netsim.clocks; spec: "Rounds (CE) and their
    clock"). Lock-step is the default wherever a round deadline applies (given, from Delta, or
    from a bounded delay model) or a round length or imperfect clocks are given; else the event
    clock (every agent waits for all n - 1 values, and the two clocks give the same
    estimates)."""
    length = table.get("round_length")
    wanted = deadline is not None or length is not None or network.clocks is not None
    default = "lockstep" if wanted else "event"
    clock = as_choice(table.get("clock", default), "protocol.clock", CLOCKS)
    if clock == "event":
        if length is not None:
            raise ScenarioError(
                "protocol.round_length",
                "only lock-step rounds have a length (protocol.clock = 'event': each agent "
                "ends a round at its last arrival or its own deadline)",
                length,
                'remove it, or set protocol.clock = "lockstep"',
            )
        if network.clocks is not None:
            raise ScenarioError(
                "network.clocks",
                "imperfect clocks apply to lock-step rounds only (protocol.clock = 'event' "
                "keeps no shared clock)",
                "[network.clocks]",
                'remove it, or set protocol.clock = "lockstep"',
            )
        return clock, None, ""
    compute = max(network.compute_time)
    if length is not None:
        return (
            clock,
            as_float(length, "protocol.round_length", low=0.0, low_open=True),
            ("protocol.round_length"),
        )
    given = table.get("deadline")
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        return clock, (deadline + compute) * SLACK, "protocol.deadline + compute time"
    if network.asynchrony is not None:
        return (
            clock,
            (network.asynchrony.delta + compute) * SLACK,
            ("network.asynchrony.delta + compute time"),
        )
    if math.isfinite(network.delay.upper_bound) and network.delay.upper_bound + compute > 0:
        return clock, (network.delay.upper_bound + compute) * SLACK, ("delay bound + compute time")
    raise ScenarioError(
        "protocol.round_length",
        "lock-step rounds need a length: delays are unbounded (or zero) and no "
        "network.asynchrony.delta or protocol.deadline gives one",
        None,
        'a number > 0 (simulated s), or protocol.clock = "event"',
    )


def _lockstep(round_length: float, network: NetworkConfig) -> RoundClock:
    """Every agent's lock-step round starts; a round must leave time to compute and send."""
    clocks = network.clocks
    if clocks is None:
        clock = RoundClock.perfect(round_length, network.n)
    else:
        clock = RoundClock.skewed(round_length, clocks.offset, clocks.offsets, clocks.drifts)
    slowest = int(np.argmax(np.asarray(network.compute_time) - clock.periods))
    if not network.compute_time[slowest] < clock.periods[slowest]:
        raise ScenarioError(
            "protocol.round_length",
            f"agent {slowest} computes for {network.compute_time[slowest]:.6g} s, which leaves "
            f"no time to send in its round of {clock.periods[slowest]:.6g} s (D times its "
            "clock rate)",
            round_length,
            f"> {network.compute_time[slowest] / (clock.periods[slowest] / round_length):.6g}",
        )
    return clock


def _cgc_protocol(
    table: dict[str, Any], network: NetworkConfig, costs: CostsConfig, rounds: int
) -> ProtocolConfig:
    pipeline = parse_filter(table.get("filter", "cgc"), SERVER_RULES)
    pipeline.check(network.n, network.f)
    mode = as_choice(table.get("mode", "sync"), "protocol.mode", ("sync", "async"))
    trigger = as_choice(
        table.get("trigger", "deadline"), "protocol.trigger", ("deadline", "quorum")
    )
    if mode == "sync" and "trigger" in table:
        raise ScenarioError(
            "protocol.trigger",
            "only the asynchronous server has a trigger",
            trigger,
            'set protocol.mode = "async" or remove it',
        )
    server_compute = as_float(
        table.get("server_compute_time", 0.0), "protocol.server_compute_time", low=0.0
    )
    deadline, rule = _deadline(table, network, round_trip=True)
    if mode == "async" and trigger == "deadline" and deadline is None:
        raise ScenarioError(
            "protocol.deadline",
            "the deadline trigger needs a deadline (delays are unbounded)",
            None,
            "a number > 0 (simulated s)",
        )
    if "step_size" in table:
        step_size = _step_size(table, {})
    else:  # Theorem 2's constants are computed only when the step comes from them
        step_size = _default_cgc_step(mode, network, costs)
    require = table.get("require_diminishing", True)
    if not isinstance(require, bool):
        raise ScenarioError(
            "protocol.require_diminishing", "must be true or false", require, "true | false"
        )
    if mode == "async" and require and not step_size.diminishing:
        raise ScenarioError(
            "protocol.step_size.schedule",
            "the asynchronous server needs sum eta_t = inf and sum eta_t^2 < inf "
            f"({step_size.name!r} does not have both; set protocol.require_diminishing = false "
            "to study it anyway)",
            step_size.name,
            "harmonic | power with 1/2 < p <= 1",
        )
    bound = table.get("staleness_bound")
    if bound is not None:
        bound = as_int(bound, "protocol.staleness_bound", low=0)
    on_staleness = as_choice(
        table.get("on_staleness", "warn"), "protocol.on_staleness", ("warn", "error")
    )
    x0 = table.get("x0", [0.0] * costs.dim)
    if not isinstance(x0, list) or len(x0) != costs.dim:
        raise ScenarioError(
            "protocol.x0",
            "the server starts from one point w_0",
            _shape(x0),
            f"a list of {costs.dim} numbers",
        )
    w0 = _vector(x0, "protocol.x0")
    agent_queue = as_choice(
        table.get("agent_queue", "latest"), "protocol.agent_queue", ("latest", "fifo")
    )
    return ProtocolConfig(
        kind="cgc",
        filter=pipeline.name,
        rounds=rounds,
        deadline=deadline,
        deadline_rule=rule,
        absent="eliminated",
        x0=w0,
        step_size=step_size,
        mode=mode,
        trigger=trigger,
        staleness_bound=bound,
        on_staleness=on_staleness,
        require_diminishing=require,
        server_compute_time=server_compute,
        agent_queue=agent_queue,
    )


def _default_cgc_step(mode: str, network: NetworkConfig, costs: CostsConfig) -> Any:
    """The CGC step when the scenario gives none: eta = eta_bar / 2 (Theorem 2) in sync mode;
    in async mode netsim's choice eta_0 = 1/(n mu), then a / (t + b) with a = 4 / ((n - f) lam),
    large enough for the error to fall like a power of t."""
    from .theory import cgc_constants  # local: theory imports costs only

    n, f = network.n, network.f
    constants = cgc_constants([costs.costs[i] for i in network.honest], n, f)
    if mode == "sync":
        if not constants.alpha > 0:
            raise ScenarioError(
                "protocol.step_size",
                "required: Theorem 2 gives no step when "
                f"alpha <= 0 (alpha = {constants.alpha:.4g})",
                None,
                "a [protocol.step_size] table",
            )
        return _step_size({}, {"schedule": "constant", "eta": constants.eta_bar / 2})
    a = 4.0 / ((n - f) * constants.lam) if constants.lam > 0 else 1.0 / (n * constants.mu)
    return _step_size({}, {"schedule": "harmonic", "a": a, "b": a * n * constants.mu})


def _deadline(
    table: dict[str, Any], network: NetworkConfig, round_trip: bool
) -> tuple[float | None, str]:
    """The round deadline and how it was chosen (spec/ce.md, "The round deadline"): given (a
    number, or "none" to wait for every message); or the declared Delta; or the delay bound plus
    compute time (twice the one-way delay for the server's round trip); or none. A derived
    deadline carries a relative slack of 1e-9 (``SLACK``): a message that takes exactly the
    bound must count although s + d + d and s + 2d differ in the last bit."""
    compute = max(network.compute_time)
    if table.get("deadline") == "none":
        return None, 'protocol.deadline = "none": waits for every message'
    if table.get("deadline") is not None:
        deadline = as_float(table["deadline"], "protocol.deadline", low=0.0, low_open=True)
        return deadline, "protocol.deadline"
    if network.asynchrony is not None:  # spec/ce.md: Delta (the server: a round trip)
        delta = network.asynchrony.delta
        if round_trip:
            return (2 * delta + compute) * SLACK, "2 x network.asynchrony.delta + compute time"
        return delta * SLACK, "network.asynchrony.delta"
    if math.isfinite(network.delay.upper_bound):
        hops = 2 if round_trip else 1
        deadline = (hops * network.delay.upper_bound + compute) * SLACK
        if deadline == 0.0:
            return None, "none (zero delay and compute)"
        return deadline, (
            "2 x delay bound + compute time" if round_trip else "delay bound + compute time"
        )
    return None, "waits for every message (unbounded delays)"


def _step_size(table: dict[str, Any], default: dict[str, Any]) -> Any:
    step_table = _optional_table(table, "step_size", "protocol", default)
    schedule = step_table.pop("schedule", "constant")
    step = STEP_SIZES.build(schedule, step_table, "protocol.step_size")
    first = step(0)
    if not (math.isfinite(first) and first > 0):  # e.g. a power step whose b^p overflows
        raise ScenarioError(
            "protocol.step_size",
            f"the first step eta_0 is {first!r}: the estimates would never move",
            _plugin_table(step, "schedule"),
            "a schedule with a finite eta_0 > 0",
        )
    return step


def _initial_points(value: Any, network: NetworkConfig, costs: CostsConfig) -> np.ndarray | None:
    if value == "argmin":
        return None
    if not isinstance(value, list) or len(value) != network.n:
        raise ScenarioError(
            "protocol.x0",
            'must be "argmin" or one point per agent',
            _shape(value),
            f'"argmin" or a list of {network.n} vectors',
        )
    points = np.array([_vector(v, f"protocol.x0[{i}]") for i, v in enumerate(value)], dtype=object)
    for i, point in enumerate(points):
        if len(point) != costs.dim:
            raise ScenarioError(
                f"protocol.x0[{i}]", "wrong dimension", len(point), f"{costs.dim} entries"
            )
    return np.vstack(list(points)).astype(np.float64)


def _check_silence(
    adversary: Adversary | None, network: NetworkConfig, protocol: ProtocolConfig
) -> None:
    """An attack that never sends some values (its ``withholds_from``) with no round deadline:
    a receiver that waits for every message waits forever (the asynchronous server on a quorum
    of n - f does not)."""
    withholds_from = getattr(adversary, "withholds_from", None)
    if withholds_from is None or not network.byzantine:
        return
    if protocol.deadline is not None or protocol.round_length is not None:
        return  # a deadline, or lock-step rounds of a fixed length, end every round
    if protocol.kind == "cgc" and protocol.mode == "async" and protocol.trigger == "quorum":
        if len(network.byzantine) <= network.f:
            return
    server = protocol.kind == "cgc"
    silent = withholds_from([-1] if server else list(network.honest))
    if silent is None or silent >= protocol.rounds:
        return
    waiting = "the server" if server else "an honest agent"
    raise ScenarioError(
        "protocol.deadline",
        f"the attack withholds values from round {silent} on, and without a round deadline "
        f"{waiting} waits for them forever",
        None,
        "a number > 0 (simulated s), or delays with a finite bound (a deadline is derived)",
    )


def _adversary(table: Any, network: NetworkConfig) -> tuple[Adversary | None, str]:
    """The adversary and how its messages are delivered (``adversary.delivery``)."""
    if table is None:
        table = {"kind": "random_uniform"} if network.byzantine else None
    if table is None:
        return None, "model"
    if not isinstance(table, dict):
        raise ScenarioError("adversary", "must be a table", table, "a table with kind = ...")
    params = dict(table)
    delivery = as_choice(
        params.pop("delivery", "model"), "adversary.delivery", ("model", "last_moment")
    )
    kind = params.pop("kind", None)
    if kind is None:
        raise ScenarioError("adversary.kind", "required", None, ", ".join(ADVERSARIES.names()))
    adversary = ADVERSARIES.build(kind, params, "adversary")
    if kind == "mimic":  # it copies an honest agent: the lowest honest id unless told
        honest = network.honest
        if adversary.target is None and honest:
            adversary = dataclasses.replace(adversary, target=honest[0])
        if adversary.target not in honest:
            raise ScenarioError(
                "adversary.target",
                "must be an honest agent (mimic copies an honest agent's messages)",
                adversary.target,
                ", ".join(map(str, honest)) or "none (no honest agent)",
            )
    return adversary, delivery


def _variants(entries: Any) -> tuple[Variant, ...]:
    if not isinstance(entries, list):
        raise ScenarioError(
            "variants", "must be an array of tables", entries, "[[variants]] tables"
        )
    variants = []
    seen = set()
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ScenarioError(
                f"variants[{k}].name",
                "every variant needs a name",
                entry,
                'name = "..." and dotted overrides',
            )
        overrides = _flatten({key: value for key, value in entry.items() if key != "name"})
        if "variants" in {key.split(".")[0] for key in overrides}:
            raise ScenarioError(
                f"variants[{k}]",
                "a variant cannot define variants",
                entry,
                "dotted overrides of the base scenario",
            )
        if entry["name"] in seen:
            raise ScenarioError(
                f"variants[{k}].name", "duplicate variant name", entry["name"], "distinct names"
            )
        seen.add(entry["name"])
        variants.append(Variant(name=entry["name"], overrides=overrides))
    return tuple(variants)


def _resolved(
    raw: dict[str, Any],
    name: str,
    seed: int,
    engine: str,
    trace: bool,
    network: NetworkConfig,
    protocol: ProtocolConfig,
    adversary: Adversary | None,
) -> dict[str, Any]:
    """The scenario as a dict with every default filled in (manifest.json)."""
    resolved = copy_tree(raw)
    resolved.update(name=name, seed=seed, engine=engine, trace=trace)
    net = resolved.setdefault("network", {})
    net.setdefault("f", network.f)
    net.setdefault("byzantine", list(network.byzantine))
    net.setdefault("topology", network.topology)
    net.setdefault("loss", network.loss)
    net.setdefault("delay", _plugin_table(network.delay, "model"))
    net.setdefault(
        "compute_time",
        network.compute_time[0]
        if len(set(network.compute_time)) == 1
        else list(network.compute_time),
    )
    proto = resolved.setdefault("protocol", {})
    proto.setdefault("kind", protocol.kind)
    proto.setdefault("filter", protocol.filter)
    proto.setdefault("rounds", protocol.rounds)
    if protocol.kind == "ce":
        proto.setdefault("absent", protocol.absent)
        proto.setdefault("x0", "argmin")
        proto.setdefault("clock", protocol.clock)
        if protocol.round_length is not None:
            proto.setdefault("round_length", protocol.round_length)
    else:
        proto.setdefault("mode", protocol.mode)
        if protocol.mode == "async":
            proto.setdefault("trigger", protocol.trigger)
            proto.setdefault("require_diminishing", protocol.require_diminishing)
            proto.setdefault("on_staleness", protocol.on_staleness)
        proto.setdefault("x0", np.asarray(protocol.x0).tolist())
        proto.setdefault("server_compute_time", protocol.server_compute_time)
        proto.setdefault("agent_queue", protocol.agent_queue)
    if protocol.deadline is not None:
        proto.setdefault("deadline", protocol.deadline)
    step = protocol.step_size
    proto.setdefault("step_size", _plugin_table(step, "schedule"))
    resolved.setdefault("costs", {}).setdefault("kind", "least_squares")
    if adversary is not None and "adversary" not in resolved:
        resolved["adversary"] = _plugin_table(adversary, "kind")
    return resolved


def _plugin_table(plugin: Any, name_key: str) -> dict[str, Any]:
    """A plug-in as the scenario table that builds it (scenario names, no None values)."""
    shown = {name: key for key, name in getattr(plugin, "scenario_names", {}).items()}
    table: dict[str, Any] = {name_key: plugin.name}
    for parameter in dataclasses.fields(plugin):
        value = getattr(plugin, parameter.name)
        if value is not None:
            table[shown.get(parameter.name, parameter.name)] = _plain(value)
    return table


def _plain(value: Any) -> Any:
    """A plug-in parameter as TOML/JSON data: nested plug-ins as tables, tuples as lists."""
    if dataclasses.is_dataclass(value) and hasattr(value, "name"):
        return _plugin_table(value, "model")
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


# --- small parsers -----------------------------------------------------------------------------


def _table(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ScenarioError(
            key,
            "required table is missing" if value is None else "must be a table",
            value,
            f"a [{key}] table",
        )
    return value


def _optional_table(
    table: Mapping[str, Any], key: str, prefix: str, default: Mapping[str, Any]
) -> dict[str, Any]:
    """A copy of the sub-table ``table[key]`` (``default`` when absent); a value that is not a
    table is an error naming ``prefix.key``."""
    value = table.get(key, default)
    if not isinstance(value, dict):
        raise ScenarioError(
            f"{prefix}.{key}", "must be a table", value, f"a [{prefix}.{key}] table"
        )
    return dict(value)


def _required(table: Mapping[str, Any], key: str, prefix: str) -> Any:
    if key not in table:
        raise ScenarioError(f"{prefix}.{key}", "required", None, "see docs/scenario.md")
    return table[key]


def _no_unknown(table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            dotted = f"{prefix}.{key}" if prefix else key
            shown = ", ".join(k for k in allowed if not k.startswith("_"))
            raise ScenarioError(dotted, "unknown key", table[key], shown)


def _matrix(value: Any, key: str) -> np.ndarray:
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise ScenarioError(
            key,
            "must be a non-empty matrix (a list of rows)",
            _shape(value),
            "[[a11, a12, ...], ...]",
        )
    widths = {len(row) for row in value}
    if len(widths) != 1 or 0 in widths:
        raise ScenarioError(
            key, "rows must all have the same, non-zero length", sorted(widths), "rows of d numbers"
        )
    for r, row in enumerate(value):
        for c, entry in enumerate(row):
            as_float(entry, f"{key}[{r}][{c}]", low=-MAGNITUDE, high=MAGNITUDE)
    return np.asarray(value, dtype=np.float64)


def _vector(value: Any, key: str) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise ScenarioError(
            key, "must be a non-empty list of numbers", _shape(value), "[v1, v2, ...]"
        )
    for c, entry in enumerate(value):
        as_float(entry, f"{key}[{c}]", low=-MAGNITUDE, high=MAGNITUDE)
    return np.asarray(value, dtype=np.float64)


def _shape(value: Any) -> Any:
    return f"a list of {len(value)}" if isinstance(value, list) else value


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted.split(".")[-1] not in (
            "delay",
            "step_size",
            "adversary",
        ):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = raw
    for k, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ScenarioError(
                ".".join(parts[: k + 1]),
                "is not a table",
                child,
                "a table to hold the overridden key",
            )
        node = child
    node[parts[-1]] = value
