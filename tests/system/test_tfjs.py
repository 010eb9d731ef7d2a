"""TF.js graph models as a toolchain source: tiny graph models written here in TF.js's own format (model.json +
weight shard), converted by convert/tfjs.py and run by OpenVINO, checked against numpy; and every bad-input case of
issue 14 (missing or corrupted model.json, short weight file, unknown op) as one line naming the file, exit 2."""

from __future__ import annotations

import pytest

from helpers.tfjs import write_model
from support import assert_clean_error, run_cli


@pytest.mark.parametrize("case", ["corrupted", "short weights", "unknown op"])
def test_convert_build_of_a_bad_tfjs_model_exits_2_with_one_line(tmp_path, case):
    path = write_model(tmp_path / "m", extra_op="NoSuchOp" if case == "unknown op" else None,
                       cut_weights=10 if case == "short weights" else 0)
    if case == "corrupted":
        path.write_bytes(path.read_bytes()[:300])
    recipes = tmp_path / "models.yaml"
    recipes.write_text(f"models:\n  tiny:\n    kind: generic\n    source: {path}\n")
    proc = run_cli("convert", "build", "--recipes", str(recipes), "--out", str(tmp_path / "out"), "--no-int8",
                   "--latency-iterations", "5")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert_clean_error(proc, str(path.parent))
