"""Debian's headless Chromium, driven over the DevTools protocol (CDP) through a pipe.

``--remote-debugging-pipe`` makes Chromium read commands on its fd 3 and write answers and
events on its fd 4, one JSON message each, NUL-terminated: no port to find or share, no
dependency beyond the standard library (Playwright would bring a 40 MB driver to send the same
dozen commands). The flags are the ones this machine's notes give for a headless Chromium on a
closed network, with a fresh profile per browser.

    with Chromium(tmp_path / "profile", fake_camera=y4m) as browser:
        page = browser.new_page()
        page.goto("http://127.0.0.1:8000/")
        page.wait_for("window.yofPage && yofPage.state() === 'ready'")
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
)


class BrowserError(AssertionError):
    """A DevTools command failed, a script threw, or a wait timed out (with the page's console)."""


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def write_y4m(frames: Sequence[np.ndarray], path: Path, fps: int) -> Path:
    """A YUV4MPEG2 (4:2:0) file of BGR ``frames`` (even sides), the format Chromium's fake
    camera reads (``--use-file-for-fake-video-capture``)."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


class Chromium:
    """One headless Chromium with a fresh profile in ``profile``; ``fake_camera``: a .y4m file
    the browser's only camera plays in a loop (a page may use it once :meth:`allow_camera` has
    granted its origin the permission); ``flags``: more command-line flags; ``keep_gpu``: leave
    out ``--disable-gpu`` (for WebGPU on SwiftShader)."""

    def __init__(
        self,
        profile: Path,
        *,
        fake_camera: Path | None = None,
        flags: Sequence[str] = (),
        executable: str | None = None,
        keep_gpu: bool = False,
    ) -> None:
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserError("chromium is not installed (apt-get install chromium)")
        profile.mkdir(parents=True, exist_ok=True)
        camera = (
            [
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={fake_camera}",
            ]
            if fake_camera is not None
            else []
        )
        base = [f for f in FLAGS if not (keep_gpu and f == "--disable-gpu")]
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()
        # fds 3 and 4 of Chromium (through Debian's wrapper script, which execs the binary)
        redirect = f'exec "$@" 3<&{commands_read} 4>&{answers_write}'
        self.log = profile / "chromium.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["/bin/bash", "-c", redirect, "bash", executable, *base, *camera, *flags,
                 f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
                pass_fds=(commands_read, answers_write), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        os.close(commands_read)
        os.close(answers_write)
        self._next_id = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition()
        self._answers_by_id: dict[int, dict] = {}
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.version = self.send("Browser.getVersion")["product"]

    def _read(self) -> None:
        pending = b""
        while chunk := os.read(self._answers, 1 << 16):
            pending += chunk
            *messages, pending = pending.split(b"\0")
            with self._arrived:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers_by_id[message["id"]] = message
                    else:
                        self.events.append(message)
                self._arrived.notify_all()
        with self._arrived:
            self._arrived.notify_all()

    def send(
        self, method: str, params: dict | None = None, session: str | None = None, timeout=60.0
    ) -> dict:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
            if session is not None:
                message["sessionId"] = session
            os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._arrived:
            while ident not in self._answers_by_id:
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise BrowserError(f"{method}: no answer from Chromium ({self._log_tail()})")
                self._arrived.wait(min(left, 1.0))
            answer = self._answers_by_id.pop(ident)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    def wait_event(self, method: str, predicate=lambda params: True, timeout=60.0) -> dict:
        """The params of the first event ``method`` (since the browser started) that
        ``predicate`` accepts."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for event in self.events:
                    if event["method"] == method and predicate(event.get("params", {})):
                        return event["params"]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"no {method} event in {timeout:.0f} s")
                self._arrived.wait(min(left, 1.0))

    def allow_camera(self, origin: str, allowed: bool = True) -> None:
        """Grant (or deny) ``origin`` the camera, as the user would at the browser's prompt."""
        setting = "granted" if allowed else "denied"
        self.send(
            "Browser.setPermission",
            {"permission": {"name": "camera"}, "setting": setting, "origin": origin.rstrip("/")},
        )

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.send("Runtime.enable")
        page.send("Page.enable")
        return page

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return "no log"

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("Browser.close", timeout=10)
                self.process.wait(timeout=10)
            except (BrowserError, OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, 9)
                self.process.wait()
        for fd in (self._commands, self._answers):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    """One tab, attached to its own DevTools session."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict | None = None, timeout=60.0) -> dict:
        return self.browser.send(method, params, self.session, timeout)

    def goto(self, url: str) -> None:
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"{url}: {answer['errorText']}")

    def evaluate(self, expression: str, timeout=60.0) -> Any:
        """The value of a JavaScript expression (promises awaited), as JSON gives it back."""
        answer = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True,
             "userGesture": True},
            timeout,
        )  # fmt: skip
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression}: {text}\n{self.console()}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout=60.0, interval=0.1) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(
                    f"still false after {timeout:.0f} s: {expression}\n{self.console()}"
                )
            time.sleep(interval)

    def console(self) -> str:
        """What the page printed to its console, and the exceptions it threw."""
        lines = []
        for event in list(self.browser.events):
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled":
                text = " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params["args"]
                )
                lines.append(f"console.{params['type']}: {text}")
            elif event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                thrown = details.get("exception", {}).get("description", details.get("text"))
                lines.append(f"exception: {thrown}")
        return "\n".join(lines[-30:]) or "(nothing on the console)"

    def drop_files(self, selector: str, paths: Sequence[Path]) -> None:
        """Drag ``paths`` from outside the browser and drop them on the element ``selector``."""
        x, y = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        data = {"items": [], "files": [str(p) for p in paths], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            self.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})

    def canvas_pixels(self, selector: str) -> np.ndarray:
        """The BGR image a canvas shows."""
        return frame_pixels(
            self.evaluate(
                f"(() => {{ const c = document.querySelector({json.dumps(selector)});"
                " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                " let s = ''; for (let i = 0; i < d.length; i += 0x8000)"
                " s += String.fromCharCode(...d.subarray(i, i + 0x8000));"
                " return {width: c.width, height: c.height, rgba: btoa(s)}; })()"
            )
        )

    def set_files(self, selector: str, paths: Sequence[Path]) -> None:
        """Choose ``paths`` in the file input ``selector``, as the file dialog would."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})


def frame_pixels(frame: dict) -> np.ndarray:
    """The BGR image of ``yofPage.lastFrame()`` (RGBA bytes, base64)."""
    rgba = np.frombuffer(base64.b64decode(frame["rgba"]), dtype=np.uint8)
    rgba = rgba.reshape(frame["height"], frame["width"], 4)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
