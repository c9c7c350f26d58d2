"""How simulated parcels travel: regions, each shop's promise and its true logistics.

Buyers live in a handful of regions; a shop ships from its home region. Each shop promises
a handling time and, per region, a transit window that grows with distance
(``catalog.service.set_fulfilment``), so the engine stamps every order with its own
``ship_by``, ``deliver_from`` and ``deliver_by``. What really happens is drawn from the
shop's hidden traits: how fast it hands parcels over, how fast its carrier is, and how often
a parcel gets stuck for days. The traits are persistent but drift week by week (an AR(1)
shock), so a shop's past predicts its future well but not perfectly. docs/simulator.md has
the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trustflow.units import DAY, HOUR

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]

#: Region code: (share of buyers, share of shops, map position x, y). Buyers spread like the
#: population; shops cluster where goods are made (the east and the south).
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "east": (0.28, 0.42, 0.0, 0.0),
    "south": (0.20, 0.30, -0.5, -1.2),
    "central": (0.14, 0.08, -0.8, -0.3),
    "north": (0.14, 0.10, -0.4, 1.0),
    "southwest": (0.11, 0.05, -1.8, -0.4),
    "northeast": (0.07, 0.03, 0.3, 1.6),
    "northwest": (0.06, 0.02, -2.2, 0.6),
}
REGION_CODES = list(REGIONS)
BUYER_SHARE = np.array([v[0] for v in REGIONS.values()])
SHOP_SHARE = np.array([v[1] for v in REGIONS.values()])
_XY = np.array([[v[2], v[3]] for v in REGIONS.values()])
_DISTANCE = np.sqrt(((_XY[:, None, :] - _XY[None, :, :]) ** 2).sum(axis=-1))
#: Typical carrier hours from one region (row) to another (column): a day within a region,
#: about four days across the country.
TRANSIT_HOURS: Float = 18.0 + 26.0 * _DISTANCE
#: The transit window a shop promises (hours after ship-by), in whole half-days: the typical
#: time × 1.4 + 12 h at most, 0.6 × it at least.
PROMISE_MAX_HOURS: Int = (np.ceil((1.4 * TRANSIT_HOURS + 12) / 12) * 12).astype(np.int64)
PROMISE_MIN_HOURS: Int = np.maximum(12, np.floor(0.6 * TRANSIT_HOURS / 12) * 12).astype(np.int64)

#: Mean hand-over hours of an average-run shop, by kind (brands ship fastest).
KIND_HANDOVER_HOURS = {"brand": 14.0, "fast_brand": 20.0, "source": 26.0, "other": 26.0}
#: Per-parcel spread: hand-over ~ Gamma(shape, mean / shape); transit × LogNormal(0, sd).
HANDOVER_SHAPE = 2.5
TRANSIT_LOG_SD = 0.3
PICKUP_HOURS = (1.0, 8.0)
#: A stuck parcel (lost in a depot, held at a transfer) arrives this many days later.
STUCK_DAYS = (5.0, 20.0)
#: Stuck probability of an average-run shop.
STUCK_BASE = 0.015
#: Weekly drift of the traits: deviation ← ρ × deviation + shock, with these stationary
#: standard deviations (log hand-over hours, log carrier factor, logit stuck, goods quality).
DRIFT_RHO = 0.85
DRIFT_SD = {"handover": 0.25, "carrier": 0.12, "stuck": 0.6, "quality": 0.02}


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


@dataclass
class ShopLogistics:
    """Each shop's promise and true logistics; the ``*_dev`` arrays are this week's drift."""

    home: Int  # index into REGION_CODES
    handling_hours: Int  # the promised hand-over time
    handover_hours: Float  # mean hand-over hours, before drift
    carrier: Float  # carrier speed factor (1: typical), before drift
    stuck_logit: Float  # log-odds that a parcel gets stuck, before drift
    handover_dev: Float
    carrier_dev: Float
    stuck_dev: Float
    quality_dev: Float  # added to each of the shop's products' quality

    @classmethod
    def draw(
        cls, rng: np.random.Generator, shop_kind: npt.NDArray[np.str_], run_well: Float
    ) -> ShopLogistics:
        """Traits leaning on ``run_well`` (how well each shop is run, N(0, 1)), with as much
        room again of their own: a shop of good goods may still ship badly."""
        n = len(shop_kind)
        competence = 0.6 * run_well + 0.8 * rng.normal(size=n)
        base = np.array([KIND_HANDOVER_HOURS[str(k)] for k in shop_kind])
        # factories and farms often promise three days; brands promise one
        handling = np.where(
            shop_kind == "brand",
            24,
            np.where((shop_kind == "source") & (rng.random(n) < 0.4), 72, 48),
        ).astype(np.int64)
        zeros = np.zeros(n)
        logistics = cls(
            home=rng.choice(len(REGION_CODES), size=n, p=SHOP_SHARE).astype(np.int64),
            handling_hours=handling,
            handover_hours=base * np.exp(-0.35 * competence),
            carrier=np.exp(-0.12 * competence + 0.15 * rng.normal(size=n)),
            stuck_logit=_logit(STUCK_BASE) - 0.6 * competence + 0.8 * rng.normal(size=n),
            handover_dev=zeros.copy(),
            carrier_dev=zeros.copy(),
            stuck_dev=zeros.copy(),
            quality_dev=zeros.copy(),
        )
        # start from the stationary spread, so the first week is no calmer than the rest
        for name, sd in DRIFT_SD.items():
            setattr(logistics, f"{name}_dev", rng.normal(0, sd, n))
        return logistics

    def drift(self, rng: np.random.Generator) -> None:
        """One week's AR(1) step of every shop's traits."""
        n = len(self.home)
        keep = np.sqrt(1 - DRIFT_RHO**2)
        for name, sd in DRIFT_SD.items():
            dev = getattr(self, f"{name}_dev")
            setattr(self, f"{name}_dev", DRIFT_RHO * dev + keep * rng.normal(0, sd, n))

    def transit_windows(self, shop: int) -> list[tuple[str, int, int]]:
        """The shop's promised transit window to each region, as ``set_fulfilment`` takes it."""
        home = int(self.home[shop])
        return [
            (code, int(PROMISE_MIN_HOURS[home, r]), int(PROMISE_MAX_HOURS[home, r]))
            for r, code in enumerate(REGION_CODES)
        ]

    def now(self, shop: Int) -> tuple[Float, Float, Float]:
        """Mean hand-over hours, carrier factor and stuck probability of ``shop`` this week."""
        handover = self.handover_hours[shop] * np.exp(self.handover_dev[shop])
        carrier = self.carrier[shop] * np.exp(self.carrier_dev[shop])
        stuck = 1 / (1 + np.exp(-(self.stuck_logit[shop] + self.stuck_dev[shop])))
        return handover, carrier, stuck

    def stationary(self) -> tuple[Float, Float, Float]:
        """Each shop's traits without drift: what it is like in the long run."""
        stuck = 1 / (1 + np.exp(-self.stuck_logit))
        return self.handover_hours, self.carrier, stuck


@dataclass
class Journey:
    """A parcel's hours from payment: handed over, picked up, arrived; and whether it stuck."""

    handover: Float
    pickup: Float
    arrival: Float
    stuck: npt.NDArray[np.bool_]


def journeys(
    rng: np.random.Generator,
    handover_hours: Float,
    carrier: Float,
    stuck: Float,
    home: Int,
    region: Int,
) -> Journey:
    """One draw of each parcel's journey, from its shop's traits (element-wise arrays)."""
    n = len(handover_hours)
    handover = rng.gamma(HANDOVER_SHAPE, handover_hours / HANDOVER_SHAPE)
    pickup = handover + rng.uniform(*PICKUP_HOURS, n)
    is_stuck = rng.random(n) < stuck
    transit = TRANSIT_HOURS[home, region] * carrier * rng.lognormal(0, TRANSIT_LOG_SD, n)
    transit = transit + np.where(is_stuck, rng.uniform(*STUCK_DAYS, n) * DAY / HOUR, 0.0)
    return Journey(handover, pickup, pickup + transit, is_stuck)
