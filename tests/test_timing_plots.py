"""Timing figures: the numbers behind them by hand, against real runs, and that each is drawn."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

import netsim
from netsim.message_trace import (
    decision_shares,
    delay_groups,
    delays_by_class,
    delays_differ,
    ks_distance,
    link_classes,
    message_arrows,
    read_messages,
    reply_intervals,
    round_intervals,
)
from netsim.results import read_metrics
from netsim.timing_plots import (
    draw_timing_plots,
    plot_agent_timeline,
    plot_filter_decisions,
    plot_message_sequence,
)

PNG = b"\x89PNG\r\n\x1a\n"
COLUMNS = (
    "variant",
    "round",
    "sender",
    "receiver",
    "send_time",
    "arrival_time",
    "delivered",
    "byzantine",
    "decision",
)


def table(*rows: tuple[Any, ...]) -> dict[str, np.ndarray]:
    """Message columns from rows (variant, round, sender, receiver, send, arrival, delivered,
    byzantine, decision), typed as read_messages types them."""
    columns = list(zip(*rows))
    kinds = (object, np.int64, np.int64, np.int64, float, float, bool, bool, object)
    return {name: np.array(col, dtype=k) for name, col, k in zip(COLUMNS, columns, kinds)}


def summary_of(n: int = 4, byzantine: tuple[int, ...] = (0,), protocol: str = "ce", **variants):
    info = {
        "protocol": protocol,
        "filter": "cgc" if protocol == "cgc" else "ce",
        "n": n,
        "f": 1,
        "byzantine": list(byzantine),
        "delay_model": "constant",
        "rounds": 2,
        "sim_time_end": 1.0,
        "final_distance": 0.0,
    }
    names = variants or {"A": {}}
    return {
        "scenario": "tiny",
        "seed": 0,
        "variants": {name: {**info, **extra} for name, extra in names.items()},
    }


def is_png(path: Path | None) -> bool:
    return path is not None and path.read_bytes()[:8] == PNG


# A 4-agent CE round by hand: agent 0 Byzantine, f = 1. Decisions as an honest receiver saw them.
NAN = float("nan")
CE_ROWS = (
    # round 0
    ("A", 0, 0, 1, 0.0, 0.1, True, True, "eliminated"),
    ("A", 0, 0, 2, 0.0, 0.2, True, True, "kept"),
    ("A", 0, 0, 3, 0.0, NAN, False, True, "lost"),  # not in time: not counted
    ("A", 0, 1, 2, 0.0, 0.3, True, False, "kept"),
    ("A", 0, 1, 3, 0.0, 0.1, True, False, "eliminated"),
    ("A", 0, 2, 1, 0.0, 0.2, True, False, "kept"),
    ("A", 0, 2, 3, 0.0, 0.4, True, False, "kept"),
    ("A", 0, 3, 1, 0.0, 0.9, True, False, "late"),  # not in time: not counted
    ("A", 0, 1, 0, 0.0, 0.5, True, False, "kept"),  # to the Byzantine agent: not counted
    # round 1: nothing from the Byzantine agent arrives in time
    ("A", 1, 0, 1, 1.0, 2.5, True, True, "late"),
    ("A", 1, 1, 2, 1.0, 1.2, True, False, "eliminated"),
    ("A", 1, 2, 1, 1.0, 1.1, True, False, "eliminated"),
)


def test_decision_shares_count_only_values_in_time_to_honest_receivers():
    shares = decision_shares(table(*CE_ROWS), "A", [0])
    assert shares["round"].tolist() == [0, 1]
    # round 0: Byzantine 0->1 eliminated, 0->2 kept (0->3 lost); honest 1->2, 1->3 (eliminated),
    # 2->1, 2->3 in time (3->1 late, 1->0 to a Byzantine receiver)
    assert shares["byzantine_values"].tolist() == [2, 0]
    assert shares["byzantine_filtered"].tolist() == [1, 0]
    assert shares["honest_values"].tolist() == [4, 2]
    assert shares["honest_eliminated"].tolist() == [1, 2]
    assert shares["byzantine_share"][0] == 0.5
    assert math.isnan(shares["byzantine_share"][1])  # no Byzantine value in time
    assert shares["honest_share"].tolist() == [0.25, 1.0]
    # missed: 3->1 late of the 5 honest values sent to honest receivers in round 0
    assert shares["honest_sent"].tolist() == [5, 2]
    assert shares["honest_missed"].tolist() == [1, 0]
    assert shares["honest_missed_share"].tolist() == [0.2, 0.0]


def test_decision_shares_at_the_server_ignore_its_requests_and_count_clipping():
    messages = table(
        ("A", 0, -1, 0, 0.0, 0.1, True, False, "kept"),  # requests: not values
        ("A", 0, -1, 1, 0.0, 0.1, True, False, "eliminated"),
        ("A", 0, 0, -1, 0.2, 0.3, True, False, "kept"),
        ("A", 0, 1, -1, 0.2, 0.3, True, False, "clipped"),
        ("A", 0, 2, -1, 0.2, 0.3, True, False, "eliminated"),
        ("A", 0, 3, -1, 0.2, 0.3, True, True, "clipped"),
    )
    shares = decision_shares(messages, "A", [3])
    assert shares["byzantine_values"].tolist() == [1]
    assert shares["byzantine_share"].tolist() == [1.0]
    assert shares["honest_values"].tolist() == [3]
    assert shares["honest_share"].tolist() == [pytest.approx(1 / 3)]
    assert shares["honest_clipped_share"].tolist() == [pytest.approx(1 / 3)]


decisions = st.sampled_from(["kept", "eliminated", "clipped", "late", "lost"])
message_rows = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.integers(-1, 4),
        st.integers(-1, 4),
        st.booleans(),
        decisions,
    ),
    min_size=1,
    max_size=40,
)


@given(message_rows)
@settings(max_examples=60, deadline=None)
def test_decision_shares_are_shares(rows):
    messages = table(*[("A", r, s, t, 0.0, 1.0, d != "lost", byz, d) for r, s, t, byz, d in rows])
    shares = decision_shares(messages, "A", [0])
    assert np.all(shares["byzantine_filtered"] <= shares["byzantine_values"])
    assert np.all(shares["honest_eliminated"] + shares["honest_clipped"] <= shares["honest_values"])
    assert np.all(shares["honest_values"] + shares["honest_missed"] <= shares["honest_sent"])
    for name in ("byzantine_share", "honest_share", "honest_clipped_share", "honest_missed_share"):
        share = shares[name][~np.isnan(shares[name])]
        assert np.all((share >= 0) & (share <= 1))


def test_link_classes_name_each_link():
    classes = link_classes(
        sender=np.array([1, 0, 1, -1, 2, 3, 0]),
        receiver=np.array([2, 1, 0, 2, -1, -1, 0]),
        sender_byzantine=np.array([False, True, False, False, False, True, True]),
        byzantine=[0, 3],
    )
    assert classes.tolist() == [
        "honest -> honest",
        "Byzantine -> honest",
        "honest -> Byzantine",
        "server -> agent",
        "agent -> server",
        "Byzantine -> server",
        "Byzantine -> Byzantine",
    ]


def test_delays_by_class_are_sorted_delivered_delays():
    delays = delays_by_class(table(*CE_ROWS), "A", [0])
    assert list(delays) == ["honest -> honest", "Byzantine -> honest", "honest -> Byzantine"]
    np.testing.assert_allclose(delays["Byzantine -> honest"], [0.1, 0.2, 1.5])  # lost: none
    np.testing.assert_allclose(delays["honest -> honest"], [0.1, 0.1, 0.2, 0.2, 0.3, 0.4, 0.9])
    np.testing.assert_allclose(delays["honest -> Byzantine"], [0.5])


def test_delay_groups_put_variants_with_identical_delays_together():
    rows = []
    for variant, delay in (("A", 0.1), ("B", 0.1), ("C", 0.3)):
        rows += [(variant, 0, 1, 2, 0.0, delay, True, False, "kept")]
        rows += [(variant, 0, 2, 1, 1.0, 1.0 + 2 * delay, True, False, "kept")]
    summary = summary_of(A={}, B={}, C={})
    assert delay_groups(summary, table(*rows)) == [["A", "B"], ["C"]]


def test_ks_distance_by_hand():
    assert ks_distance(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == 0.0
    assert ks_distance(np.array([1.0, 2]), np.array([3.0, 4])) == 1.0
    # at 2: F_a = 1/2, F_b = 0; at 4: F_a = 1, F_b = 1/2
    assert ks_distance(np.array([1.0, 2, 3, 4]), np.array([3.0, 4, 5, 6])) == 0.5


def test_delays_differ_only_for_another_distribution_or_new_links():
    rng = np.random.default_rng(1)
    base = {"honest -> honest": rng.exponential(0.01, 400)}
    same_law = {"honest -> honest": rng.exponential(0.01, 400)}
    slower = {"honest -> honest": rng.exponential(0.05, 400)}
    assert not delays_differ(base, base)
    assert not delays_differ(base, same_law)
    assert delays_differ(base, slower)
    with_byzantine = {**base, "Byzantine -> honest": np.array([0.01])}
    assert delays_differ(base, with_byzantine)  # a class the first lacks
    assert not delays_differ(with_byzantine, base)  # a silent Byzantine agent: no news


def test_round_intervals_by_hand():
    waiting, computing = round_intervals(np.array([1.0, 2.5, 3.5]), compute_time=0.5)
    np.testing.assert_allclose(waiting, [[0.0, 1.0], [1.5, 2.5], [3.0, 3.5]])
    np.testing.assert_allclose(computing, [[1.0, 1.5], [2.5, 3.0], [3.5, 4.0]])
    waiting, computing = round_intervals(np.array([]), compute_time=0.5)  # no round completed
    assert waiting.shape == computing.shape == (0, 2)


def test_reply_intervals_start_when_both_the_request_and_the_agent_are_there():
    messages = table(
        ("A", 0, -1, 2, 0.0, 0.01, True, False, "kept"),
        ("A", 1, -1, 2, 0.015, 0.02, True, False, "kept"),  # arrives while agent 2 is busy
        ("A", 2, -1, 2, 0.08, 0.09, True, False, "kept"),
        ("A", 0, 2, -1, 0.03, 0.04, True, False, "kept"),
        ("A", 1, 2, -1, 0.05, 0.06, True, False, "kept"),
        ("A", 2, 2, -1, 0.11, 0.12, True, False, "kept"),
        ("A", 0, 1, -1, 0.03, 0.04, True, False, "kept"),  # another agent
    )
    np.testing.assert_allclose(
        reply_intervals(messages, "A", 2), [[0.01, 0.03], [0.03, 0.05], [0.09, 0.11]]
    )


def test_lost_message_is_a_stub_a_third_of_the_way():
    messages = table(
        ("A", 0, 0, 2, 1.0, NAN, False, False, "lost"),
        ("A", 0, 2, 0, 1.0, 1.4, True, False, "late"),
    )
    arrows = message_arrows(messages, lane={0: 0, 2: 2}, stub=0.1)
    assert arrows["lost"].tolist() == [True, False]
    assert arrows["late"].tolist() == [False, True]
    np.testing.assert_allclose(arrows["x1"], [1.1, 1.4])
    np.testing.assert_allclose(arrows["y1"], [0.7, 0.0])


def test_read_messages_parses_flags_and_missing_arrivals(tmp_path):
    path = tmp_path / "messages.csv"
    path.write_text(
        ",".join(COLUMNS) + "\n"
        'A,0,1,2,0.0,0.25,true,false,kept\n"B, c",0,0,-1,0.5,nan,false,true,lost\n'
        "B,1,-1,0,1.0,,false,false,lost\n"
    )
    messages = read_messages(path)
    assert messages["variant"].tolist() == ["A", "B, c", "B"]
    assert messages["receiver"].tolist() == [2, -1, 0]
    assert messages["delivered"].tolist() == [True, False, False]
    assert messages["byzantine"].tolist() == [False, True, False]
    assert messages["arrival_time"][0] == 0.25
    assert np.isnan(messages["arrival_time"][1:]).all()
    assert messages["decision"].tolist() == ["kept", "lost", "lost"]
    assert read_messages(tmp_path / "none.csv") is None


def test_read_messages_reads_parquet_too(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    written = table(*CE_ROWS)
    columns = {k: v.astype(str) if v.dtype == object else v for k, v in written.items()}
    pq.write_table(pa.table(columns), tmp_path / "messages.parquet")
    messages = read_messages(tmp_path / "messages.parquet")
    for name in COLUMNS:
        np.testing.assert_array_equal(messages[name], written[name])
        assert messages[name].dtype == written[name].dtype


def test_message_sequence_is_not_drawn_for_more_than_12_nodes(tmp_path):
    messages = table(("A", 0, 1, 2, 0.0, 0.1, True, False, "kept"))
    assert plot_message_sequence(summary_of(n=13), messages, tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists()


def test_lost_and_late_messages_are_drawn(tmp_path):
    path = plot_message_sequence(summary_of(), table(*CE_ROWS), tmp_path / "msc.png", rounds=2)
    assert is_png(path)


def test_clipped_values_at_the_server_are_drawn(tmp_path):
    messages = table(
        ("A", 0, -1, 0, 0.0, 0.1, True, False, "kept"),
        ("A", 0, 0, -1, 0.2, 0.3, True, False, "clipped"),
        ("A", 0, 1, -1, 0.2, 0.3, True, False, "kept"),
        ("A", 0, 3, -1, 0.2, NAN, False, True, "lost"),
        ("A", 1, 0, -1, 0.6, 0.7, True, False, "kept"),
        ("A", 1, 3, -1, 0.6, 0.9, True, True, "clipped"),
    )
    summary = summary_of(byzantine=(3,), protocol="cgc")
    assert is_png(plot_filter_decisions(summary, messages, tmp_path / "decisions.png"))


# --- real runs (10 rounds), read back from their files ---------------------------------------


def run_and_read(name: str, out: Path, **overrides: Any) -> tuple[dict, dict, dict, Any]:
    scenario = netsim.load_scenario(ROOT / "scenarios" / f"{name}.toml")
    result = netsim.run(scenario.with_overrides({"protocol.rounds": 10, **overrides}), out=out)
    summary = json.loads((out / "summary.json").read_text())
    return summary, read_metrics(out / "metrics.csv"), read_messages(out / "messages.csv"), result


LOSS = {"network.loss": 0.1}


@pytest.fixture(scope="module")
def drift(tmp_path_factory):
    """ce_deadline_drift with 10 % of the messages lost: CE with a deadline, late and lost
    messages, three variants."""
    return run_and_read("ce_deadline_drift", tmp_path_factory.mktemp("drift"), **LOSS)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """cgc_async: the CGC server with a straggler (agent 3 computes 100 ms, the others 5 ms)."""
    return run_and_read("cgc_async", tmp_path_factory.mktemp("async"))


def test_read_messages_reads_back_the_trace(drift):
    _, _, messages, result = drift
    traced = result.messages
    for name in ("round", "sender", "receiver", "send_time", "arrival_time"):
        np.testing.assert_array_equal(messages[name], traced[name])
    np.testing.assert_array_equal(messages["delivered"], traced["delivered"])
    np.testing.assert_array_equal(messages["byzantine"], traced["byzantine"])
    assert messages["variant"].tolist() == traced["variant"].tolist()
    assert {"late", "lost"} <= set(messages["decision"])


def test_lost_messages_read_back_as_lost(drift):
    summary, _, messages, _ = drift
    for variant, info in summary["variants"].items():
        rows = messages["variant"] == variant
        lost = rows & (messages["decision"] == "lost")
        assert lost.sum() == info["messages_sent"] - info["messages_delivered"] > 0
        assert not messages["delivered"][lost].any()
        assert np.isnan(messages["arrival_time"][lost]).all()
        assert np.isfinite(messages["arrival_time"][rows & ~lost]).all()


def test_each_round_starts_when_the_agent_sends_its_values(drift):
    summary, metrics, messages, _ = drift
    for variant in summary["variants"]:
        for agent in ("1", "2", "3", "4", "5"):
            rows = (metrics["variant"] == variant) & (metrics["agent"] == agent)
            order = np.argsort(metrics["round"][rows])
            waiting, _ = round_intervals(metrics["time"][rows][order][1:], compute_time=0.0)
            sent = (messages["variant"] == variant) & (messages["sender"] == int(agent))
            starts = [
                messages["send_time"][sent & (messages["round"] == r)].min() for r in range(10)
            ]
            np.testing.assert_array_equal(waiting[:, 0], starts)


def test_rounds_that_wait_exactly_the_deadline_are_the_deadline_rounds(drift):
    """Event clock: a round cut by the deadline lasts exactly the deadline (else it ends at an
    arrival). Lock-step: every round lasts D, and the deadline rounds are those that missed a
    value (lost messages here)."""
    summary, metrics, messages, _ = drift
    clocks = set()
    for variant, info in summary["variants"].items():
        clocks.add(info["clock"])
        ended = 0
        for agent in ("1", "2", "3", "4", "5"):
            rows = (metrics["variant"] == variant) & (metrics["agent"] == agent)
            order = np.argsort(metrics["round"][rows])
            waiting, _ = round_intervals(metrics["time"][rows][order][1:], compute_time=0.0)
            length = info["deadline"] if info["clock"] == "event" else info["round_length"]
            lasted = np.isclose(waiting[:, 1] - waiting[:, 0], length, rtol=1e-9)
            if info["clock"] == "lockstep":
                assert lasted.all()
            ended += lasted.sum()
        if info["clock"] == "event":
            assert ended == info["deadline_rounds"]
        else:
            rows = (messages["variant"] == variant) & (messages["receiver"] != 0)
            missed = rows & np.isin(messages["decision"], ["lost", "late"])
            pairs = {
                (r, j) for r, j in zip(messages["round"][missed], messages["receiver"][missed])
            }
            assert len(pairs) == info["deadline_rounds"] > 0
    assert clocks == {"lockstep", "event"}


def test_server_rounds_and_agent_compute_times_match_the_scenario(server):
    summary, metrics, messages, _ = server
    compute = [0.005, 0.005, 0.005, 0.1, 0.005, 0.005]  # network.compute_time in cgc_async.toml
    for variant in summary["variants"]:
        for agent in range(6):
            busy = reply_intervals(messages, variant, agent)
            np.testing.assert_allclose(busy[:, 1] - busy[:, 0], compute[agent], rtol=1e-9)
        rows = (metrics["variant"] == variant) & (metrics["agent"] == "server")
        waiting, _ = round_intervals(np.sort(metrics["time"][rows])[1:], compute_time=0.0)
        requests = (messages["variant"] == variant) & (messages["sender"] == -1)
        starts = [messages["send_time"][requests & (messages["round"] == r)][0] for r in range(10)]
        np.testing.assert_array_equal(waiting[:, 0], starts)


def test_byzantine_values_filtered_match_the_summary_in_sync_mode(tmp_path):
    summary, _, messages, _ = run_and_read("cgc_sync", tmp_path)
    for variant, info in summary["variants"].items():
        shares = decision_shares(messages, variant, info["byzantine"])
        assert shares["byzantine_filtered"].sum() == info["byzantine_clipped"]


def test_every_timing_plot_is_drawn_from_the_files(drift, tmp_path):
    summary, metrics, messages, _ = drift
    paths = draw_timing_plots(summary, metrics, messages, tmp_path)
    assert [p.name for p in paths] == [
        "ce_deadline_drift_msc.png",
        "ce_deadline_drift_timeline.png",
        "ce_deadline_drift_latency.png",
        "ce_deadline_drift_decisions.png",
    ]
    assert all(is_png(p) for p in paths)


def test_server_plots_are_drawn_from_the_files(server, tmp_path):
    summary, metrics, messages, _ = server
    assert is_png(plot_message_sequence(summary, messages, tmp_path / "m.png", metrics=metrics))
    assert is_png(plot_agent_timeline(summary, metrics, tmp_path / "t.png", messages=messages))


def tiny_metrics() -> dict[str, np.ndarray]:
    """Two agents, three rounds, compute 0.5 s: agent 1 completes at 1.0, 2.5, 3.5."""
    return {
        "variant": np.array(["B"] * 8, dtype=object),
        "round": np.array([0, 1, 2, 3] * 2),
        "time": np.array([0.0, 1.0, 2.5, 3.5, 0.0, 1.2, 2.0, 3.9]),
        "agent": np.array(["1"] * 4 + ["2"] * 4, dtype=object),
        "distance": np.ones(8),
    }


def test_without_a_trace_only_the_timeline_is_drawn(tmp_path):
    summary = summary_of(B={"compute_time": 0.5})
    (path,) = draw_timing_plots(summary, tiny_metrics(), None, tmp_path)
    assert path.name == "tiny_timeline.png" and is_png(path)


def test_timeline_takes_compute_time_per_agent(tmp_path):
    summary = summary_of(A={}, B={})
    path = tmp_path / "timeline.png"
    assert plot_agent_timeline(summary, tiny_metrics(), path, variant="A") is None  # no rows
    assert is_png(
        plot_agent_timeline(summary, tiny_metrics(), path, "B", compute_time=[0, 0.5, 0.2, 0])
    )
