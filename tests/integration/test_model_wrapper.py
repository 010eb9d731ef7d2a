"""The model base class (edge_app/inference/model.py) and the AsyncScheduler (inference/scheduler.py) on a small real
OpenVINO model: the synchronous call, the asynchronous batch and many tasks in flight give the same results in order,
stage times are counted, and an error raised while decoding a result in OpenVINO's callback thread reaches the task
(or the caller) as itself."""

from __future__ import annotations

import time

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from edge_app.inference.model import ModelWrapper
from edge_app.inference.runtime import Runtime
from edge_app.inference.scheduler import AsyncScheduler, InferBatch, run_steps
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


@pytest.fixture
def schedulers():
    """AsyncSchedulers made by ``make(...)``, closed after the test as the runner closes its own."""
    made: list[AsyncScheduler] = []

    def make(**kwargs) -> AsyncScheduler:
        made.append(AsyncScheduler(**kwargs))
        return made[-1]

    yield make
    for scheduler in made:
        scheduler.close()


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


# --- the AsyncScheduler (inference/scheduler.py): many tasks' requests in flight on the same real model -----------

def two_rounds(doubler, image, rows, log=None):
    """A task of two inference rounds: the rows, then the rows one further; returns both rounds' results."""
    first = yield InferBatch(doubler, image, list(rows))
    if log is not None:
        log.append(("between", rows))
    second = yield InferBatch(doubler, image, [r + 1 for r in rows])
    return first, second


def test_tasks_in_flight_together_give_what_the_synchronous_run_gives(doubler, schedulers):
    image = np.arange(80, dtype=np.float32).reshape(20, 4)
    scheduler = schedulers(requests=2)  # fewer requests than one batch needs: the rest waits in the backlog
    expected = {k: run_steps(two_rounds(doubler, image, range(k, k + 5))) for k in range(4)}
    finished = {}
    for k in range(4):
        finished.update(scheduler.start(k, two_rounds(doubler, image, range(k, k + 5))))
    assert scheduler.in_flight == 4 and all(scheduler.busy(k) for k in range(4))
    with pytest.raises(RuntimeError, match="already in flight"):
        scheduler.start(0, two_rounds(doubler, image, [1]))
    deadline = time.monotonic() + 10
    while scheduler.in_flight and time.monotonic() < deadline:
        finished.update(scheduler.poll(0.05))
    assert finished == expected
    assert expected[1] == ([2 * float(image[r].sum()) for r in range(1, 6)],
                           [2 * float(image[r].sum()) for r in range(2, 7)])


def test_an_error_in_the_callback_is_thrown_into_its_task_where_it_can_be_handled(doubler, schedulers):
    image = np.zeros((20, 4), np.float32)

    def careful():
        try:
            yield InferBatch(doubler, image, [12, 13])
        except ValueError as exc:
            return f"handled: {exc}"
        return "not raised"

    scheduler = schedulers()
    scheduler.start("careful", careful())
    scheduler.start("plain", two_rounds(doubler, image, [1, 2]))
    scheduler.start("careless", two_rounds(doubler, image, [13]))
    finished, raised = {}, []
    deadline = time.monotonic() + 10
    while scheduler.in_flight and time.monotonic() < deadline:
        try:
            finished.update(scheduler.poll(0.05))
        except ValueError as exc:  # the careless task's error reaches the pipeline thread, as itself
            raised.append(str(exc))
    assert finished["careful"] == "handled: row 13 cannot be decoded"
    assert finished["plain"] == ([0.0, 0.0], [0.0, 0.0])  # the other tasks are not disturbed
    assert raised == ["row 13 cannot be decoded"] and "careless" not in finished
    assert not scheduler.busy("careless")  # its stream can go on with the next frame


def test_a_task_without_inference_finishes_at_start_and_drain_finishes_the_rest(doubler, schedulers):
    image = np.ones((20, 4), np.float32)

    def nothing_to_infer():
        results = yield InferBatch(doubler, image, [])
        return ("done", results)

    scheduler = schedulers()
    assert scheduler.start("empty", nothing_to_infer()) == [("empty", ("done", []))]
    scheduler.start("late", two_rounds(doubler, image, [3]))
    assert scheduler.drain(10.0) == [("late", ([8.0], [8.0]))]
    assert scheduler.in_flight == 0

