"""How `precision: auto` picks among runs that all meet their accuracy bound (inference/model_store.py): the most
exact one unless a less exact one is clearly faster, so the choice does not flip with a busy machine's noise."""

from __future__ import annotations

import pytest

from edge_app.inference.model_store import CLEAR_GAIN, steady_choice


def test_a_few_percent_faster_is_not_enough_to_run_less_exactly():
    assert steady_choice({"int8": 3.14, "bf16": 3.35, "f32": 5.45}) == "bf16"  # int8 6 % faster than bf16: bf16
    assert steady_choice({"int8": 4.56, "bf16": 4.73, "f32": 8.81}) == "bf16"  # the same run, another start
    assert steady_choice({"f32": 0.06, "bf16": 0.06, "int8": 0.06}) == "f32"  # tiny models: no gain, the exact one


def test_a_clearly_faster_run_is_chosen_step_by_step_down_the_order():
    assert steady_choice({"int8": 4.32, "f32": 7.39}) == "int8"  # 42 % faster
    assert steady_choice({"int8": 2.0, "bf16": 4.0, "f32": 5.0}) == "int8"  # bf16 20 % under f32, int8 half of bf16
    assert steady_choice({"int8": 4.0, "bf16": 4.2, "f32": 8.0}) == "bf16"  # int8 only 5 % under bf16
    edge = 1.0 - CLEAR_GAIN
    assert steady_choice({"int8": edge * 10.0, "f32": 10.0}) == "int8"
    assert steady_choice({"int8": edge * 10.0 + 0.01, "f32": 10.0}) == "f32"


def test_one_run_is_that_run_and_none_is_an_error():
    assert steady_choice({"int8": 1.0}) == "int8"
    with pytest.raises(ValueError):
        steady_choice({})
