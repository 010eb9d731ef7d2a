"""Typed configuration: every bad file or key is one clear error naming the file and the key."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convert.recipes import load_recipes
from edge_app.config import Config, load_config
from edge_app.errors import ConfigError
from edge_app.schema import describe


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_default_config_loads():
    cfg = load_config()
    assert cfg.models.precision == "auto" and cfg.inference.device == "CPU"


@pytest.mark.parametrize("text, needle", [
    ("pose: [1, 2\n", "malformed YAML"),
    ("pose:\n  max_peple: 3\n", "pose.max_peple: unknown key"),
    ("pose:\n  max_people: three\n", "pose.max_people: expected an integer"),
    ("pose:\n  max_people: 0\n", "max_people must be >= 1"),
    ("inference:\n  hint: FAST\n", "inference.hint: must be one of"),
    ("models:\n  precision: int4\n", "models.precision: must be one of"),
    ("pose:\n  tiles: [2]\n", "pose.tiles: expected 2 values"),
    ("pose:\n  min_detection_score: .nan\n", "expected a finite number"),
    ("- a\n- b\n", "expected a mapping"),
    ("!!python/object/apply:os.system ['echo hacked']\n", "malformed YAML"),
    ("server:\n  port: 70000\n", "port must be 0-65535"),
    ("server:\n  tls:\n    enabled: true\n    cert: a.pem\n", "server.tls: give both cert and key"),
    ("storage:\n  max_mb: 0\n", "storage: max_days and max_mb must be > 0"),
    ("sources:\n  - uri: a.mp4\n", "sources[0].name: required key is missing"),
    ("sources:\n  - name: a b\n    uri: a.mp4\n", "use letters, digits"),
    ("sources:\n  - {name: a, uri: x.mp4}\n  - {name: a, uri: y.mp4}\n", "name 'a' is used twice"),
    ("sources:\n  - {name: a, uri: x.mp4, crop: [1, 2]}\n", "sources[0].crop: expected 4 values"),
    ("display:\n  kiosk: yes please\n", "display.kiosk: expected true or false"),
])
def test_bad_config_names_file_and_key(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and needle in message and "\n" not in message


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "none.yaml")


def test_describe_documents_every_key():
    lines = describe(Config)
    assert any(line.strip().startswith("device: str = 'CPU'  # OpenVINO device") for line in lines)
    assert all("#" in line for line in lines if ":" in line)


def test_recipes_validate_sha256(tmp_path):
    path = write(tmp_path, """
        sources:
          s:
            registry: pypi
            package: x==1
            files:
              a.tflite: {member: a/a.tflite, sha256: nothex}
        models: {}
    """)
    with pytest.raises(ConfigError, match="sha256 of a/a.tflite must be 64"):
        load_recipes(path)


def test_recipes_reject_unknown_source(tmp_path):
    path = write(tmp_path, """
        models:
          m: {kind: generic, source: nowhere}
    """)
    with pytest.raises(ConfigError, match="models.m.source"):
        load_recipes(path)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8))
yaml_values = st.recursive(yaml_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                             st.dictionaries(st.text(max_size=8), c, max_size=3)),
                           max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.sampled_from(["models", "inference", "pose", "other"]), yaml_values, max_size=3))
def test_fuzzed_configs_give_config_or_clear_error(tmp_path, data):
    import yaml

    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(cfg, Config)


@pytest.mark.parametrize("text, line, key, first", [
    ("analysis:\n  fall:\n    enabled: false\nanalysis:\n  fatigue:\n    enabled: false\n", 4, "analysis", 1),
    ("analysis:\n  fall:\n    enabled: false\n    min_score: 0.5\n    enabled: true\n", 5, "enabled", 3),
    ("sources:\n  - name: a\n    uri: x.mp4\n    name: b\n", 4, "name", 2),
])
def test_a_repeated_key_at_any_depth_is_an_error_naming_file_line_and_key(tmp_path, text, line, key, first):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and f"line {line} " in message and f"'{key}' appears twice" in message
    assert f"first on line {first}" in message and "\n" not in message


def test_a_merge_key_may_still_be_overridden(tmp_path):
    from edge_app.schema import load_yaml
    over = write(tmp_path, "a: &b {k: 1, j: 2}\nc:\n  <<: *b\n  k: 3\n")
    assert load_yaml(over)["c"] == {"k": 3, "j": 2}
