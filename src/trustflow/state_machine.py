"""One shape for every state machine: each named action, the states it may start from and
the states it may lead to.

An order, an after-sales request, a product's listing, a shop and a live session each declare
their machine in their context's ``rules.py`` as a :class:`StateMachine`; the one-at-a-time
service checks an action with :meth:`StateMachine.require` (409 ``illegal_transition``) and the
bulk path keeps the rows :meth:`StateMachine.allows`, so both refuse the same moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from trustflow.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Move(Generic[S]):
    """A named action: the states it may start from, and those it may lead to (one, unless a
    rule of the context chooses among them, as an after-sales request's kind does)."""

    sources: frozenset[S]
    targets: frozenset[S]


def move(sources: Iterable[S], *targets: S) -> Move[S]:
    return Move(frozenset(sources), frozenset(targets))


@dataclass(frozen=True)
class StateMachine(Generic[S]):
    """What may happen to one kind of thing (``entity`` names it in refusals)."""

    entity: str
    moves: Mapping[str, Move[S]]

    def allows(self, action: str, current: S, target: S | None = None) -> bool:
        """Whether ``action`` may start from ``current`` (and lead to ``target``, if given)."""
        found = self.moves.get(action)
        return (
            found is not None
            and current in found.sources
            and (target is None or target in found.targets)
        )

    def require(self, action: str, current: S, target: S | None = None) -> None:
        """Refuse, as :class:`~trustflow.errors.IllegalTransition`, a move :meth:`allows` does
        not."""
        if not self.allows(action, current, target):
            raise IllegalTransition(self.entity, current.value, action)

    def sources(self, action: str) -> frozenset[S]:
        return self.moves[action].sources

    def target(self, action: str) -> S:
        """Where ``action`` leads, for an action with a single target."""
        (only,) = self.moves[action].targets
        return only
