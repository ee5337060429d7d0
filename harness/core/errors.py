"""One error type for bad input: always a single line naming where the problem is."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input (suite, dataset, system, metric, run file, model).

    Rendered as ``file:line: field: message`` with the parts that are known, so the CLI can print it on one line.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None, line: int | None = None):
        self.message = " ".join(str(message).split())  # one line, whatever the cause said
        self.file = file
        self.field = field
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"
