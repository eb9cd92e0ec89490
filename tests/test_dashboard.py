"""The dashboard in a real browser: headless Chromium, driven over the DevTools protocol.

Chromium is Debian's ``chromium`` package; when ``/usr/bin/chromium`` is missing the
test installs it with ``.ci/install_chromium.sh`` (root, apt) rather than skipping.
The DevTools protocol runs over ``--remote-debugging-pipe`` (NUL-separated JSON on
file descriptors 3 and 4), so no websocket client is needed. Clicks are real mouse
events at the button's position (``Input.dispatchMouseEvent``).
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbos_queue import DBOS, Queue, SetWorkflowID
from dbos_queue.api.dbos import _rt
from dbos_queue.ops.admin.server import AdminServer
from dbos_queue.queue.claim import set_queue_limits
from tests.plugins.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
TOKEN = "dash-token"
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
# A first run may install Chromium (apt) inside the test: allow for a slow mirror.
INSTALL_TIMEOUT = 300
pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 120)]


def ensure_chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        r = subprocess.run(
            ["bash", str(ROOT / ".ci" / "install_chromium.sh")],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        assert r.returncode == 0, f"installing chromium failed:\n{r.stdout}\n{r.stderr}"
    assert os.access(CHROMIUM, os.X_OK)
    return CHROMIUM


def _high_fd(fd: int) -> int:
    """The same pipe end on a descriptor >= 10 (clear of the child's 3 and 4)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Browser:
    """Headless Chromium with one page, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, profile: str, log_path: str) -> None:
        cmd_r, cmd_w = map(_high_fd, os.pipe())  # we write commands -> its fd 3
        res_r, res_w = map(_high_fd, os.pipe())  # its fd 4 -> we read replies and events
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-dev-shm-usage",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                "/bin/bash",
                "-c",
                f'exec "$@" 3<&{cmd_r} 4>&{res_w} {cmd_r}<&- {res_w}>&-',
                "bash",
                *args,
            ],
            pass_fds=(cmd_r, res_w),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        os.close(cmd_r)
        os.close(res_w)
        self._w, self._r = cmd_w, res_r
        self._next = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_forever, daemon=True)
        self._reader.start()
        self.session: str | None = None

    def _read_forever(self) -> None:
        buf = b""
        while True:
            try:
                ready, _, _ = select.select([self._r], [], [], 0.5)
                if not ready:
                    if self.proc.poll() is not None:
                        return
                    continue
                chunk = os.read(self._r, 1 << 16)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._replies[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self._events.put(msg)

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool = True,
        timeout: float = 20,
    ) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._next not in self._replies:
                left = deadline - time.monotonic()
                assert left > 0, f"no reply to {method} within {timeout}s"
                assert self.proc.poll() is None, "chromium exited"
                self._cond.wait(min(left, 0.5))
            reply = self._replies.pop(self._next)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply.get("result", {})

    def open_page(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self.session = attached["sessionId"]
        self.send("Page.enable")

    def _drain_events(self) -> None:
        while not self._events.empty():
            self._events.get_nowait()

    def wait_load(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "page did not finish loading"
            try:
                ev = self._events.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if ev.get("method") == "Page.loadEventFired" and ev.get("sessionId") == self.session:
                return

    def navigate(self, url: str) -> None:
        self._drain_events()
        result = self.send("Page.navigate", {"url": url})
        assert not result.get("errorText"), result
        self.wait_load()

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def html(self) -> str:
        return self.evaluate("document.documentElement.outerHTML")

    def click(self, selector: str) -> None:
        """A real left click in the middle of the element (which must exist)."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
        )
        assert box is not None, f"nothing matches {selector}"
        self._drain_events()
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            params = {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1}
            if kind == "mouseMoved":
                params = {"type": kind, "x": box["x"], "y": box["y"]}
            self.send("Input.dispatchMouseEvent", params)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", session=False, timeout=5)
                except AssertionError:
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            os.close(self._w)
            self._reader.join(timeout=5)
            os.close(self._r)
            self.log.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    binary = ensure_chromium()
    profile = tempfile.mkdtemp(prefix="dbosq-chromium-")
    log = os.path.join(profile, "chromium.log")
    b = Browser(binary, os.path.join(profile, "profile"), log)
    try:
        b.open_page()
        yield b
    except BaseException:
        print(Path(log).read_text(errors="replace")[-4000:])
        raise
    finally:
        b.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "admin_token": TOKEN}


def _status(wf_id: str) -> str:
    status = DBOS.get_workflow_status(wf_id)
    assert status is not None
    return status.status


def _wait_status(wf_id: str, wanted: list[str], timeout: float = 30) -> str:
    """Poll until ``wf_id`` has one of the ``wanted`` statuses; return it."""

    def reached() -> str | None:
        status = _status(wf_id)
        return status if status in wanted else None

    return wait_until(reached, timeout, f"{wf_id} to become one of {wanted}", every=0.05)


