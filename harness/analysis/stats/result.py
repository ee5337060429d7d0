"""The one result type every paired test returns, so tables and reports can treat tests uniformly."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TestResult:
    """Outcome of a paired two-sided test of ``a`` against ``b`` on the same queries.

    ``mean_diff`` is ``mean(a - b)``: positive means ``a`` scored higher. ``n_permutations`` and ``exact`` are only
    set by the randomization test (number of sign vectors used, and whether all ``2**n`` were enumerated).
    """

    __test__ = False  # not a pytest test class, despite the name

    test: str
    statistic: float
    p_value: float
    n: int
    mean_diff: float
    n_permutations: int | None = None
    exact: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
