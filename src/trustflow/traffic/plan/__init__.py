"""The daily traffic plan, one module per idea:

* :mod:`.service` -- forecast supply, value every candidate, solve, store, switch in;
* :mod:`.allocation` -- the solvers (exact LP for small plans, the smoothed dual at scale);
* :mod:`.models` -- the plan's tables.

The package imports nothing itself: every model module is loaded with all the others
(:mod:`trustflow.models`), and a package that loaded its services here would pull the
scores in with its tables. Callers import the module they need.
"""
