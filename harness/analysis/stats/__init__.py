"""Paired significance testing for IR evaluation: tests, effect sizes, corrections, comparison tables.

All tests are two-sided and paired: ``a`` and ``b`` hold per-query scores of two systems on the same queries,
in the same order. Bad input (different lengths, NaN scores, unknown names) raises ValueError with one line.
The test and the correction are harness.core.significance's ``Test`` and ``Correction`` (or their names).
"""

from .compare import COLUMNS, compare_systems, correct_table
from .corrections import Corrected, correct
from .effects import ConfidenceInterval, bootstrap_ci, cohens_dz, minimum_detectable_effect, outcome, win_tie_loss
from .paired_tests import paired_t_test, wilcoxon_test
from .randomization import EXACT_MAX_N, randomization_test, randomization_test_many
from .result import TestResult

__all__ = [
    "COLUMNS",
    "EXACT_MAX_N",
    "ConfidenceInterval",
    "Corrected",
    "TestResult",
    "bootstrap_ci",
    "cohens_dz",
    "compare_systems",
    "correct",
    "correct_table",
    "minimum_detectable_effect",
    "outcome",
    "paired_t_test",
    "randomization_test",
    "randomization_test_many",
    "wilcoxon_test",
    "win_tie_loss",
]
