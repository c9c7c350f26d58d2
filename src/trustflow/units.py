"""Units: time in seconds, for code that counts time in integer seconds (the simulator's
clock, the score SQL's epoch seconds, durations reported to clients), and money in fen (分),
shown in yuan (元)."""

from __future__ import annotations

from decimal import Decimal

MINUTE = 60
HOUR = 3_600
DAY = 86_400

FEN_PER_YUAN = 100


def yuan(fen: int) -> Decimal:
    """An amount in fen as exact yuan, to two decimals (``12345`` -> ``Decimal("123.45")``);
    written with ``f"{yuan(fen):,}"`` it reads ``1,234.56``."""
    return (Decimal(int(fen)) / FEN_PER_YUAN).quantize(Decimal("0.01"))


__all__ = ["DAY", "FEN_PER_YUAN", "HOUR", "MINUTE", "yuan"]
