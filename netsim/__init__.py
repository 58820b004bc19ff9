"""netsim: a discrete-event network simulator for Byzantine fault-tolerant optimization.

Python API (spec/interface.md)::

    import netsim
    sc = netsim.load_scenario("scenarios/ce_paper_fig2.toml")
    res = netsim.run(sc.with_overrides({"seed": 3}), out="results/x")
    res.summary, res.metrics, res.messages, res.plot("plots/x.png")
"""

__version__ = "0.1.0"

from .analysis import time_to_accuracy
from .config import Scenario, load_scenario, parse_scenario
from .errors import ScenarioError, SimulationStalled
from .results import RunResult
from .run import run

__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SimulationStalled",
    "__version__",
    "load_scenario",
    "parse_scenario",
    "run",
    "time_to_accuracy",
]
