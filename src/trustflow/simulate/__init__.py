"""A synthetic live-commerce marketplace that drives the real engine, day by day.

Engine packages never import this package: the hidden truth stays with the simulator.
"""

from trustflow.simulate.config import SimConfig, config_for
from trustflow.simulate.market import Simulation
from trustflow.simulate.runner import SimulationRun, run_simulation, write_summary

__all__ = [
    "SimConfig",
    "Simulation",
    "SimulationRun",
    "config_for",
    "run_simulation",
    "write_summary",
]
