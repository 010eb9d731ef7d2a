"""The operator's on-screen window (OpenCV's Qt backend): a normal window, or full screen for a kiosk."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)

QUIT_KEYS = {ord("q"), 27}  # q, Esc
ACK_KEYS = {ord("a"), ord("A")}  # acknowledge every active alert


def screen_size() -> tuple[int, int] | None:
    """The X display's size (via libX11), or None where there is no X display to ask."""
    try:
        x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    except OSError:
        return None
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x11.XDisplayWidth.argtypes = x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(None)
    if not display:
        return None
    try:
        screen = x11.XDefaultScreen(display)
        return x11.XDisplayWidth(display, screen), x11.XDisplayHeight(display, screen)
    finally:
        x11.XCloseDisplay(display)


class Window:
    """Created on the first frame. In kiosk mode the window fills the screen, keeps the picture's aspect ratio,
    has no toolbar, and ignores the quit keys (a kiosk is not closed by a stray key press). The acknowledge key
    (A) works in both: it sets ``ack_requested``, which the render stage takes with :meth:`take_ack`."""

    def __init__(self, title: str = "Vigil", kiosk: bool = False):
        self.title, self.kiosk = title, kiosk
        self._open = False
        self.quit_requested = False
        self.ack_requested = False

    def show(self, image: np.ndarray) -> None:
        if not self._open:
            flags = cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL
            cv2.namedWindow(self.title, flags)
            if self.kiosk:
                # Size it to the screen first: with no window manager (a bare kiosk X server) the full-screen
                # request alone leaves the window at its default size.
                size = screen_size()
                if size:
                    cv2.resizeWindow(self.title, *size)
                    cv2.moveWindow(self.title, 0, 0)
                cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
            else:
                cv2.resizeWindow(self.title, image.shape[1], image.shape[0])
            self._open = True
            log.info("window %s%s", self.title, " (kiosk, full screen)" if self.kiosk else "")
        cv2.imshow(self.title, image)
        self.key(cv2.waitKey(1) & 0xFF)

    def key(self, key: int) -> None:
        if key in QUIT_KEYS and not self.kiosk:
            self.quit_requested = True
        elif key in ACK_KEYS:
            self.ack_requested = True

    def take_ack(self) -> bool:
        """True once per press of the acknowledge key."""
        pressed, self.ack_requested = self.ack_requested, False
        return pressed

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
            self._open = False
