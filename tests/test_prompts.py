import pandas as pd

from study.prompts import disagreement_question, seed_disagreement


def test_the_configuration_whose_seeds_disagree_most_is_found():
    df = pd.DataFrame({"act": ["relu"] * 3 + ["sigmoid"] * 3, "seed": [0, 1, 2] * 2,
                       "test_acc": [0.95, 0.96, 0.97, 0.10, 0.90, 0.50]})
    config, lo, hi = seed_disagreement(df, ["act"])
    assert config == {"act": "sigmoid"} and (lo, hi) == (0.10, 0.90)
    assert "act=sigmoid" in disagreement_question(df, ["act"], "en") and "0.100" in disagreement_question(df, ["act"], "ja")


def test_no_question_without_repeated_seeds():
    df = pd.DataFrame({"act": ["relu", "tanh"], "seed": [0, 0], "test_acc": [0.9, 0.8]})
    assert seed_disagreement(df, ["act"]) is None and disagreement_question(df, ["act"], "en") is None
