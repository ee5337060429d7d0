"""``irh -q``: nothing but errors and the final table, in this process and in every worker and JVM it starts.

The switch is an environment variable, so loky/Dask workers started by the command inherit it; each library's own
chatter is silenced by the setting it reads (ir_datasets' "[INFO] Opening …" logs, tqdm bars, transformers and
Hugging Face hub messages, Python warnings, and Lucene's java.util.logging "INFO: Using MemorySegmentIndexInput").
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

QUIET_ENV = "IRH_QUIET"
QUIET_SETTINGS = {
    QUIET_ENV: "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "PYTHONWARNINGS": "ignore",
}
JUL_QUIET = """.level = WARNING
handlers = java.util.logging.ConsoleHandler
java.util.logging.ConsoleHandler.level = WARNING
"""
# Anserini's own log4j2.xml logs INFO to stdout, where the results table goes: to stderr, and only warnings when quiet
LOG4J2 = """status = error
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = STDERR
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %-5p %c{{1}}: %m%n
logger.lucene.name = org.apache.lucene
logger.lucene.level = warn
"""


def is_quiet() -> bool:
    return os.environ.get(QUIET_ENV) == "1"


@contextlib.contextmanager
def silenced(on: bool = True) -> Iterator[None]:
    """Quiet this process and, through the environment, the processes it starts; all restored on exit (``main`` is
    also called in-process, by tests and scripts)."""
    if not on:
        yield
        return
    saved = {key: os.environ.get(key) for key in QUIET_SETTINGS}
    os.environ.update(QUIET_SETTINGS)
    with warnings.catch_warnings():
        apply()
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def apply() -> None:
    """In a process started by a quiet command (a worker): silence what this process logs itself."""
    if not is_quiet():
        return
    logging.disable(logging.INFO)  # ir_datasets' loggers set their own INFO level and do not propagate
    warnings.simplefilter("ignore")


def jvm_logging_options() -> list[str]:
    """JVM options: Anserini's log lines on stderr (only warnings when quiet), Lucene's JUL lines off when quiet."""
    level = "warn" if is_quiet() else "info"
    log4j = _config_file(f"log4j2-{level}.properties", LOG4J2.format(level=level))
    options = [f"-Dlog4j2.configurationFile={log4j}"]
    if is_quiet():
        options.append(f"-Djava.util.logging.config.file={_config_file('jul-quiet.properties', JUL_QUIET)}")
    return options


def _config_file(name: str, text: str) -> Path:
    """A logging configuration in the temp folder, named by its content and written by rename (a JVM starting
    meanwhile never reads half a file)."""
    stem, _, suffix = name.rpartition(".")
    path = Path(tempfile.gettempdir()) / f"irh-{stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.{suffix}"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path
