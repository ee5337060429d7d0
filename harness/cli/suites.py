"""``irh suites list|check``, ``irh data prepare``: what suites exist and what their data needs here."""

from __future__ import annotations

import os
from pathlib import Path

from harness.cli.common import suite_of


def register(sub) -> None:
    suites = sub.add_parser("suites", help="list the suites, or check what a suite's datasets have on this machine")
    ssub = suites.add_subparsers(required=True, metavar="ACTION")
    slist = ssub.add_parser("list", help="the suites in a folder")
    slist.add_argument("folder", nargs="?", default="suites")
    slist.set_defaults(func=cmd_suites_list)
    scheck = ssub.add_parser("check", help="docs/queries/qrels: local, download needed (size), or licensed")
    scheck.add_argument("suite")
    scheck.set_defaults(func=cmd_suites_check)

    data = sub.add_parser("data", help="offline data")
    dsub = data.add_subparsers(required=True, metavar="ACTION")
    prep = dsub.add_parser("prepare", help="lay out an ir_datasets home from a folder of files")
    prep.add_argument("dir", help="the ir_datasets home to create (use it as IR_DATASETS_HOME)")
    prep.add_argument(
        "--source",
        default=os.environ.get("IRH_SHARED_DATA", "../shared/data"),
        help="a folder of collection files laid out like ../shared/data (default: $IRH_SHARED_DATA or ../shared/data)",
    )
    prep.set_defaults(func=cmd_data_prepare)


def cmd_suites_list(args) -> int:
    from harness.suite.catalogue import list_suites

    for suite in list_suites(Path(args.folder)):
        print(f"{suite.path}  {suite.name}: {len(suite.datasets)} datasets, {len(suite.systems)} systems, "
              f"metrics {', '.join(suite.metrics)}  {suite.description}")  # fmt: skip
    return 0


def cmd_suites_check(args) -> int:
    from harness.suite.catalogue import check_suite

    suite, store = suite_of(args)
    print(check_suite(suite, store))
    return 0


def cmd_data_prepare(args) -> int:
    from harness.data.offline import prepare

    placed = prepare(Path(args.dir), Path(args.source))
    print(f"laid out in {args.dir}: {', '.join(placed)}")
    return 0
