"""``irh cache ls|rm|verify``: list, remove and check stored entries."""

from __future__ import annotations

from harness.cli.common import command, store_of
from harness.core.errors import HarnessError


def register(sub) -> None:
    cache = command(sub, "cache", "list, remove or verify stored entries", "irh cache verify --repair")
    csub = cache.add_subparsers(required=True, metavar="ACTION")
    ls = command(csub, "ls", "list stored runs: key, dataset, system, queries, time, date", "irh cache ls")
    ls.set_defaults(func=cmd_cache_ls)
    rm = command(
        csub, "rm", "remove entries by key (prefix) or every run of a system", "irh cache rm --system bm25 --all"
    )
    rm.add_argument("keys", nargs="*", metavar="KEY", help="run key or key prefix (as `irh cache ls` shows)")
    rm.add_argument("--system", help="remove the stored runs of this system name")
    rm.add_argument("--all", action="store_true", help="remove every run a key prefix or --system matches")
    rm.set_defaults(func=cmd_cache_rm)
    verify = command(
        csub,
        "verify",
        "check every run, evaluation, artefact and stored comparison against its recorded sha256",
        "irh cache verify",
    )
    verify.add_argument(
        "--repair", action="store_true", help="drop what fails, so the next `irh run` recomputes exactly that"
    )
    verify.set_defaults(func=cmd_cache_verify)


def cmd_cache_ls(args) -> int:
    for meta in store_of(args).entries("runs"):
        print(
            f"{meta['key'][:16]}  {meta.get('dataset_name', '?'):<12} {meta.get('system', '?'):<20} "
            f"{meta.get('n_queries', '?'):>6} queries  {meta.get('wall_seconds', 0):8.1f}s  {meta.get('created', '')}"
        )
    return 0


def cmd_cache_rm(args) -> int:
    if any(not k.strip() for k in args.keys):
        raise HarnessError("cache rm: an empty key would match every run; give a key (prefix)")
    store = store_of(args)
    runs = list(store.entries("runs"))
    selectors = [(f"key {k!r}", lambda m, k=k: m["key"].startswith(k)) for k in args.keys]
    if args.system is not None:
        selectors.append((f"--system {args.system!r}", lambda m: m.get("system") == args.system))
    chosen: dict[str, None] = {}  # run keys, each once; nothing is removed before every selector is checked
    for what, matches in selectors:
        hits = [m["key"] for m in runs if matches(m)]
        if len(hits) > 1 and not args.all:
            raise HarnessError(f"cache rm: {what} matches {len(hits)} runs; give more of the key, or --all")
        chosen.update(dict.fromkeys(hits))
    removed = sum(store.remove("runs", key) for key in chosen)
    print(f"removed {removed} run(s)")
    return 0


def cmd_cache_verify(args) -> int:
    store = store_of(args)
    if args.repair:
        for p in store.repair():
            print(f"dropped: {p}")
    problems = store.verify()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s)" + ("" if args.repair else "; `irh cache verify --repair` drops them"))
    else:
        print("cache OK" + ("; run the suites again (`irh run`) to recompute what was dropped" if args.repair else ""))
    return 1 if problems else 0
