"""The daily traffic plan (:mod:`.service`: forecast, value, solve, store, switch in), its
solvers (:mod:`.allocation`) and its tables (:mod:`.models`). The names below are the plan's
public surface; the models are imported from :mod:`.models`."""

from trustflow.traffic.plan.service import (
    HOURS,
    KINDS,
    SURFACES,
    BuiltPlan,
    PlanInputs,
    activate,
    active_plan,
    build_problem,
    forecast_supply,
    gather_inputs,
    solve,
    store,
)

__all__ = [
    "HOURS",
    "KINDS",
    "SURFACES",
    "BuiltPlan",
    "PlanInputs",
    "activate",
    "active_plan",
    "build_problem",
    "forecast_supply",
    "gather_inputs",
    "solve",
    "store",
]
