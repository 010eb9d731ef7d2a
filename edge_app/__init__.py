"""Vigil runtime: real-time pose, fall and fatigue monitoring on OpenVINO.

The runtime depends only on openvino, opencv, PyAV, numpy, pyyaml and paho-mqtt; it never imports ``convert``.
"""

__version__ = "0.1.0"
