"""``irh train``: train a model from a training config."""

from __future__ import annotations

from harness.cli.common import command, store_of


def register(sub) -> None:
    tr = command(
        sub,
        "train",
        "train a model from a training config (resumes from its last checkpoint)",
        "irh train suites/train/scifact-ce-pointwise.toml --max-steps 100",
    )
    tr.add_argument("config", help="training config, e.g. suites/train/scifact-ce-pointwise.toml")
    tr.add_argument("--max-steps", type=int, metavar="N", help="train at most N steps now, checkpoint, stop")
    tr.add_argument("--no-eval", action="store_true", help="skip the config's [eval] when training ends")
    tr.add_argument("--threads", type=int, help="torch threads (default: the config's train.threads)")
    tr.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    import dataclasses

    from harness.train.config import load_train_config
    from harness.train.trainer import train

    config = load_train_config(args.config)
    if args.threads:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, threads=args.threads))
    result = train(config, store_of(args), max_steps=args.max_steps, evaluate=not args.no_eval)
    if result.status == "stopped":
        print(f"stopped at step {result.end_step}/{config.train.steps}: run `irh train {args.config}` to resume")
        return 0
    card = result.card
    loss = card["loss"]
    print(f"{result.status}: {result.model_dir}  digest {card['digest'][:16]}  "
          f"loss {loss['first_10pct_mean']:.4f} → {loss['last_10pct_mean']:.4f}")  # fmt: skip
    for system, values in ((card.get("metrics") or {}).get("systems") or {}).items():
        print(f"  {card['metrics']['dataset']} {system}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    return 0
