"""A real browser for the console tests: headless Chromium driven over the DevTools protocol.

Each visit collects what a person with the browser's console open would see: uncaught script
errors, ``console.error`` calls, and the browser's own error log (a Content-Security-Policy
violation, a file that failed to load). It can evaluate an expression in the page and save a
full-page screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ivr.waiting import DEADLINE, ConditionTimeout, until

__all__ = ["Chromium", "Visit", "Tab", "chromium_path"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class Visit:
    url: str
    errors: list[str] = field(default_factory=list)
    status: int | None = None


class Chromium:
    """``async with Chromium() as browser: visit = await browser.visit(url, ...)``."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self.width, self.height = width, height
        self._proc: asyncio.subprocess.Process | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._port = 0
        self._ids = itertools.count(1)

    async def __aenter__(self) -> "Chromium":
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("no Chromium on this machine (apt-get install chromium)")
        self._tmp = tempfile.TemporaryDirectory(prefix="ivr-chromium-")
        self._proc = await asyncio.create_subprocess_exec(
            exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-extensions", "--disable-sync",
            "--mute-audio", "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*",
            f"--user-data-dir={self._tmp.name}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert self._proc.stderr is not None
        while True:  # Chromium says where its DevTools listen on stderr
            line = await asyncio.wait_for(self._proc.stderr.readline(), DEADLINE)
            if not line:
                raise RuntimeError("Chromium exited before its DevTools were ready")
            found = re.search(rb"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                self._port = int(found.group(1))
                break
        asyncio.get_running_loop().create_task(self._drain(self._proc.stderr))
        self._http = aiohttp.ClientSession()
        return self

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    def tab(self) -> Tab:
        """A tab to drive step by step (``async with browser.tab() as tab``)."""
        return Tab(self)

    async def visit(self, url: str, *, ready: str = "true", screenshot: Path | None = None,
                    evaluate: dict[str, str] | None = None,
                    headers: dict[str, str] | None = None) -> tuple[Visit, dict[str, Any]]:
        """Open ``url`` in a new tab, wait for the load and then until the expression ``ready`` is
        true in the page (its scripts did what the test looks at), and report the errors;
        ``evaluate`` maps names to expressions whose values are returned; ``headers`` go with every
        request of the tab (an admin token, as a reverse proxy would add it)."""
        assert self._http is not None
        async with self._http.put(f"http://127.0.0.1:{self._port}/json/new?about:blank") as resp:
            target = await resp.json()
        visit = Visit(url)
        values: dict[str, Any] = {}
        try:
            async with self._http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 << 20) as ws:
                pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
                loaded = asyncio.Event()

                async def reader() -> None:
                    async for msg in ws:
                        data = json.loads(msg.data)
                        if "id" in data and data["id"] in pending:
                            pending.pop(data["id"]).set_result(data)
                            continue
                        self._note(visit, data, loaded, url)

                listening = asyncio.create_task(reader())

                async def send(method: str, **params: Any) -> dict[str, Any]:
                    ident = next(self._ids)
                    pending[ident] = asyncio.get_running_loop().create_future()
                    await ws.send_json({"id": ident, "method": method, "params": params})
                    reply = await asyncio.wait_for(pending[ident], DEADLINE)
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})

                for domain in ("Page", "Runtime", "Log", "Network"):
                    await send(f"{domain}.enable")
                if headers:
                    await send("Network.setExtraHTTPHeaders", headers=headers)
                await send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                           deviceScaleFactor=1, mobile=False)
                await send("Page.navigate", url=url)
                await asyncio.wait_for(loaded.wait(), DEADLINE)

                async def is_ready() -> bool:
                    result = await send("Runtime.evaluate", expression=f"Boolean({ready})", returnByValue=True)
                    return result.get("result", {}).get("value") is True

                await until(is_ready, f"{ready} in {url}", interval=0.1)
                for name, expression in (evaluate or {}).items():
                    result = await send("Runtime.evaluate", expression=expression, returnByValue=True)
                    values[name] = result.get("result", {}).get("value")
                if screenshot is not None:
                    metrics = await send("Page.getLayoutMetrics")
                    height = int(metrics["cssContentSize"]["height"]) + 1
                    await send("Emulation.setDeviceMetricsOverride", width=self.width,
                               height=max(min(height, 8000), self.height), deviceScaleFactor=1, mobile=False)
                    shot = await send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    screenshot.write_bytes(base64.b64decode(shot["data"]))
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
        finally:
            async with self._http.get(f"http://127.0.0.1:{self._port}/json/close/{target['id']}"):
                pass
        return visit, values

    @staticmethod
    def _note(visit: Visit, data: dict[str, Any], loaded: asyncio.Event, url: str) -> None:
        method, params = data.get("method"), data.get("params", {})
        if method == "Page.loadEventFired":
            loaded.set()
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            visit.errors.append("uncaught: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            visit.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                             for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            visit.errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.responseReceived" and params.get("type") == "Document":
            if params["response"]["url"] == url:
                visit.status = params["response"]["status"]


class Tab:
    """One tab driven step by step, as a person would: open a page, fill a form and send it, read what the
    page shows; every script error, console error or Content-Security-Policy violation is kept in
    ``errors`` (``async with browser.tab() as tab``)."""

    def __init__(self, browser: Chromium) -> None:
        self.browser = browser
        self.errors: list[str] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._loaded = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._target: dict[str, Any] = {}
        self._visit = Visit("")

    async def __aenter__(self) -> Tab:
        http = self.browser._http
        assert http is not None
        async with http.put(f"http://127.0.0.1:{self.browser._port}/json/new?about:blank") as resp:
            self._target = await resp.json()
        self._ws = await http.ws_connect(self._target["webSocketDebuggerUrl"], max_msg_size=64 << 20)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Log", "Network", "DOM"):
            await self.send(f"{domain}.enable")
        await self.send("Emulation.setDeviceMetricsOverride", width=self.browser.width, height=self.browser.height,
                        deviceScaleFactor=1, mobile=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        assert self.browser._http is not None
        async with self.browser._http.get(f"http://127.0.0.1:{self.browser._port}/json/close/{self._target['id']}"):
            pass

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
                continue
            Chromium._note(self._visit, data, self._loaded, self._visit.url)
            self.errors[:] = self._visit.errors

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result."""
        assert self._ws is not None
        ident = next(self.browser._ids)
        self._pending[ident] = asyncio.get_running_loop().create_future()
        await self._ws.send_json({"id": ident, "method": method, "params": params})
        reply = await asyncio.wait_for(self._pending[ident], DEADLINE)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def value(self, expression: str) -> Any:
        """What ``expression`` gives in the page."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def open(self, url: str, ready: str = "true") -> None:
        """Go to ``url`` and wait for the page, then for ``ready``."""
        self._loaded.clear()
        await self.send("Page.navigate", url=url)
        await self._settle(ready, url)

    async def submit(self, action: str, ready: str = "true") -> None:
        """Run ``action`` (fills and sends a form) and wait for the page it leads to, then for ``ready``."""
        self._loaded.clear()
        await self.value(action)
        await self._settle(ready, action)

    async def _settle(self, ready: str, what: str) -> None:
        await asyncio.wait_for(self._loaded.wait(), DEADLINE)

        async def is_ready() -> bool:
            return await self.value(f"document.readyState === 'complete' && Boolean({ready})") is True

        try:
            await until(is_ready, f"{ready} after {what[:80]}", interval=0.1)
        except ConditionTimeout as exc:
            page = await self.value("location.href + ' — ' + document.body.innerText.slice(0, 400)")
            raise AssertionError(f"{exc}; the page: {page}") from None

    async def choose_file(self, selector: str, path: Path) -> None:
        """Put ``path`` in the file input ``selector`` (as a person choosing it in the file dialog)."""
        found = await self.send("Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)})")
        await self.send("DOM.setFileInputFiles", files=[str(path)], objectId=found["result"]["objectId"])

    async def text(self) -> str:
        """What the page shows."""
        return str(await self.value("document.body.innerText"))

    async def screenshot(self, path: Path) -> None:
        """A full-page screenshot."""
        metrics = await self.send("Page.getLayoutMetrics")
        height = int(metrics["cssContentSize"]["height"]) + 1
        await self.send("Emulation.setDeviceMetricsOverride", width=self.browser.width,
                        height=max(min(height, 8000), self.browser.height), deviceScaleFactor=1, mobile=False)
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        await self.send("Emulation.setDeviceMetricsOverride", width=self.browser.width, height=self.browser.height,
                        deviceScaleFactor=1, mobile=False)
