"""Profiles are validated before anything runs: each error names file, key, value and what is allowed."""
from pathlib import Path

import pytest

from study import cli
from study.config import PROFILE_DIR, ProfileError, load_profile


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILE_DIR.glob("*.yaml")))
def test_builtin_profiles_load(name):
    profile = load_profile(name)
    assert profile.studies and profile.workers >= 1


def write(tmp_path, text) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("body,expected", [
    ("studies:\n  no_such_study: {}\n", ["studies.no_such_study", "unknown study", "depth_gradient"]),
    ("studies:\n  cnn_vs_mlp:\n    sedes: 2\n", ["cnn_vs_mlp.sedes", "unknown key", "seeds"]),
    ("studies:\n  cnn_vs_mlp:\n    cnn_channels: [0, 8]\n", ["cnn_channels[0]", "0", ">= 1"]),
    ("studies:\n  cnn_vs_mlp:\n    seeds: 1\n", ["seeds", "1", ">= 2"]),
    ("studies:\n  cnn_vs_mlp:\n    lrs: [0]\n", ["lrs[0]", "0", "> 0"]),
    ("studies:\n  cnn_vs_mlp:\n    lrs: [0.01, -0.1]\n", ["lrs[1]", "-0.1", "> 0"]),
    ("studies:\n  cnn_vs_mlp:\n    seeds: three\n", ["seeds", "'three'", "not a int"]),
    ("studies:\n  cnn_vs_mlp:\n    optimizer: swish\n", ["optimizer", "swish", "adam"]),
    ("studies:\n  cnn_vs_mlp:\n    cnn_channels: yes please\n", ["cnn_channels", "non-empty list of int"]),
    ("device: tpu\nstudies:\n  cnn_vs_mlp: {}\n", ["device", "tpu", "auto, cpu, cuda"]),
    ("workers: 0\nstudies:\n  cnn_vs_mlp: {}\n", ["workers", "0", ">= 1"]),
    ("colour: red\nstudies:\n  cnn_vs_mlp: {}\n", ["colour", "unknown key"]),
    ("studies: {}\n", ["studies", "non-empty"]),
    ("studies: [\n", ["not valid YAML"]),
])
def test_bad_profiles_are_refused_with_a_precise_message(tmp_path, body, expected):
    path = write(tmp_path, body)
    with pytest.raises(ProfileError) as e:
        load_profile(str(path))
    msg = str(e.value)
    assert str(path) in msg
    for part in expected:
        assert part in msg, msg


def test_unknown_profile_name_lists_the_builtin_ones():
    with pytest.raises(ProfileError, match="no such profile.*quick"):
        load_profile("quik")


def test_a_bad_profile_stops_the_cli_before_mlflow_is_touched(store, capsys):
    path = write(store, "studies:\n  cnn_vs_mlp:\n    cnn_channels: [0, 8]\n")
    assert cli.main(["report", "--profile", str(path)]) == 1
    err = capsys.readouterr().err
    assert "cnn_channels[0]" in err and str(path) in err
    assert not (store / "mlflow.db").exists()
    assert not (store / "reports").exists()


@pytest.mark.parametrize("override,expected", [
    ("cnn_vs_mlp.seeds=1", ["--set cnn_vs_mlp.seeds", "1 is not allowed", ">= 2"]),
    ("cnn_vs_mlp.sedes=3", ["--set cnn_vs_mlp.sedes", "unknown key", "seeds"]),
    ("no_such_study.seeds=3", ["no_such_study", "unknown study"]),
    ("cnn_vs_mlp.lrs=[0.01, oops]", ["lrs[1]", "oops"]),
    ("seeds=3", ["expected study.key=value"]),
])
def test_a_bad_override_is_refused_like_a_bad_profile(override, expected):
    with pytest.raises(ProfileError) as e:
        load_profile("smoke", overrides=[override])
    for part in expected:
        assert part in str(e.value), str(e.value)


def test_an_override_changes_one_value_and_only_the_named_studies_run(store, capsys):
    profile = load_profile("smoke", only=["cnn_vs_mlp"], overrides=["cnn_vs_mlp.seeds=3", "cnn_vs_mlp.lrs=[0.01]"])
    assert list(profile.studies) == ["cnn_vs_mlp"]
    assert profile.studies["cnn_vs_mlp"].seeds == 3 and profile.studies["cnn_vs_mlp"].lrs == [0.01]
    assert cli.main(["run", "cnn_vs_mlp", "--set", "cnn_vs_mlp.seeds=1"]) == 1  # refused before MLflow
    assert "cnn_vs_mlp.seeds" in capsys.readouterr().err and not (store / "mlflow.db").exists()
