"""The model base class (edge_app/inference/model.py) on a small real OpenVINO model: the synchronous call and the
asynchronous batch give the same results in order, stage times are counted, and an error raised while decoding a
result in OpenVINO's callback thread reaches the caller as itself."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from edge_app.inference.model import ModelWrapper
from edge_app.inference.runtime import Runtime
from edge_app.pose.engine import PoseTimes


def doubling_model() -> ov.Model:
    x = ops.parameter([1, 4], np.float32, name="x")
    return ov.Model([ops.multiply(x, ops.constant(np.float32(2.0)))], [x], "double")


class Doubler(ModelWrapper[int, float]):
    """Input: the image's row ``meta``; output: the sum of the doubled row. Row 13 cannot be decoded."""

    def preprocess(self, image: np.ndarray, meta: int) -> np.ndarray:
        return image[meta:meta + 1].astype(np.float32)

    def postprocess(self, outputs, meta: int) -> float:
        if meta == 13:
            raise ValueError(f"row {meta} cannot be decoded")
        return float(np.asarray(outputs[0]).sum())


@pytest.fixture(scope="module")
def doubler():
    return Doubler(Runtime("CPU").compile(doubling_model(), "f32"), jobs=2)


def test_one_call_and_a_batch_in_flight_agree_in_order(doubler):
    image = np.arange(80, dtype=np.float32).reshape(20, 4)
    times = PoseTimes()
    batch = doubler.infer_many(image, list(range(12)), times)
    assert batch == [doubler(image, i) for i in range(12)] == [2 * float(image[i].sum()) for i in range(12)]
    assert times.preprocess > 0 and times.postprocess > 0 and times.infer >= 0  # decoding overlaps the wait


def test_an_error_in_the_callback_is_raised_by_the_batch(doubler):
    image = np.zeros((20, 4), np.float32)
    with pytest.raises(ValueError, match="row 13 cannot be decoded"):
        doubler.infer_many(image, [11, 12, 13, 14])
    assert doubler.infer_many(image, [1, 2, 3]) == [0.0, 0.0, 0.0]  # and the next batch is clean
