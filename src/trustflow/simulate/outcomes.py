"""What a buyer lives of one order: whether it arrives late, and how the review turns out.

The simulator draws each order's stars here, and ``order_truth.parquet`` records the
probabilities of the same model: one model, two callers, so the truth is the model's own.

Stars: ``round(1 + 4 × (quality + N(0, 0.12)))``, a star less half the time when the parcel
came after its ``deliver_by``, at most 2 when the buyer asked for after-sales (not a
no-reason return), always 1 from an abusive buyer. A buyer whose parcel is overdue reviews
it, with probability :data:`OVERDUE_REVIEW_RATE`, 0.5–3 days after ``deliver_by`` if it is
still undelivered then, mostly with 1–2 stars; that line is not reviewed again on arrival.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr  # type: ignore[import-untyped]

from trustflow.simulate.logistics import journeys
from trustflow.units import DAY, HOUR

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]

STAR_NOISE = 0.12
#: A late parcel costs a star this often.
LATE_STAR_PENALTY_SHARE = 0.5
#: A review of this many stars or fewer is bad (as the scores count it).
BAD_STARS = 2
OVERDUE_REVIEW_RATE = 0.3
OVERDUE_REVIEW_DAYS = (0.5, 3.0)
OVERDUE_STARS = np.array([1, 2, 3, 4])
OVERDUE_STAR_ODDS = np.array([0.6, 0.25, 0.1, 0.05])
OVERDUE_BAD_SHARE = float(OVERDUE_STAR_ODDS[OVERDUE_STARS <= BAD_STARS].sum())
#: Shadow replicates per order behind ``order_truth.parquet``'s probabilities.
REPLICATES = 20


def stars(
    rng: np.random.Generator,
    quality: Float,
    late: npt.NDArray[np.bool_],
    capped: npt.NDArray[np.bool_],
) -> Int:
    """Stars of a review written on arrival (``capped``: the buyer asked for after-sales)."""
    n = len(quality)
    raw = (
        1
        + 4 * (quality + rng.normal(0, STAR_NOISE, n))
        - np.where(late & (rng.random(n) < LATE_STAR_PENALTY_SHARE), 1, 0)
    )
    drawn = np.clip(np.round(raw), 1, 5).astype(np.int64)
    return np.where(capped, np.minimum(drawn, BAD_STARS), drawn)


def overdue_stars(rng: np.random.Generator, n: int) -> Int:
    return rng.choice(OVERDUE_STARS, size=n, p=OVERDUE_STAR_ODDS).astype(np.int64)


def overdue_review_hours(rng: np.random.Generator, n: int) -> Float:
    """Hours after ``deliver_by`` an overdue parcel's buyer would review it."""
    return rng.uniform(*OVERDUE_REVIEW_DAYS, n) * DAY / HOUR


def bad_on_arrival(quality: Float, late: Float, capped: Float) -> Float:
    """Probability a review written on arrival has 1–2 stars: ``late`` and ``capped`` are the
    probabilities the parcel came late and the buyer asked for after-sales."""
    cut = (BAD_STARS + 0.5 - 1) / 4
    on_time = ndtr((cut - quality) / STAR_NOISE)
    penalised = ndtr((cut + 0.25 - quality) / STAR_NOISE)
    by_stars = on_time + late * LATE_STAR_PENALTY_SHARE * (penalised - on_time)
    return np.asarray(capped + (1 - capped) * by_stars, dtype=np.float64)


def order_truth(
    rng: np.random.Generator,
    traits: tuple[Float, Float, Float],
    home: Int,
    region: Int,
    due_hours: Float,
    quality: Float,
    capped: Float,
    review_rate: float,
    replicates: int = REPLICATES,
) -> tuple[Float, Float]:
    """Per order, the probability its parcel misses ``deliver_by`` (``due_hours`` after
    payment) and the probability its first line's review, if written, has 1–2 stars from a
    buyer who is not abusive: averaged over ``replicates`` shadow journeys drawn exactly as
    the real one (the shop's ``traits`` as of payment: mean hand-over hours, carrier factor,
    stuck probability), with the stars of each journey in closed form."""
    n = len(due_hours)
    late = np.zeros(n)
    written = np.zeros(n)
    bad = np.zeros(n)
    for _ in range(replicates):
        trip = journeys(rng, *traits, home, region)
        is_late = trip.arrival > due_hours
        still_out = trip.arrival > due_hours + overdue_review_hours(rng, n)
        early = OVERDUE_REVIEW_RATE * still_out
        on_arrival = (1 - early) * review_rate
        late += is_late
        written += early + on_arrival
        bad += early * OVERDUE_BAD_SHARE + on_arrival * bad_on_arrival(
            quality, is_late.astype(np.float64), capped
        )
    return late / replicates, bad / written
