"""Randomization lists: 1:1 side allocation by permuted blocks of randomly chosen sizes.

Each entry says which side gets the real stimulation (the other gets sham). Within a
stratum the list is a run of blocks; each block holds as many real-left as real-right
entries in random order, and its size is drawn from `blocks` among the sizes that still
fit, so a list of even length is exactly balanced. The same seed gives the same list,
so the seed is as secret as the list. The fingerprint shown to blinded roles is a
salted SHA-256: an unsalted hash of a short list could be found by trying every list.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidValueError
from ..tidy import ARM_CODES

ENTRY_COLUMNS = ("stratum", "seq", "block", "block_size", "real_side")


@dataclass(frozen=True)
class RandomizationList:
    """A sealed list and what describes it; `entries` has ENTRY_COLUMNS."""

    seed: int
    n: int
    blocks: tuple[int, ...]
    strata: dict[str, list[str]]
    salt: str
    real_code: str
    entries: pd.DataFrame = field(repr=False)

    @property
    def sha256(self) -> str:
        payload = json.dumps(
            self.entries.loc[:, list(ENTRY_COLUMNS)].astype(str).values.tolist(),
            separators=(",", ":"),
        )
        return hashlib.sha256((self.salt + payload).encode()).hexdigest()

    def sealed(self) -> dict[str, Any]:
        """What the study database keeps of the list besides its entries (sealed)."""
        return {
            "seed": str(self.seed),
            "n": self.n,
            "blocks": json.dumps(list(self.blocks)),
            "strata": json.dumps(self.strata),
            "salt": self.salt,
            "sha256": self.sha256,
        }

    def balance(self) -> pd.DataFrame:
        """Per stratum: entries, real-left and real-right counts (never the order)."""
        counts = self.entries.groupby("stratum", sort=False)["real_side"].value_counts()
        table = counts.unstack(fill_value=0).reindex(columns=["left", "right"], fill_value=0)
        table["entries"] = table.sum(axis=1)
        return table.reset_index().rename(columns={"left": "real_left", "right": "real_right"})


def parse_strata(text: str | None) -> dict[str, list[str]]:
    """`site=A,B;onset=left,right` -> {"site": ["A", "B"], "onset": ["left", "right"]}."""
    strata: dict[str, list[str]] = {}
    for part in filter(None, (text or "").split(";")):
        name, sep, levels = part.partition("=")
        values = [v.strip() for v in levels.split(",") if v.strip()]
        if not sep or not name.strip() or len(values) < 1:
            raise InvalidValueError(f"--strata {part!r}: write COL=L1,L2[;COL2=...]")
        strata[name.strip()] = values
    return strata


def stratum_labels(strata: dict[str, list[str]]) -> list[str]:
    """Every combination of stratum levels, as `site=A|onset=left`; one '' without strata."""
    if not strata:
        return [""]
    combos = itertools.product(*([f"{k}={v}" for v in values] for k, values in strata.items()))
    return ["|".join(combo) for combo in combos]


def block_sides(n: int, blocks: Sequence[int], rng: np.random.Generator) -> list[tuple[int, str]]:
    """(block size, real side) for n entries of one stratum, by permuted blocks."""
    out: list[tuple[int, str]] = []
    while len(out) < n:
        left = n - len(out)
        fitting = [s for s in blocks if s <= left] or [min(blocks)]
        size = int(rng.choice(fitting))
        block = ["right"] * (size // 2) + ["left"] * (size - size // 2)
        out += [(size, str(side)) for side in rng.permutation(block)]
    return out[:n]


def randomization_list(
    n: int,
    *,
    blocks: Sequence[int] = (2, 4),
    strata: dict[str, list[str]] | None = None,
    seed: int | None = None,
) -> RandomizationList:
    """A list of `n` entries per stratum; a seed is drawn (and sealed) when none is given."""
    if n < 2:
        raise InvalidValueError(f"--n {n}: a list needs at least 2 entries")
    if not blocks or any(b < 2 or b % 2 for b in blocks):
        raise InvalidValueError(f"--blocks {blocks}: sizes must be even numbers of at least 2")
    strata = strata or {}
    seed = secrets.randbits(63) if seed is None else seed
    rng = np.random.default_rng(seed)
    rows = []
    for stratum in stratum_labels(strata):
        rows += [(stratum, *entry) for entry in numbered_blocks(block_sides(n, blocks, rng))]
    entries = pd.DataFrame(rows, columns=list(ENTRY_COLUMNS))
    real_code = str(rng.choice(list(ARM_CODES)))
    # Derived from the seed, so the same seed gives the same list and fingerprint; as
    # secret as the seed itself (63 random bits when drawn).
    salt = hashlib.sha256(f"nmmstrial-list-salt:{seed}".encode()).hexdigest()[:32]
    return RandomizationList(seed, n, tuple(blocks), strata, salt, real_code, entries)


def numbered_blocks(sides: list[tuple[int, str]]) -> list[tuple[int, int, int, str]]:
    """(seq, block, block size, real side), numbering blocks as they fill."""
    out, block, filled = [], 0, 0
    for seq, (size, side) in enumerate(sides, start=1):
        if filled == 0:
            block += 1
        filled = (filled + 1) % size
        out.append((seq, block, size, side))
    return out
