"""Discussion prompts any study can build from its own results."""
import pandas as pd


def seed_disagreement(members: pd.DataFrame, keys: list[str], metric: str = "test_acc"):
    """The configuration whose seeds disagreed most on `metric`: (configuration dict, lowest, highest), or None."""
    spread = members.groupby(keys)[metric].agg(["min", "max", "count"])
    spread = spread[spread["count"] > 1]
    if spread.empty:
        return None
    key = (spread["max"] - spread["min"]).idxmax()
    row = spread.loc[key]
    key = key if isinstance(key, tuple) else (key,)
    return dict(zip(keys, key)), float(row["min"]), float(row["max"])


def disagreement_question(members: pd.DataFrame, keys: list[str], lang: str, metric: str = "test_acc") -> str | None:
    found = seed_disagreement(members, keys, metric)
    if found is None:
        return None
    config, lo, hi = found
    what = ", ".join(f"{k}={v}" for k, v in config.items())
    return {"ja": f"シードによる違いが最も大きかったのは {what} で、テスト正解率は {lo:.3f} から {hi:.3f} まで"
                  "ばらついた。同じ設定なのに結果がこれほど変わるのはなぜか。一つのシードだけで結論を出すと何が起きるか。",
            "en": f"Seeds disagreed most for {what}: test accuracy ranged from {lo:.3f} to {hi:.3f}. Why can the "
                  "same configuration end so differently, and what happens if we conclude from one seed?"}[lang]
