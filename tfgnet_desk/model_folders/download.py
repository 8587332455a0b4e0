"""``models download NAME``: fetch a component's published files, only when a person asks for it.

Files go to ``<models_dir>/.downloads/<name>/`` as ``<file>.part`` and are renamed when complete; an
interrupted download resumes from the bytes it has with an HTTP ``Range`` request (a server that
ignores the range answers 200 and the file starts again from zero). The first request that cannot
connect stops everything at once with a message that says what to do offline. When every file is in,
the staging folder goes through ``models import`` like anything a user brings, so downloaded weights
are checked and hashed exactly as imported ones are.

The transport is injectable (:class:`Transport`): tests pass a fake one and never touch the network.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tfgnet_desk.model_folders import registry, status
from tfgnet_desk.model_folders.manifest import WeightsError

CHUNK = 1 << 20
CONNECT_TIMEOUT_S = 15.0
USER_AGENT = "tfgnet-desk (models download)"


class DownloadError(WeightsError):
    """A download could not start or finish; the message says why and what to do instead."""


class Response(Protocol):
    status: int
    headers: dict[str, str]

    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class Transport(Protocol):
    def open(self, url: str, start: int = 0) -> Response:
        """GET ``url`` from byte ``start`` (a ``Range`` request when ``start > 0``).

        Raises ``OSError`` (``urllib.error.URLError`` included) when the host cannot be reached.
        """
        ...


class UrllibTransport:
    """The real transport: ``urllib.request`` with a connect timeout, no proxy tricks, no retries."""

    def __init__(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.timeout = timeout

    def open(self, url: str, start: int = 0) -> Response:
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if start > 0:
            req.add_header("Range", f"bytes={start}-")
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)  # noqa: S310 - https URLs from the registry
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # range not satisfiable: we already have the whole file
                return _Done()
            raise DownloadError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from exc
        return _UrllibResponse(resp)


class _UrllibResponse:
    def __init__(self, resp) -> None:
        self._resp = resp
        self.status = int(resp.status)
        self.headers = {k.lower(): v for k, v in resp.headers.items()}

    def read(self, n: int) -> bytes:
        return self._resp.read(n)

    def close(self) -> None:
        self._resp.close()


class _Done:
    status = 416
    headers: dict[str, str] = {}

    def read(self, n: int) -> bytes:
        return b""

    def close(self) -> None:
        pass


@dataclass
class Progress:
    """One progress report: ``done`` of ``total`` bytes (``total`` 0 when the server does not say)."""

    name: str
    done: int
    total: int

    def line(self) -> str:
        if self.total:
            pct = 100 * self.done / self.total
            return f"{self.name}: {self.done / 1e6:,.1f} / {self.total / 1e6:,.1f} MB ({pct:.0f}%)"
        return f"{self.name}: {self.done / 1e6:,.1f} MB"


def _total_from(resp: Response, start: int) -> int:
    h = {k.lower(): v for k, v in resp.headers.items()}
    if resp.status == 206 and "content-range" in h:  # bytes a-b/total
        tail = h["content-range"].rsplit("/", 1)[-1].strip()
        return int(tail) if tail.isdigit() else 0
    length = h.get("content-length", "")
    return int(length) + (start if resp.status == 206 else 0) if length.isdigit() else 0


def fetch(
    url: str,
    dest: Path,
    transport: Transport,
    progress: Callable[[Progress], None] | None = None,
    every_s: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest`` (via ``dest.part``, resuming from what it holds); returns ``dest``."""
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    try:
        resp = transport.open(url, start)
    except DownloadError:
        raise
    except (TimeoutError, OSError) as exc:
        host = url.split("/")[2] if "://" in url else url
        raise DownloadError(
            f"cannot reach {host} ({exc}). This machine looks offline or the host is blocked. Nothing was "
            "downloaded. Copy the file here by other means and run: tfgnet-desk models import PATH"
        ) from exc
    try:
        if resp.status == 416:
            part.replace(dest)
            return dest
        if resp.status not in (200, 206):
            raise DownloadError(f"{url}: the server answered HTTP {resp.status}")
        if resp.status == 200 and start:
            start = 0  # the server ignored the range: start over
        total = _total_from(resp, start)
        done, last = start, 0.0
        with open(part, "ab" if start else "wb") as fh:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (TimeoutError, OSError) as exc:
                    raise DownloadError(
                        f"{url}: the connection broke after {done:,} bytes ({exc}); run the same command "
                        "again to resume"
                    ) from exc
                if not chunk:
                    break
                fh.write(chunk)
                done += len(chunk)
                now = time.monotonic()
                if progress is not None and now - last >= every_s:
                    progress(Progress(dest.name, done, total))
                    last = now
    finally:
        resp.close()
    if total and done != total:
        raise DownloadError(f"{url}: got {done:,} of {total:,} bytes; run the same command again to resume")
    if progress is not None:
        progress(Progress(dest.name, done, total))
    part.replace(dest)
    return dest


def staging_dir(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / ".downloads" / name


def download(
    name: str,
    models_dir: Path | str,
    transport: Transport | None = None,
    progress: Callable[[Progress], None] | None = None,
    log: Callable[[str], None] = print,
    do_import: bool = True,
    tfg_config=None,
) -> Path:
    """Fetch every file of component ``name``, then import them; returns the staging folder."""
    comp = registry.get(name)
    if not comp.downloads:
        raise DownloadError(
            f"{name} has no direct download link. {status.instructions(comp, Path(models_dir))}"
        )
    transport = transport or UrllibTransport()
    stage = staging_dir(Path(models_dir), name)
    size = sum(d.approx_bytes for d in comp.downloads)
    log(f"downloading {name} ({comp.licence}) from {comp.source}, about {size / 1e9:.2f} GB, into {stage}")
    files = [fetch(d.url, stage / d.name, transport, progress) for d in comp.downloads]
    if do_import:
        from tfgnet_desk.model_folders.importer import import_path

        # checkpoints and archives are imported one by one (converted / unpacked), folders as a whole
        singles = [f for f in files if f.suffix.lower() in (".pth", ".bin", ".zip")]
        targets = singles or [stage]
        for t in targets:
            import_path(t, models_dir, as_name=name, tfg_config=tfg_config, log=log)
    return stage
