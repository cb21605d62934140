"""Facts that any study's report can draw from its own tables."""
import pandas as pd


def seed_disagreement(members: pd.DataFrame, keys: list[str], metric: str = "test_acc") -> dict | None:
    """The configuration whose seeds disagreed most on `metric`: {config: "k=v, …", lo, hi}, or None."""
    spread = members.groupby(keys)[metric].agg(["min", "max", "count"])
    spread = spread[spread["count"] > 1]
    if spread.empty:
        return None
    key = (spread["max"] - spread["min"]).idxmax()
    row = spread.loc[key]
    key = key if isinstance(key, tuple) else (key,)
    return {"config": ", ".join(f"{k}={v}" for k, v in zip(keys, key)), "lo": float(row["min"]),
            "hi": float(row["max"])}