def test_dashboard_in_chromium(dbos: Any, browser: Browser) -> None:
    outbox = Queue("outbox")
    attempts: list[int] = []

    @DBOS.step()
    def render_mail(n: int) -> str:
        return f"mail {n}"

    @DBOS.workflow()
    def send_mail(n: int) -> str:
        body = render_mail(n)
        attempts.append(n)
        if len(attempts) == 1:
            raise ConnectionError("smtp down")
        return body

    @DBOS.workflow(name="<i>evil</i>")
    def evil(payload: str) -> str:
        return payload

    rt = _rt()
    rt.start_admin("127.0.0.1", 0, sample_interval=0.2)
    server = rt.admin
    assert isinstance(server, AdminServer)
    base = f"http://127.0.0.1:{server.port}"

    with SetWorkflowID("mail-1"):
        handle = outbox.enqueue(send_mail, 1)
    with pytest.raises(ConnectionError):
        handle.get_result(timeout=30)
    rt.engine.run(set_queue_limits(rt.sysdb, "outbox", paused=True))
    with SetWorkflowID("mail-2"):
        outbox.enqueue(send_mail, 2)  # waits on the paused queue
    with SetWorkflowID("evil-1"):  # a hostile name and input, waiting too
        outbox.enqueue(evil, HOSTILE)
    ring = server.samples
    deadline = time.monotonic() + 30
    with ring.added:  # two samples that saw both waiting workflows: the charts have a line
        while sum(x.depth.get("outbox") == 2 for x in ring._samples) < 2:
            assert time.monotonic() < deadline, list(ring._samples)[-2:]
            ring.added.wait(deadline - time.monotonic())

    # Loads (the token once in the URL, then the cookie) and shows both workflows and the queue.
    browser.navigate(f"{base}/dashboard?token={TOKEN}")
    assert browser.evaluate("location.pathname + location.search") == "/dashboard"
    page = browser.html()
    assert "dbos_queue dashboard" in page

    # Hostile values are text, never markup: no element was made of them, nothing ran.
    assert (
        browser.evaluate("document.querySelectorAll('script, img, i, [onerror], [onload]').length")
        == 0
    )
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    evil_row = browser.evaluate(
        "document.querySelector(\"#recent tr[data-workflow='evil-1']\").innerText"
    )
    assert "<i>evil</i>" in evil_row and "<script>window.__pwned=1</script>" in evil_row
    assert '<img src=x onerror=\\"window.__pwned=2\\">' in evil_row  # JSON-quoted input

    # Depth and throughput are drawn: polylines with a real extent, depth ending at 2.
    widths = browser.evaluate(
        "[...document.querySelectorAll('#charts svg polyline')].map(p => p.getBBox().width)"
    )
    assert len(widths) == 2 and all(w > 0 for w in widths), widths
    depth = browser.evaluate(
        "document.querySelector(\"#queues tr[data-queue='outbox'] svg[data-series='depth']\")"
        ".dataset.values"
    )
    assert depth.split(",")[-1] == "2.0", depth
    assert browser.evaluate(
        "document.querySelector(\"#queues tr[data-queue='outbox']\").innerText"
    ).split("\t")[:3] == ["outbox", "paused", "2"]
    failed_row = "#failed tr[data-workflow='mail-1']"
    assert browser.evaluate(f'document.querySelector("{failed_row}").dataset.status') == "ERROR"
    assert "ConnectionError: smtp down" in browser.evaluate(
        f'document.querySelector("{failed_row}").innerText'
    )
    assert "render_mail" in browser.evaluate(  # its steps
        f'document.querySelector("{failed_row} details").textContent'
    )
    assert (
        browser.evaluate(
            "document.querySelector(\"#recent tr[data-workflow='mail-2']\").dataset.status"
        )
        == "ENQUEUED"
    )

    # A failed workflow is not resumable (DBOS's rule) but can be forked: the fork runs
    # the workflow again under a new id and succeeds.
    assert (
        browser.evaluate(f"document.querySelector(\"{failed_row} form[data-action='resume']\")")
        is None
    )
    browser.click(f"{failed_row} form[data-action='fork'] button")
    browser.wait_load()
    notice = browser.evaluate("document.getElementById('notice').textContent")
    assert "fork: mail-1 is now forked as" in notice
    forked = notice.rsplit("forked as ", 1)[1].strip()
    assert _wait_status(forked, ["SUCCESS"]) == "SUCCESS"
    assert DBOS.retrieve_workflow(forked).get_result(timeout=10) == "mail 1"
    assert attempts == [1, 1] and _status("mail-1") == "ERROR"

    # Cancel the waiting one.
    browser.navigate(f"{base}/dashboard")
    browser.click("#recent tr[data-workflow='mail-2'] form[data-action='cancel'] button")
    browser.wait_load()
    assert _status("mail-2") == "CANCELLED"
    assert (
        browser.evaluate(
            "document.querySelector(\"#recent tr[data-workflow='mail-2']\").dataset.status"
        )
        == "CANCELLED"
    )
    assert (
        browser.evaluate(
            f"document.querySelector(\"#recent tr[data-workflow='{forked}']\").dataset.status"
        )
        == "SUCCESS"
    )
