"""irh runs retrieval suites, evaluates them, shows and compares results, manages the store and offline data.

Each command group lives in its own module with a ``register(subparsers)`` function; this module only assembles
the parser and turns the harness's errors into one-line messages and exit codes.
"""

from __future__ import annotations

import argparse
import logging
import sys

from harness import __version__
from harness.cli import cache, evaluation, reading, running, suites, train
from harness.cli.common import store_of
from harness.core import quiet
from harness.core.errors import STORAGE_ERRNOS, HarnessError, storage_message

COMMAND_MODULES = (running, evaluation, reading, cache, suites, train)
EPILOG = """examples:
  irh run suites/smoke.toml                  run what is not stored yet, print the table
  irh show suites/smoke.toml --per-query     per-query values, as trec_eval -q prints them
  irh COMMAND --help                         a command's arguments, with an example"""


def main(argv: list[str] | None = None) -> int:
    from harness.core import interrupt

    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if not args.quiet else logging.WARNING, format="irh: %(message)s")
    with interrupt.handling(), quiet.silenced(args.quiet):
        try:
            return args.func(args) or 0
        except HarnessError as e:
            print(f"irh: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as e:
            interrupt.report(str(e) or None)
            if argv is None:  # this process is the command (not a caller of main): end it now
                interrupt.exit_now()
            return interrupt.EXIT_CODE
        except OSError as e:
            if e.errno not in STORAGE_ERRNOS:
                raise
            _discard_partial(args)
            print(f"irh: error: {storage_message(e, store_of(args).root)}", file=sys.stderr)
            return 2


def _discard_partial(args) -> None:
    from harness.suite.runner import discard_partial

    discard_partial(store_of(args))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="irh",
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--results",
        metavar="DIR",
        help="the store (default: $IRH_RESULTS, else `results` in irharness.toml, else PROJECT/results; the project "
        "is the nearest folder above the suite file with irharness.toml or pyproject.toml)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors and the final table")
    p.add_argument("--version", action="version", version=f"irh {__version__}")
    sub = p.add_subparsers(required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return p
