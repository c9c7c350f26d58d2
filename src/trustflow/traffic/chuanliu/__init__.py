"""The Chuanliu plan (川流计划): reward traffic for goods owners who let creators distribute
their goods and who go live themselves.

A goods owner qualifies on a plan day when creators sold its goods in the distribution window
and it self-broadcast on enough days of the live window. Its tier, from diligence,
distribution capability and incremental commercialisation, sets its share of the day's
reward pool; the creators who distributed for qualifying owners share the rest by the GMV
they sold. The formula is published in docs/chuanliu.md and in :data:`RULES`.

- :func:`eligibility`: one :class:`ChuanliuDecision` per shop, each condition with its observed
  number and threshold;
- :func:`assess`: the tier of each eligible owner and its three dimension points;
- :func:`daily_pool`: the day's reward impressions, scaled to this marketplace's size;
- :func:`rewards` (and :func:`plan`, everything at once): the pool split among shops and
  creators, in whole impressions that add up to the pool;
- :func:`joined_gmv`: distribution and self-broadcast GMV side by side;
- :func:`promise` and :func:`reconcile`: the ledger's two named actions.

Days are UTC dates. The plan of day D reads only what had happened before D's midnight: an
order counts if it was paid before then and not cancelled before then. So a day's plan can
be made at the start of the day and recomputed later with the same answer. Two inputs are
read as they are now rather than as they were: a shop's status and the active score version.

The plan's modules: :mod:`.rules` (the published rules and what decisions say),
:mod:`.facts` (what a plan day reads of the store), :mod:`.eligibility` (who qualifies, at
which tier), :mod:`.split` (the pool and its split), :mod:`.ledger` (promise and reconcile)
and :mod:`.models` (the ledger's table). The package imports nothing itself (see
:mod:`trustflow.traffic.plan`); callers import the module they need.
"""
