"""Parse a listwise ranking answer ("[3] > [1] > [2]") into a full permutation, whatever the model wrote.

Repairs, each counted:
- ``no_ids``: nothing usable in the answer (garbage): the window keeps its input order;
- ``bad_format``: ids were found but the answer is not exactly ``[a] > [b] > ...``;
- ``duplicate_ids``: an id already ranked (later mentions are dropped);
- ``out_of_range_ids``: an id outside 1..n (dropped);
- ``missing_ids``: an id never mentioned (appended after the ranked ones, in their input order).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_STRICT = re.compile(r"^\s*\[\d+\](\s*>\s*\[\d+\])*\s*$")
_BRACKETED = re.compile(r"\[\s*(\d+)\s*\]")
_BARE = re.compile(r"\d+")

REPAIR_KINDS = ("no_ids", "bad_format", "duplicate_ids", "out_of_range_ids", "missing_ids")


@dataclass
class Parsed:
    order: list[int]  # 0-based positions into the window, a permutation of range(n)
    repairs: Counter = field(default_factory=Counter)

    @property
    def clean(self) -> bool:
        return not any(self.repairs.values())


def parse_permutation(text: str, n: int) -> Parsed:
    """A permutation of range(n) from an answer using 1-based ids; never fails."""
    repairs: Counter = Counter()
    # bracketed ids if there are any (numbers in prose around them are not ids), else bare numbers
    tokens = _BRACKETED.findall(text) or _BARE.findall(text)
    if not tokens:
        repairs["no_ids"] += 1
    elif not _STRICT.match(text):
        repairs["bad_format"] += 1
    order: list[int] = []
    seen: set[int] = set()
    for token in tokens:
        position = int(token) - 1
        if not 0 <= position < n:
            repairs["out_of_range_ids"] += 1
        elif position in seen:
            repairs["duplicate_ids"] += 1
        else:
            seen.add(position)
            order.append(position)
    missing = [i for i in range(n) if i not in seen]
    if tokens:
        repairs["missing_ids"] += len(missing)
    return Parsed(order + missing, +repairs)
