"""Inference that never blocks the pipeline thread: many tasks' requests in flight at once on OpenVINO's async API.

A *task* is a generator that yields :class:`InferBatch` (a model, an image, one meta per inference) and is sent back
the batch's results, in order, until it returns its value: a stream's frame through pose estimation, tracking and
analysis (stream.py, pose/engine.py) is one. Written once, a task runs two ways:

- :func:`run_steps` drives it synchronously (tools, tests, the toolchain);
- :class:`AsyncScheduler` drives many at once, one per key (a stream): the pipeline thread prepares a batch's inputs
  and submits them to an ``AsyncInferQueue`` per compiled model, shared by every stream; OpenVINO infers them in its
  own threads and decodes each result in its callback thread; the pipeline thread, never waiting on a single
  inference, resumes whichever task's batch is complete and meanwhile prepares the next. A key has one task at a
  time, so a stream's frames are finished in their order.

An error raised while decoding a result in OpenVINO's callback thread is thrown into its task at the point of its
``yield`` (where the task can handle it), and otherwise raised by :meth:`AsyncScheduler.poll` in the pipeline thread,
as the synchronous path would raise it: never lost, never a silently missing result.

After OpenVINO's Model API ``AsyncPipeline`` and the benchmark_app's request pool, with one difference: work is
resumed as a generator, so a frame that needs two inference rounds (finder, then landmarks) keeps its requests in
flight between them without a thread of its own.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Generator, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import openvino as ov

from edge_app.inference.model import ModelWrapper, StageTimes, weak_callback

R = TypeVar("R")


@dataclass(frozen=True)
class InferBatch:
    """One round of a task's inference: ``model`` on ``image`` once per entry of ``metas`` (results come back in
    that order); the seconds of each stage are added to ``times`` when given."""

    model: ModelWrapper
    image: Any
    metas: list
    times: StageTimes | None = None


Steps = Generator[InferBatch, list, R]


def run_steps(steps: Steps[R]) -> R:
    """Drive a task synchronously: each batch inferred (``ModelWrapper.infer_many``) before the task resumes."""
    try:
        batch = next(steps)
        while True:
            results = batch.model.infer_many(batch.image, batch.metas, batch.times) if batch.metas else []
            batch = steps.send(results)
    except StopIteration as stop:
        return stop.value


@dataclass(eq=False)
class _Task(Generic[R]):
    key: Hashable
    steps: Steps[R]
    batch: InferBatch | None = None
    results: list = field(default_factory=list)
    remaining: int = 0
    submitted: float = 0.0  # perf_counter when the batch's first request went out
    prepare_s: float = 0.0  # seconds the batch's inputs took to prepare (in the wall time, not inference)
    decode_s: float = 0.0  # seconds its results spent decoding in OpenVINO's callback threads
    error: BaseException | None = None


class AsyncScheduler:
    """Runs tasks (one per key) with their inference requests in flight together; thread-safe only in that OpenVINO's
    callback threads hand results over through a queue: call everything else from one thread (the pipeline's).

    ``requests``: infer requests per compiled model (an ``AsyncInferQueue`` each, created when the model is first
    used; more than the device runs at once, so the next inputs are ready when a request frees). A batch larger than
    what is free waits in a backlog, submitted as requests free up: :meth:`start` and :meth:`poll` never block on a
    busy device."""

    def __init__(self, requests: int = 8):
        self.requests = requests
        self._queues: dict[int, ov.AsyncInferQueue] = {}
        # a Queue, not a SimpleQueue: CPython 3.11's SimpleQueue.get(timeout) waits forever when a signal interrupts
        # it in the last microseconds of its timeout (the time left goes negative, which the lock reads as "no
        # timeout"): seen as a Vigil that ignored SIGTERM and its --duration, its main thread in that wait
        self._done: queue.Queue = queue.Queue()
        self._backlog: deque[tuple[_Task, int, Any]] = deque()
        self._ready: deque = deque()  # results handed over, not yet applied to their tasks
        self._carried: list = []  # finished tasks a raising poll could not return
        self._tasks: dict[Hashable, _Task] = {}

    def busy(self, key: Hashable) -> bool:
        """Whether a task of ``key`` is in flight (a stream's next frame waits until it is finished)."""
        return key in self._tasks

    @property
    def in_flight(self) -> int:
        """Tasks started and not yet finished (at most one per key)."""
        return len(self._tasks)

    def wake(self) -> None:
        """Make a waiting :meth:`poll` return now (a capture thread calls it when a new frame arrives)."""
        self._done.put(None)

    def start(self, key: Hashable, steps: Steps[R]) -> list[tuple[Hashable, R]]:
        """Begin a task for ``key`` (which must not be busy): its first batch is prepared and submitted here. Returns
        the tasks finished by this call (this one, when it needed no inference). Raises what the task raises."""
        if key in self._tasks:
            raise RuntimeError(f"a task for {key!r} is already in flight")
        task = _Task(key, steps)
        self._tasks[key] = task
        finished: list[tuple[Hashable, R]] = []
        self._advance(task, None, finished, first=True)
        return finished

    def poll(self, timeout: float) -> list[tuple[Hashable, R]]:
        """Wait up to ``timeout`` seconds for results (or a :meth:`wake`); resume each task whose batch is complete
        and return the tasks that finished, as (key, value). Raises what a resumed task raises, including an error of
        OpenVINO's callback that the task did not handle (the other results wait for the next call)."""
        finished, self._carried = self._carried, []  # tasks finished by a poll that then raised
        if not self._ready:
            try:
                self._ready.append(self._done.get(timeout=timeout) if timeout > 0 else self._done.get_nowait())
            except queue.Empty:
                pass
        while True:
            try:
                self._ready.append(self._done.get_nowait())
            except queue.Empty:
                break
        try:
            while self._ready:
                item = self._ready.popleft()
                if item is not None:
                    self._complete(item, finished)
        except BaseException:
            self._carried = finished  # returned by the next poll: a task's error never loses another's result
            raise
        self._submit_backlog()
        return finished

    def drain(self, timeout: float) -> list[tuple[Hashable, R]]:
        """Finish every task in flight (at the end of a run); returns them. Tasks still unfinished after ``timeout``
        seconds are dropped with their keys returned as (key, None)."""
        finished: list[tuple[Hashable, R]] = []
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            finished += self.poll(0.05)
        for key in list(self._tasks):
            self._tasks.pop(key).steps.close()
            finished.append((key, None))
        return finished

    def close(self) -> None:
        """At the end of a run (after :meth:`drain`): wait for the requests still out and release the infer queues
        here, in the caller's thread. An ``AsyncInferQueue`` whose last reference goes in OpenVINO's callback thread
        waits there for its own requests: seen as a process that hung at exit."""
        for q in self._queues.values():
            q.wait_all()
        self._queues.clear()
        self._backlog.clear()

    # --- inside ---------------------------------------------------------------------------------------------------

    def _queue(self, model: ModelWrapper) -> ov.AsyncInferQueue:
        compiled = model.compiled.compiled
        q = self._queues.get(id(compiled))
        if q is None:
            q = ov.AsyncInferQueue(compiled, self.requests)
            q.set_callback(weak_callback(self._on_done))  # no cycle through C++ (see weak_callback)
            self._queues[id(compiled)] = q
        return q

    def _on_done(self, request: ov.InferRequest, userdata: tuple[_Task, int]) -> None:
        """OpenVINO's callback thread: decode one result with its model's postprocess and hand it over."""
        task, index = userdata
        batch = task.batch
        started = time.perf_counter()
        try:
            outputs = [request.get_output_tensor(i).data.copy() for i in range(len(request.model_outputs))]
            result, error = batch.model.postprocess(outputs, batch.metas[index]), None
        except BaseException as exc:  # noqa: BLE001 - handed to the pipeline thread, raised in the task there
            result, error = None, exc
        self._done.put((task, index, result, error, time.perf_counter() - started))

    def _complete(self, item: tuple, finished: list) -> None:
        task, index, result, error, decode_s = item
        if self._tasks.get(task.key) is not task:
            return  # a request of a task that already ended with an error
        task.results[index] = result
        task.decode_s += decode_s
        if error is not None and task.error is None:
            task.error = error
        task.remaining -= 1
        if task.remaining == 0:
            times = task.batch.times
            if times is not None:
                wall = time.perf_counter() - task.submitted - task.prepare_s
                times.infer += max(0.0, wall - task.decode_s)
                times.postprocess += task.decode_s
            self._advance(task, task.results, finished)

    def _advance(self, task: _Task, results: list | None, finished: list, first: bool = False) -> None:
        """Resume ``task`` with ``results`` (or its error) until it yields a batch that needs inference or returns."""
        try:
            while True:
                if first:
                    batch, first = next(task.steps), False
                elif task.error is not None:
                    error, task.error = task.error, None
                    batch = task.steps.throw(error)
                else:
                    batch = task.steps.send(results)
                if batch.metas:
                    break
                results = []
        except StopIteration as stop:
            del self._tasks[task.key]
            finished.append((task.key, stop.value))
            return
        except BaseException:
            del self._tasks[task.key]
            raise
        try:
            self._submit(task, batch)
        except BaseException:  # its input could not be made: the task ends here, with the error
            del self._tasks[task.key]
            task.steps.close()
            raise

    def _submit(self, task: _Task, batch: InferBatch) -> None:
        task.batch, task.results, task.remaining, task.decode_s = batch, [None] * len(batch.metas), len(batch.metas), 0
        task.submitted, task.prepare_s = time.perf_counter(), 0.0
        q = self._queue(batch.model)
        for index, meta in enumerate(batch.metas):
            started = time.perf_counter()
            tensor = batch.model.preprocess(batch.image, meta)
            task.prepare_s += time.perf_counter() - started
            if not self._backlog and q.is_ready():
                q.start_async({0: tensor}, (task, index))  # copied into the request
            else:
                self._backlog.append((task, index, tensor))
        if batch.times is not None:
            batch.times.preprocess += task.prepare_s

    def _submit_backlog(self) -> None:
        while self._backlog:
            task, index, tensor = self._backlog[0]
            if self._tasks.get(task.key) is not task:
                self._backlog.popleft()
                continue
            q = self._queue(task.batch.model)
            if not q.is_ready():
                return
            self._backlog.popleft()
            q.start_async({0: tensor}, (task, index))  # copied into the request

