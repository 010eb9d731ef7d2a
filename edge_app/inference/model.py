"""The base of every model class: preprocessing, inference, postprocessing and their timing in one place.

After OpenVINO's Model API (``Model.__call__`` = preprocess -> infer -> postprocess; ``AsyncPipeline``, which
re-raises an error of its callback in the caller): a model family subclasses :class:`ModelWrapper` and gives only
``preprocess`` and ``postprocess``; the synchronous call, the asynchronous batch and the stage timing are shared.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import openvino as ov

from edge_app.inference.preprocessing import ImageInput, bgr_u8_input, host_input, takes_u8
from edge_app.inference.runtime import CompiledModel

Meta = TypeVar("Meta")
Out = TypeVar("Out")


class StageTimes(Protocol):
    """Seconds spent per stage, summed over calls (pose.engine.PoseTimes is one)."""

    preprocess: float
    infer: float
    postprocess: float


def weak_callback(method: Callable[..., None]) -> Callable[..., None]:
    """``method`` (a bound method) as a callback that does not keep its object alive: an ``AsyncInferQueue`` holds its
    callback in C++, where Python's garbage collector cannot see the cycle object -> queue -> callback -> object, so
    a bound method there kept every wrapper and its tensors alive for good (measured: 1.6 MB per console upload
    checked). Once the object is gone, a late callback does nothing."""
    ref = weakref.WeakMethod(method)

    def call(*args) -> None:
        bound = ref()
        if bound is not None:
            bound(*args)

    return call


class ModelWrapper(Generic[Meta, Out]):
    """A compiled model with its own pre- and postprocessing.

    ``preprocess(image, meta)`` returns the input tensor (a NumPy array, the model's layout); ``postprocess(outputs,
    meta)`` turns the model's outputs (indexable by output index) into the result. ``meta`` is whatever the pair
    needs to map between the image and the tensor (a crop, a view). ``jobs``: requests in flight for
    :meth:`infer_many` (0: no asynchronous path)."""

    def __init__(self, compiled: CompiledModel, jobs: int = 0):
        self.compiled, self.jobs = compiled, jobs
        self._request = compiled.create_request()
        self._queue: ov.AsyncInferQueue | None = None
        if jobs > 0:
            self._queue = ov.AsyncInferQueue(compiled.compiled, jobs)
            self._queue.set_callback(weak_callback(self._on_done))
        self._results: dict[int, Any] = {}
        self._errors: list[BaseException] = []
        self._decode_s: list[float] = []
        self._lock = threading.Lock()

    def preprocess(self, image: np.ndarray, meta: Meta) -> np.ndarray:
        raise NotImplementedError

    def postprocess(self, outputs, meta: Meta) -> Out:
        raise NotImplementedError

    def __call__(self, image: np.ndarray, meta: Meta, times: StageTimes | None = None) -> Out:
        """Preprocess, infer (synchronously, zero-copy: the result is decoded before the next inference) and
        postprocess one input; ``times``, when given, accumulates the seconds of each stage."""
        started = time.perf_counter()
        tensor = self.preprocess(image, meta)
        infer_start = time.perf_counter()
        result = self._request.infer({0: tensor}, share_inputs=True, share_outputs=True)
        decode_start = time.perf_counter()
        out = self.postprocess(result, meta)
        if times is not None:
            times.preprocess += infer_start - started
            times.infer += decode_start - infer_start
            times.postprocess += time.perf_counter() - decode_start
        return out

    def _on_done(self, request: ov.InferRequest, userdata: tuple[int, Meta]) -> None:
        """OpenVINO's callback thread: decode one result; an error is kept and re-raised by :meth:`infer_many`."""
        index, meta = userdata
        started = time.perf_counter()
        try:
            outputs = [request.get_output_tensor(i).data.copy() for i in range(len(request.model_outputs))]
            result = self.postprocess(outputs, meta)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            with self._lock:
                self._errors.append(exc)
            return
        with self._lock:
            self._results[index] = result
            self._decode_s.append(time.perf_counter() - started)

    def infer_many(self, image: np.ndarray, metas: list[Meta], times: StageTimes | None = None) -> list[Out]:
        """One result per ``meta``, in order: preprocessing here, inference in OpenVINO's threads with ``jobs``
        requests in flight, postprocessing in OpenVINO's callback threads. An error raised by a callback is raised
        here (the first one, with its own traceback), never lost or turned into a missing result."""
        if self._queue is None or len(metas) == 1:
            return [self(image, meta, times) for meta in metas]
        self._results, self._errors, self._decode_s = {}, [], []
        started = time.perf_counter()
        prep = infer = 0.0
        for i, meta in enumerate(metas):
            tensor = self.preprocess(image, meta)
            now = time.perf_counter()
            prep += now - started
            self._queue.start_async({0: tensor}, (i, meta))  # copied into the request
            started = time.perf_counter()
        self._queue.wait_all()
        infer += time.perf_counter() - started
        if self._errors:
            raise self._errors[0]
        if times is not None:
            decode_s = sum(self._decode_s)
            times.preprocess += prep
            times.infer += max(0.0, infer - decode_s)  # the wait included the decoding of the last results
            times.postprocess += decode_s
        return [self._results[i] for i in range(len(metas))]


class ImageModel(ModelWrapper[Meta, Out]):
    """A model that sees a square patch of a BGR image: subclasses give ``INPUT`` (what the network expects) and
    ``patch(image, meta)`` (the (S, S, 3) uint8 BGR crop). Compiled with :meth:`prepare` (``Runtime.compile(...,
    prepare=Model.prepare)``, ``ModelStore.choose`` likewise) the model converts the patch itself and the host passes
    uint8; a model compiled without it gets the same conversion on the host (inference/preprocessing.py)."""

    INPUT = ImageInput()

    def __init__(self, compiled: CompiledModel, jobs: int = 0):
        super().__init__(compiled, jobs)
        self.in_model = takes_u8(compiled.compiled)  # the conversion runs inside the compiled model

    @classmethod
    def prepare(cls, model: ov.Model) -> ov.Model:
        """``model`` with this class's input conversion as PrePostProcessor steps (uint8 NHWC BGR in)."""
        return bgr_u8_input(model, cls.INPUT)

    def patch(self, image: np.ndarray, meta: Meta) -> np.ndarray:
        """The (S, S, 3) uint8 BGR crop of ``image`` (H, W, 3 BGR) that ``meta`` (a view, a ROI) names."""
        raise NotImplementedError

    def preprocess(self, image: np.ndarray, meta: Meta) -> np.ndarray:
        patch = self.patch(image, meta)[None]
        return patch if self.in_model else host_input(patch, self.INPUT)
