"""Image models' input conversion, folded into the compiled model with OpenVINO's ``PrePostProcessor``.

The host hands a model a square uint8 BGR patch (N, S, S, 3), the crop it had to make anyway; the model converts it
to what the network was trained on: element type, BGR -> RGB, then ``(x - mean) / scale``. OpenVINO fuses these
steps into the first layer, so the host no longer makes a float copy of every patch (measured in `make benchmark`,
"preprocessing"). :func:`host_input` is the same conversion in NumPy: the reference the toolchain calibrates and
checks against, and the path for a model compiled without :func:`bgr_u8_input`.

What stays on the host, and why: the crop itself (``cv2.warpAffine``). A person's ROI is rotated and a finder's
view is a letterboxed square; one warp does crop, rotation, scaling and padding in a single pass over only the
pixels it needs, where an in-model resize would take the whole frame into every request and could not rotate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor


@dataclass(frozen=True)
class ImageInput:
    """How a network expects its image: RGB channel order, ``(pixel - mean) / scale`` in ``dtype``.

    BlazePose landmarks: mean 0, scale 255 (RGB in [0, 1]); BlazePose detector: mean 127.5, scale 127.5 ([-1, 1]);
    MoveNet: int32 pixels as they are (mean 0, scale 1)."""

    mean: float = 0.0
    scale: float = 1.0
    dtype: type = np.float32


def bgr_u8_input(model: ov.Model, spec: ImageInput) -> ov.Model:
    """``model`` (input 0: NHWC, RGB) with ``PrePostProcessor`` steps so that it takes uint8 NHWC BGR pixels.

    Changes and returns ``model`` (compile it afterwards). Raises RuntimeError from OpenVINO when input 0 is not a
    4-D NHWC image."""
    ppp = PrePostProcessor(model)
    ppp.input(0).tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")) \
        .set_color_format(ColorFormat.BGR)
    ppp.input(0).model().set_layout(ov.Layout("NHWC"))
    steps = ppp.input(0).preprocess()
    if spec.mean or spec.scale != 1.0:
        steps.convert_element_type(ov.Type.f32)
    steps.convert_color(ColorFormat.RGB)
    if spec.mean:
        steps.mean(float(spec.mean))
    if spec.scale != 1.0:
        steps.scale(float(spec.scale))
    return ppp.build()  # an element type other than the model's is converted implicitly (MoveNet's int32)


def host_input(patch: np.ndarray, spec: ImageInput) -> np.ndarray:
    """The same conversion on the host: uint8 BGR (..., 3) -> RGB ``(patch - mean) / scale`` as ``spec.dtype``."""
    rgb = patch[..., ::-1]
    if spec.mean or spec.scale != 1.0:
        return np.ascontiguousarray((rgb.astype(np.float32) - np.float32(spec.mean)) * np.float32(1.0 / spec.scale),
                                    dtype=spec.dtype)
    return np.ascontiguousarray(rgb, dtype=spec.dtype)


def takes_u8(compiled: ov.CompiledModel) -> bool:
    """Whether a compiled model's first input is uint8 (compiled with :func:`bgr_u8_input`)."""
    return compiled.inputs[0].get_element_type() == ov.Type.u8
