"""Vigil runtime: real-time pose, fall and fatigue monitoring on OpenVINO.

The runtime depends only on openvino, opencv, numpy and pyyaml; it never imports ``convert``.
"""

__version__ = "0.1.0"
