"""`models download`: resumable transfer with a fake transport (no test touches the network)."""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest

from tfgnet_desk import cli
from tfgnet_desk.model_folders import download, registry
from tfgnet_desk.model_folders.manifest import verify_folder


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, fail_after: int | None = None):
        self.status, self.headers, self._body, self._pos = status, headers, body, 0
        self._fail_after = fail_after
        self.closed = False

    def read(self, n: int) -> bytes:
        if self._fail_after is not None and self._pos >= self._fail_after:
            raise ConnectionResetError("connection reset by peer")
        end = len(self._body) if self._fail_after is None else min(len(self._body), self._fail_after)
        chunk = self._body[self._pos : min(self._pos + min(n, 7), end)]  # small chunks: many reads
        self._pos += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True


class FakeTransport:
    """Serves ``files`` (url -> bytes); honours Range unless ``ignore_range``; can be offline or cut."""

    def __init__(
        self,
        files: dict[str, bytes],
        offline: bool = False,
        ignore_range: bool = False,
        cut_at: int | None = None,
    ):
        self.files, self.offline, self.ignore_range, self.cut_at = files, offline, ignore_range, cut_at
        self.calls: list[tuple[str, int]] = []

    def open(self, url: str, start: int = 0) -> FakeResponse:
        self.calls.append((url, start))
        if self.offline:
            raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))
        data = self.files[url]
        cut = self.cut_at
        self.cut_at = None  # only the first transfer breaks
        if start and not self.ignore_range:
            if start >= len(data):
                return FakeResponse(416, {}, b"")
            body = data[start:]
            headers = {
                "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}",
                "Content-Length": str(len(body)),
            }
            return FakeResponse(206, headers, body, cut)
        return FakeResponse(200, {"Content-Length": str(len(data))}, data, cut)


URL = "https://example.invalid/weights.bin"
DATA = bytes(range(256)) * 40


def test_fetch_writes_the_file_and_reports_progress(tmp_path):
    seen: list[download.Progress] = []
    out = download.fetch(URL, tmp_path / "w.bin", FakeTransport({URL: DATA}), seen.append, every_s=0.0)
    assert out.read_bytes() == DATA
    assert not (tmp_path / "w.bin.part").exists()
    assert seen[-1].done == seen[-1].total == len(DATA)
    assert "100%" in seen[-1].line()


def test_fetch_resumes_with_a_range_request(tmp_path):
    part = tmp_path / "w.bin.part"
    part.write_bytes(DATA[:1000])
    t = FakeTransport({URL: DATA})
    download.fetch(URL, tmp_path / "w.bin", t)
    assert t.calls == [(URL, 1000)]
    assert (tmp_path / "w.bin").read_bytes() == DATA


def test_fetch_starts_over_when_the_server_ignores_the_range(tmp_path):
    (tmp_path / "w.bin.part").write_bytes(b"garbage!" * 10)
    download.fetch(URL, tmp_path / "w.bin", FakeTransport({URL: DATA}, ignore_range=True))
    assert (tmp_path / "w.bin").read_bytes() == DATA


def test_a_broken_transfer_keeps_its_bytes_and_the_next_run_resumes(tmp_path):
    t = FakeTransport({URL: DATA}, cut_at=3000)
    with pytest.raises(download.DownloadError, match="resume"):
        download.fetch(URL, tmp_path / "w.bin", t)
    kept = (tmp_path / "w.bin.part").stat().st_size
    assert 0 < kept <= 3000 and not (tmp_path / "w.bin").exists()
    download.fetch(URL, tmp_path / "w.bin", t)
    assert t.calls[-1] == (URL, kept)
    assert (tmp_path / "w.bin").read_bytes() == DATA


def test_offline_fails_at_once_with_a_clear_message(tmp_path):
    t = FakeTransport({URL: DATA}, offline=True)
    with pytest.raises(download.DownloadError) as err:
        download.download("dino-vits16", tmp_path, transport=t, log=lambda s: None)
    msg = str(err.value)
    assert "offline" in msg and "models import" in msg and "huggingface.co" in msg
    assert len(t.calls) == 1  # no retries, no second file
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_download_then_import_a_folder_component(tmp_path):
    comp = registry.get("dino-vits16")
    files = {
        d.url: (json.dumps({"model_type": "vit"}).encode() if d.name == "config.json" else b"\1" * 99)
        for d in comp.downloads
    }
    download.download("dino-vits16", tmp_path, transport=FakeTransport(files), log=lambda s: None)
    dest = tmp_path / comp.folder
    assert (dest / "model.safetensors").read_bytes() == b"\1" * 99
    assert verify_folder(dest).ok


def test_download_then_convert_a_checkpoint(tmp_path):
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.ones(2, 3, 3, 3)}, buf)
    comp = registry.get("inception-fid")
    t = FakeTransport({comp.downloads[0].url: buf.getvalue()})
    download.download("inception-fid", tmp_path, transport=t, log=lambda s: None)
    dest = tmp_path / comp.folder
    assert (dest / comp.files[0].path).is_file() and verify_folder(dest).ok


def test_cli_download_of_a_pack_without_a_link_says_what_to_do(tmp_path, capsys):
    rc = cli.main(["models", "--models-dir", str(tmp_path), "download", "antelopev2"])
    err = capsys.readouterr().err
    assert rc == 1 and "no direct download link" in err and "models import" in err
    rc = cli.main(["models", "--models-dir", str(tmp_path), "download", "nonexistent"])
    assert rc == 1 and "unknown component" in capsys.readouterr().err


def test_the_real_transport_sends_a_range_header(monkeypatch):
    """UrllibTransport builds the request; urlopen is replaced so nothing leaves the machine."""
    sent = {}

    class Resp:
        status = 206
        headers = {"Content-Range": "bytes 5-9/10"}

        def read(self, n):
            return b""

        def close(self):
            pass

    def fake_urlopen(req, timeout):
        sent["range"], sent["timeout"], sent["url"] = req.get_header("Range"), timeout, req.full_url
        return Resp()

    monkeypatch.setattr(download.urllib.request, "urlopen", fake_urlopen)
    resp = download.UrllibTransport(timeout=3).open("https://example.invalid/x", start=5)
    assert sent == {"range": "bytes=5-", "timeout": 3, "url": "https://example.invalid/x"}
    assert resp.status == 206 and resp.headers["content-range"] == "bytes 5-9/10"
    assert Path(download.__file__).name == "download.py"
