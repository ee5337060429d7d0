"""``irh suites list|check``, ``irh data prepare``: what suites exist and what their data needs here."""

from __future__ import annotations

import os
from pathlib import Path

from harness.cli.common import SUITE_HELP, command, suite_of

PREPARE_EXAMPLE = "irh data prepare ~/irds-home --source ../shared/data"


def register(sub) -> None:
    suites = command(
        sub, "suites", "list the suites, or check what a suite's datasets have on this machine", "irh suites list"
    )
    ssub = suites.add_subparsers(required=True, metavar="ACTION")
    slist = command(ssub, "list", "the suites in a folder", "irh suites list suites")
    slist.add_argument("folder", nargs="?", default="suites", help="folder of suite files (default: suites)")
    slist.set_defaults(func=cmd_suites_list)
    scheck = command(
        ssub,
        "check",
        "docs/queries/qrels: local, download needed (size), or licensed",
        "irh suites check suites/beir.toml",
    )
    scheck.add_argument("suite", help=SUITE_HELP)
    scheck.set_defaults(func=cmd_suites_check)

    data = command(sub, "data", "offline data", PREPARE_EXAMPLE)
    dsub = data.add_subparsers(required=True, metavar="ACTION")
    prep = command(dsub, "prepare", "lay out an ir_datasets home from a folder of files", PREPARE_EXAMPLE)
    prep.add_argument(
        "dir", help="the ir_datasets home to create (ir_datasets_home in irharness.toml, or IR_DATASETS_HOME)"
    )
    prep.add_argument(
        "--source",
        default=os.environ.get("IRH_SHARED_DATA", "../shared/data"),
        help="a folder of collection files laid out like ../shared/data (default: $IRH_SHARED_DATA or ../shared/data)",
    )
    prep.set_defaults(func=cmd_data_prepare)


def cmd_suites_list(args) -> int:
    from harness.suite.catalogue import list_suites

    for suite in list_suites(Path(args.folder)):
        print(f"{suite.path}  {suite.name}: {dataset_count(suite.datasets)}, {plural(len(suite.systems), 'system')}, "
              f"metrics {', '.join(suite.metrics)}  {suite.description}")  # fmt: skip
    return 0


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def dataset_count(datasets) -> str:
    """Datasets as a suite's description counts them: a group (CQADupStack's 12 forums) is one dataset."""
    groups: dict[str, int] = {}
    for ds in datasets:
        if ds.group:
            groups[ds.group] = groups.get(ds.group, 0) + 1
    n = len(datasets) - sum(groups.values()) + len(groups)
    parts = ", ".join(f"{group} as {size} parts" for group, size in groups.items())
    return plural(n, "dataset") + (f" ({parts})" if parts else "")


def cmd_suites_check(args) -> int:
    from harness.suite.catalogue import check_suite
    from harness.suite.loading import missing_data_hint

    suite, store = suite_of(args)
    report = check_suite(suite, store)
    print(report)
    if "download needed" in report:
        print(f"\n{missing_data_hint()}")
    return 0


def cmd_data_prepare(args) -> int:
    from harness.data.offline import prepare

    placed = prepare(Path(args.dir), Path(args.source))
    print(f"laid out in {args.dir}: {', '.join(placed)}")
    return 0
