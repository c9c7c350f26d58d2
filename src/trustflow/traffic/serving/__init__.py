"""Feed serving under the active plan, one module per idea:

* :mod:`.snapshot` -- the plan as a process holds it, its pacing, the buyers' segments;
* :mod:`.audience` -- the precise audience, the follows and the follow index;
* :mod:`.sampling` -- the pools, their shortlists and one request's picks (pure NumPy);
* :mod:`.counters` -- the impressions buffered, their log rows, the shared pacing counters;
* :mod:`.server` -- :class:`FeedServer`: the state and its lock, and the three steps
  (``refresh`` reads the store, ``serve`` computes on memory, ``flush`` writes).

The package imports nothing itself; callers import the module they need.
"""
