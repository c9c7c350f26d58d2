"""Experiment buckets: which arm a user is in, by a hash rather than a draw."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["user_buckets"]


def user_buckets(user_ids: npt.NDArray[np.int64], salt: int, buckets: int) -> npt.NDArray[np.int64]:
    """The experiment bucket of each user: splitmix64 of (id + salt), modulo ``buckets``.

    A hash rather than a random draw, as an experiment platform assigns: the same user lands
    in the same bucket on every server and every day, with no assignment table (the lift
    designs of docs/lift.md, a campaign's holdout of docs/campaigns.md).
    """
    z = np.asarray(user_ids).astype(np.uint64) + np.uint64(salt % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(buckets)).astype(np.int64)
