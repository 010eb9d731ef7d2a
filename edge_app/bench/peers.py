"""The peers Vigil is compared with, on the same models, machine, run and thread count.

- LiteRT (``ai-edge-litert``, TensorFlow Lite's runtime) with its XNNPACK CPU delegate, on the BlazePose TFLite
  files exactly as MediaPipe ships them. Note: the TFLite landmark graph also computes the segmentation mask and
  the heatmap, which Vigil's IR leaves out (the runtime never uses them); that is part of what is compared.
- ONNX Runtime (CPU execution provider) on the ONNX export of the PyTorch-trained sequence models.
- MediaPipe's own pose pipeline (0.10.21), in its own venv (it pins an old numpy), on a clip:
  ``scripts/mediapipe_baseline.py``.

All three are optional packages of the benchmark (the ``bench`` extra), never of the runtime.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
MEDIAPIPE_VENV = REPO / ".cache" / "vigil" / "mediapipe-venv"
MEDIAPIPE_VERSION = "0.10.21"


class Peer:
    name = "peer"

    def call(self, inputs: list[np.ndarray] | None) -> Callable[[], object]:
        raise NotImplementedError

    def describe(self) -> dict:
        return {}


class LiteRT(Peer):
    """One synchronous ``invoke`` (after ``set_tensor``) of a TFLite model with ``threads`` XNNPACK threads."""

    name = "litert_xnnpack"

    def __init__(self, path: Path, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        self.path, self.threads = path, threads
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()

    def call(self, inputs):
        it = self.interpreter
        details = it.get_input_details()
        feeds = [(d["index"], np.ascontiguousarray(x, dtype=d["dtype"]).reshape(d["shape"]))
                 for d, x in zip(details, inputs or [np.random.rand(*d["shape"]) for d in details])]

        def run():
            for index, x in feeds:
                it.set_tensor(index, x)
            it.invoke()

        return run

    def describe(self) -> dict:
        import ai_edge_litert

        return {"engine": f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')} (XNNPACK delegate, "
                          f"{self.threads} threads)", "model_file": self.path.name,
                "graph": "full TFLite graph (landmark models: with segmentation and heatmap outputs)"}


class OnnxRuntime(Peer):
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.path, self.threads = path, threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def call(self, inputs):
        names = [i.name for i in self.session.get_inputs()]
        shapes = [[d if isinstance(d, int) else 1 for d in i.shape] for i in self.session.get_inputs()]
        feeds = {n: np.ascontiguousarray(x if x is not None else np.random.rand(*s), dtype=np.float32)
                 for n, s, x in zip(names, shapes, inputs or [None] * len(names))}
        return lambda: self.session.run(None, feeds)

    def describe(self) -> dict:
        import onnxruntime as ort

        return {"engine": f"onnxruntime {ort.__version__} (CPU, {self.threads} intra-op threads)",
                "model_file": f"{self.path.parent.parent.name}/onnx/{self.path.name}"}


def peers_for(kind: str, path: Path, threads: int) -> tuple[list[Peer], list[str]]:
    """The peers that can run this model file, and why any could not."""
    try:
        if kind == "tflite":
            return [LiteRT(path, threads)], []
        if kind == "onnx":
            return [OnnxRuntime(path, threads)], []
    except ImportError as exc:
        return [], [f"{kind} peer not installed ({exc.name}); `pip install -e '.[bench]'`"]
    return [], []


# --- MediaPipe's pipeline ---------------------------------------------------------------------------------------

def mediapipe_python() -> Path | None:
    """The MediaPipe venv's python when mediapipe is installed there (``make benchmark`` creates it)."""
    python = MEDIAPIPE_VENV / "bin" / "python"
    if not python.is_file():
        return None
    ok = subprocess.run([str(python), "-c", "import mediapipe"], capture_output=True, timeout=120).returncode == 0
    return python if ok else None


def ensure_mediapipe(progress=None) -> Path | None:
    """Create the isolated MediaPipe venv if it is missing (a pip install from PyPI, a minute or two)."""
    python = mediapipe_python()
    if python is not None:
        return python
    if progress:
        progress(f"creating {MEDIAPIPE_VENV} (mediapipe=={MEDIAPIPE_VERSION}) for the MediaPipe comparison")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(MEDIAPIPE_VENV)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([str(MEDIAPIPE_VENV / "bin" / "pip"), "install", "-q", f"mediapipe=={MEDIAPIPE_VERSION}"],
                       check=True, capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("could not create the MediaPipe venv (%s): the MediaPipe comparison is skipped", exc)
        return None
    return mediapipe_python()


def run_mediapipe(python: Path, clip: Path, max_frames: int | None, out: Path) -> dict:
    """MediaPipe's pose pipeline over ``clip`` (tracking mode, full model, every frame as fast as it goes)."""
    args = [str(python), str(REPO / "scripts" / "mediapipe_baseline.py"), str(clip), "--json", str(out)]
    if max_frames:
        args += ["--max-frames", str(max_frames)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"MediaPipe baseline failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.read_text())
