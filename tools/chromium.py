"""Drive headless Chromium over the DevTools protocol, with the standard library only.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol messages on file
descriptor 3 and writes them on 4, each a JSON object followed by a NUL byte (the transport
Puppeteer's ``pipe: true`` uses). No websocket, no port, no package: a browser test needs
Debian's ``chromium`` and nothing else. Used by the browser tests (``tests/test_page.py``) and by
``tools/docs_img.py``.

    with Browser() as browser:
        browser.open(Path("net.html"), width=1600, height=1000)
        browser.click("th[data-key=params] button")       # a real mouse click at its centre
        rows = browser.evaluate("document.querySelectorAll('tr').length")
        png = browser.screenshot()

Flags: those this machine's headless Chromium needs (no sandbox as root, no GPU, no QUIC, no
first-run, background networking, component updates or sync) and a fresh profile; every host
name resolves to nothing (``--host-resolver-rules``), so a page that needed the network would
visibly miss what it fetched.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--hide-scrollbars", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) binary on PATH, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """Chromium did not start, did not answer in time, or reported an error."""


class Browser:
    """One headless Chromium with one page, controlled through the DevTools protocol."""

    def __init__(self, binary: str | None = None, timeout: float = 60.0) -> None:
        found = binary or find_chromium()
        if found is None:
            raise BrowserError("no Chromium on PATH (Debian: apt-get install chromium)")
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="archcalc-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # the shell makes our pipes its descriptors 3 (read) and 4 (write), then execs chromium
        command = [found, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-pipe",
                   "about:blank"]
        self._process = subprocess.Popen(
            ["/bin/sh", "-c", 'exec 3<&0 4>&1 0</dev/null 1>/dev/null; exec "$@"', "sh",
             *command],
            stdin=to_child_r, stdout=from_child_w, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.session = ""
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.send("Target.attachToTarget",
                                     {"targetId": target, "flatten": True})["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------------- protocol --

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed the protocol pipe (did it crash?)")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call one protocol method and return its result (events seen meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def wait_for(self, event: str) -> dict[str, Any]:
        """The next protocol event called ``event`` (e.g. ``Page.loadEventFired``)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, seen in enumerate(self._events):
                if seen.get("method") == event:
                    del self._events[i]
                    found: dict[str, Any] = seen.get("params", {})
                    return found
            reply = self._read_message(deadline)
            if "method" in reply:
                self._events.append(reply)

    # ------------------------------------------------------------------------ the page --

    def open(self, path: Path, *, width: int = 1600, height: int = 1000) -> None:
        """Load a local file in a ``width`` × ``height`` viewport and wait for its load event
        (the page's own scripts have run by then)."""
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self._events.clear()
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": True})
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript error: {text}")
        return reply.get("result", {}).get("value")

    def click(self, selector: str) -> None:
        """Scroll the first element matching ``selector`` into view and click its centre with
        the mouse (pressed and released), as a person would."""
        self.click_element(f"document.querySelector({json.dumps(selector)})", selector)

    def click_element(self, expression: str, what: str = "") -> None:
        """:meth:`click` on the element a JavaScript ``expression`` evaluates to."""
        box = self.evaluate(
            f"(function () {{ var e = {expression};"
            " if (!e) return null; e.scrollIntoView({block: 'center', inline: 'center'});"
            " var r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; }())")
        if box is None:
            raise BrowserError(f"nothing matches {what or expression!r}")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                   "button": "left", "clickCount": 1})

    def type_text(self, selector: str, text: str) -> None:
        """Focus ``selector`` and type ``text`` key by key."""
        self.click(selector)
        self.send("Input.insertText", {"text": text})

    def screenshot(self, clip: tuple[float, float, float, float] | None = None) -> bytes:
        """A PNG of the viewport, or of ``clip`` = (x, y, width, height) in page coordinates
        (beyond the viewport if need be)."""
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            x, y, w, h = clip
            params["clip"] = {"x": x, "y": y, "width": w, "height": h, "scale": 1}
            params["captureBeyondViewport"] = True
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    # ---------------------------------------------------------------------------- close --

    def close(self) -> None:
        try:
            if self._process.poll() is None:
                with contextlib.suppress(BrowserError, OSError):
                    self.send("Browser.close")
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
        finally:
            for fd in (self._to_child, self._from_child):
                with contextlib.suppress(OSError):
                    os.close(fd)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
