"""The significance test and the multiple-comparison correction of a comparison, as values: parsed once (from a suite's
TOML, the CLI or the Python API) and carried as these enums through the statistics, the stored comparison and the
report, which shows their ``label``."""

from __future__ import annotations

from enum import StrEnum


class _Choice(StrEnum):
    """A StrEnum parsed from its value or an alias, case-insensitively; an unknown name is a one-line ValueError."""

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {}

    @classmethod
    def _missing_(cls, value: object) -> _Choice | None:
        key = str(value).strip().lower()
        key = cls._aliases().get(key, key)
        return next((m for m in cls if m.value == key), None)

    @classmethod
    def parse(cls, value: object) -> _Choice:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown {cls._what()} {value!r}; choose one of {', '.join(cls)}") from None

    @classmethod
    def _what(cls) -> str:
        return cls.__name__.lower()


class Test(_Choice):
    """Two-sided paired significance test. The value ``ttest`` is the stored name; suites write ``t-test``."""

    __test__ = False  # not a pytest test class, despite the name

    T_TEST = "ttest"
    WILCOXON = "wilcoxon"
    RANDOMIZATION = "randomization"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {
            "t-test": "ttest", "t": "ttest", "ttest_rel": "ttest", "student": "ttest", "paired_t": "ttest",
            "fisher": "randomization", "permutation": "randomization",
        }  # fmt: skip

    @classmethod
    def _what(cls) -> str:
        return "significance test"

    @property
    def label(self) -> str:
        return {"ttest": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}.get(self.value, "randomization test")


class Correction(_Choice):
    """Multiple-comparison correction: ``bonferroni`` and ``holm`` control the family-wise error rate, ``bh``
    (Benjamini-Hochberg) the false discovery rate, ``none`` leaves p-values as they are."""

    NONE = "none"
    BONFERRONI = "bonferroni"
    HOLM = "holm"
    BH = "bh"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"fdr_bh": "bh", "benjamini-hochberg": "bh"}

    @property
    def label(self) -> str:
        return {"none": "no correction", "bh": "Benjamini–Hochberg"}.get(self.value, self.value.capitalize())

    @property
    def statsmodels_method(self) -> str | None:
        """The ``method`` of ``statsmodels.stats.multitest.multipletests``; None for no correction."""
        return {"none": None, "bh": "fdr_bh"}.get(self.value, self.value)
