"""Per-query win analysis of systems against a baseline: win/tie/loss (the rule is harness.analysis.stats.outcome),
win rates per quantile bucket of a query feature (harness.analysis.features), and the queries the baseline wins by the
largest margin."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.features import NOT_AVAILABLE, feature_columns
from harness.analysis.stats import outcome, win_tie_loss


# ---------------------------------------------------------------- bucketing and wins
def quantile_buckets(values: pd.Series, n_buckets: int = 4) -> pd.DataFrame:
    """Quantile buckets of ``values`` (same index): columns bucket (1..k, 0 for undefined), label ("lo–hi" of the
    values actually in the bucket, or n/a), lo, hi. Tied values never straddle buckets, so discrete features may
    yield fewer than ``n_buckets`` buckets of unequal sizes."""
    v = pd.to_numeric(values, errors="coerce")
    ok = v.notna()
    out = pd.DataFrame({"bucket": 0, "label": NOT_AVAILABLE, "lo": np.nan, "hi": np.nan}, index=values.index)
    if ok.any():
        edges = np.unique(np.quantile(v[ok].to_numpy(dtype=float), np.linspace(0, 1, n_buckets + 1)))
        codes = (
            pd.cut(v[ok], edges, include_lowest=True, labels=False, duplicates="drop")
            if len(edges) > 1
            else pd.Series(0, index=v[ok].index)
        )
        out.loc[ok, "bucket"] = codes.astype(int) + 1
        for b in sorted(out.loc[ok, "bucket"].unique()):
            members = ok & (out["bucket"] == b)
            lo, hi = float(v[members].min()), float(v[members].max())
            out.loc[members, ["lo", "hi"]] = lo, hi
            out.loc[members, "label"] = f"{lo:.3g}" if lo == hi else f"{lo:.3g}–{hi:.3g}"
    out["bucket"] = out["bucket"].astype(int)
    return out


def per_query_deltas(per_query: pd.DataFrame, baseline: str, systems: list[str]) -> pd.DataFrame:
    """Long per-query table of one dataset: metric, system, query_id, baseline_value, system_value, delta
    (system − baseline, positive = system better). ``per_query`` has columns system, query_id, metric, value."""
    wide = per_query.pivot_table(index=["metric", "query_id"], columns="system", values="value", aggfunc="first")
    frames = []
    for s in systems:
        part = wide[[baseline, s]].dropna()
        frames.append(
            pd.DataFrame(
                {
                    "metric": part.index.get_level_values("metric"),
                    "baseline": baseline,
                    "system": s,
                    "query_id": part.index.get_level_values("query_id"),
                    "baseline_value": part[baseline].to_numpy(),
                    "system_value": part[s].to_numpy(),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["metric", "baseline", "system", "query_id", "baseline_value", "system_value", "delta"]
        )
    out = pd.concat(frames, ignore_index=True)
    out["delta"] = out["system_value"] - out["baseline_value"]
    return out


def wtl_table(deltas: pd.DataFrame, tie_tolerance: float) -> pd.DataFrame:
    """W/T/L per (metric, baseline, system): wins, ties, losses, n."""
    rows = []
    for (metric, base, system), g in deltas.groupby(["metric", "baseline", "system"], sort=False):
        counts = win_tie_loss(g["baseline_value"].to_numpy(), g["system_value"].to_numpy(), tie_tolerance)
        rows.append({"metric": metric, "baseline": base, "system": system, **counts, "n": len(g)})
    return pd.DataFrame(rows, columns=["metric", "baseline", "system", "wins", "ties", "losses", "n"])


def bucket_table(
    deltas: pd.DataFrame, features: pd.DataFrame, tie_tolerance: float, n_buckets: int = 4
) -> pd.DataFrame:
    """Win rates per quantile bucket of every feature: one row per (metric, baseline, system, feature, bucket) with
    n, wins, ties, losses, win_rate (system wins), loss_rate (baseline wins), mean_delta, and the bucket's range."""
    columns = [
        "metric", "baseline", "system", "feature", "bucket", "label", "lo", "hi",
        "n", "wins", "ties", "losses", "win_rate", "loss_rate", "mean_delta",
    ]  # fmt: skip
    rows = []
    feats = features.set_index("query_id")
    for feature in feature_columns(features):
        buckets = quantile_buckets(feats[feature], n_buckets)
        merged = deltas.join(buckets, on="query_id", how="inner")
        merged["outcome"] = outcome(merged["delta"], tie_tolerance)
        keys = ["metric", "baseline", "system", "bucket", "label", "lo", "hi"]
        for key, g in merged.groupby(keys, sort=True, dropna=False):
            counts = g["outcome"].value_counts()
            n = len(g)
            wins, ties, losses = (int(counts.get(k, 0)) for k in ("win", "tie", "loss"))
            rows.append(
                dict(zip(keys, key, strict=True))
                | {
                    "feature": feature,
                    "n": n,
                    "wins": wins,
                    "ties": ties,
                    "losses": losses,
                    "win_rate": wins / n,
                    "loss_rate": losses / n,
                    "mean_delta": float(g["delta"].mean()),
                }
            )
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({"bucket": int, "n": int, "wins": int, "ties": int, "losses": int})


def worst_queries(deltas: pd.DataFrame, features: pd.DataFrame, tie_tolerance: float, n: int = 10) -> pd.DataFrame:
    """Per (metric, baseline, system) the ``n`` queries the baseline wins by the largest margin (delta <
    −tie_tolerance), with the query text and its features; rank 1 = largest baseline win."""
    lost = deltas[deltas["delta"] < -tie_tolerance]
    ordered = lost.sort_values(["metric", "baseline", "system", "delta", "query_id"], kind="stable")
    top = ordered.groupby(["metric", "baseline", "system"], sort=False).head(n).copy()
    top["rank"] = top.groupby(["metric", "baseline", "system"], sort=False).cumcount() + 1
    return top.merge(features, on="query_id", how="left").reset_index(drop=True)
