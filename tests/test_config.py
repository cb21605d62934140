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
    ("studies:\n  depth_gradient:\n    depht: [1]\n", ["depth_gradient.depht", "unknown key", "depths"]),
    ("studies:\n  depth_gradient:\n    depths: [0, 2]\n", ["depths[0]", "0", ">= 1"]),
    ("studies:\n  depth_gradient:\n    seeds: 0\n", ["seeds", "0", ">= 1"]),
    ("studies:\n  depth_gradient:\n    lr: 0\n", ["lr", "0", "> 0"]),
    ("studies:\n  depth_gradient:\n    lr: -0.1\n", ["lr", "-0.1", "> 0"]),
    ("studies:\n  depth_gradient:\n    seeds: three\n", ["seeds", "'three'", "not a int"]),
    ("studies:\n  depth_gradient:\n    activations: [sigmoid, swish]\n", ["activations[1]", "swish", "relu"]),
    ("studies:\n  depth_gradient:\n    batchnorm: yes please\n", ["batchnorm", "non-empty list of bool"]),
    ("device: tpu\nstudies:\n  depth_gradient: {}\n", ["device", "tpu", "auto, cpu, cuda"]),
    ("workers: 0\nstudies:\n  depth_gradient: {}\n", ["workers", "0", ">= 1"]),
    ("colour: red\nstudies:\n  depth_gradient: {}\n", ["colour", "unknown key"]),
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
    path = write(store, "studies:\n  depth_gradient:\n    depths: [0]\n")
    assert cli.main(["report", "--profile", str(path)]) == 1
    err = capsys.readouterr().err
    assert "depths[0]" in err and str(path) in err
    assert not (store / "mlflow.db").exists()
    assert not (store / "reports").exists()
