"""The weights downloader against a local HTTP server: resume, checksum, 404, offline."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.darknet import write_weights
from yof_darknet.core.errors import DarknetError
from yof_darknet.formats.cfg import read_cfg
from yof_darknet.formats.weights import read_header, weights_bytes
from yof_darknet.training import download as download_module
from yof_darknet.training.download import download, fetch_pretrained
from yof_darknet.training.profiles import generate_cfg

WEIGHTS = "/yolov3-tiny.weights"


@dataclass
class Served:
    payload: bytes = b""
    cut_first: int = 0  # this many responses stop halfway (the connection drops)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)


def _handler(state: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            wanted = self.headers.get("Range")
            state.requests.append((self.path, wanted))
            if self.path != WEIGHTS:
                self.send_error(404)
                return
            start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
            body = state.payload[start:]
            self.send_response(206 if wanted else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_first > 0:
                state.cut_first -= 1
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextmanager
def _serving(state: Served) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    state = Served(payload=bytes(range(256)) * 4096)
    with _serving(state) as url:
        yield url, state


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_interrupted_transfer_resumes_with_range(tmp_path, server):
    url, state = server
    state.cut_first = 1
    dest = download(url + WEIGHTS, tmp_path / "w", _sha(state.payload), progress=False)
    assert dest.read_bytes() == state.payload
    half = len(state.payload) // 2
    assert [r for _, r in state.requests] == [None, f"bytes={half}-"]
    assert not (tmp_path / "w.part").exists()


def test_failed_run_keeps_the_part_and_the_next_run_resumes(tmp_path, server):
    url, state = server
    state.cut_first = 3
    with pytest.raises(DarknetError, match=r"w\.part keeps the \d+ bytes that arrived"):
        download(url + WEIGHTS, tmp_path / "w", _sha(state.payload), progress=False)
    kept = (tmp_path / "w.part").stat().st_size
    assert 0 < kept < len(state.payload)
    dest = download(url + WEIGHTS, tmp_path / "w", _sha(state.payload), progress=False)
    assert dest.read_bytes() == state.payload
    assert state.requests[-1][1] == f"bytes={kept}-"


def test_checksum_mismatch_deletes_the_file(tmp_path, server):
    url, _ = server
    with pytest.raises(DarknetError, match="does not match"):
        download(url + WEIGHTS, tmp_path / "w", "0" * 64, progress=False)
    assert not (tmp_path / "w").exists() and not (tmp_path / "w.part").exists()


def test_not_found(tmp_path, server):
    url, _ = server
    with pytest.raises(DarknetError, match="404"):
        download(f"{url}/missing.weights", tmp_path / "w", "0" * 64, progress=False)


def test_offline_says_what_to_do(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DarknetError, match=r"Offline\? Fetch the file elsewhere and put it at"):
        download(f"http://127.0.0.1:{port}/x", tmp_path / "w", "0" * 64, progress=False)


def test_fetch_pretrained_uses_the_override_url_and_cuts_conv15(tmp_path, server, monkeypatch):
    url, state = server
    coco_cfg = tmp_path / "coco.cfg"
    coco_cfg.write_text(generate_cfg(80, "paper"))
    body = write_weights(tmp_path / "coco.weights", coco_cfg, seen=32_013_312)
    state.payload = Path(tmp_path / "coco.weights").read_bytes()
    monkeypatch.setenv("YOF_WEIGHTS_URL", url + WEIGHTS)
    with pytest.raises(DarknetError, match="does not match"):  # the pinned checksum guards it
        fetch_pretrained(tmp_path / "out", progress=False)
    sha = _sha(state.payload)
    found = fetch_pretrained(tmp_path / "out", sha256=sha, progress=False)
    assert found.weights.read_bytes() == state.payload
    assert read_header(found.cut).seen == 0
    assert found.cut.read_bytes()[20:] == body[:30_973_376]
    assert (
        fetch_pretrained(tmp_path / "out", sha256=sha, progress=False) == found
    )  # no 2nd transfer
    assert len([r for r in state.requests if r[0] == WEIGHTS]) == 2


def test_mirrors_are_tried_in_turn_until_one_serves_the_pinned_file(tmp_path):
    coco_cfg = tmp_path / "coco.cfg"
    coco_cfg.write_text(generate_cfg(80, "paper"))
    write_weights(tmp_path / "coco.weights", coco_cfg, seen=0)
    payload = (tmp_path / "coco.weights").read_bytes()
    html = Served(payload=b"<!DOCTYPE html><title>moved</title>")  # a redirect to a home page
    empty = Served(payload=payload)  # serves only WEIGHTS: the mirror's path 404s
    good = Served(payload=payload)
    with _serving(html) as first, _serving(empty) as second, _serving(good) as third:
        urls = [first + WEIGHTS, second + "/elsewhere/yolov3-tiny.weights", third + WEIGHTS]
        out = tmp_path / "out"
        found = fetch_pretrained(out, urls=urls, sha256=_sha(payload), progress=False)
        assert found.weights.read_bytes() == payload
        assert [len(s.requests) for s in (html, empty, good)] == [1, 1, 1]
        with pytest.raises(DarknetError) as caught:
            download_module.download_first(urls[:2], tmp_path / "x", _sha(payload), progress=False)
    message = str(caught.value)
    assert message.startswith("no source of x worked: (1) ")
    assert "does not match" in message and "(2) " in message and "404" in message


def test_weights_url_variable_replaces_the_mirror_list(monkeypatch):
    assert download_module.pretrained_urls()[0] == download_module.PRETRAINED_URL
    assert len(download_module.PRETRAINED_URLS) >= 2
    monkeypatch.setenv("YOF_WEIGHTS_URL", "http://a/w http://b/w")
    assert download_module.pretrained_urls() == ("http://a/w", "http://b/w")


def test_a_wrong_hand_placed_weights_file_is_reported_and_moved_aside(
    tmp_path, server, monkeypatch
):
    url, state = server
    coco_cfg = tmp_path / "coco.cfg"
    coco_cfg.write_text(generate_cfg(80, "paper"))
    write_weights(tmp_path / "coco.weights", coco_cfg, seen=1)
    state.payload = (tmp_path / "coco.weights").read_bytes()
    monkeypatch.setenv("YOF_WEIGHTS_URL", url + WEIGHTS)
    out = tmp_path / "out"
    out.mkdir()
    (out / "yolov3-tiny.weights").write_bytes(b"yolov4 weights from a friend")
    (out / "yolov3-tiny.conv.15").write_bytes(b"an old cut")
    found = fetch_pretrained(out, sha256=_sha(state.payload), progress=False)
    assert found.weights.read_bytes() == state.payload
    assert "not the released yolov3-tiny.weights" in found.notes[0]
    assert "not the first 15 layers" in found.notes[1]
    aside = sorted(out.glob("*.rejected-*"))
    assert [p.read_bytes() for p in aside] == [b"an old cut", b"yolov4 weights from a friend"]
    assert all(str(p) in " ".join(found.notes) for p in aside)


def test_offline_with_a_wrong_hand_placed_file_says_both(tmp_path, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("YOF_WEIGHTS_URL", f"http://127.0.0.1:{port}{WEIGHTS}")
    (tmp_path / "yolov3-tiny.weights").write_bytes(b"\0" * 100)
    with pytest.raises(DarknetError, match=r"not the released .* moved aside to .* Offline\?"):
        fetch_pretrained(tmp_path, progress=False)
    assert len(list(tmp_path.glob("yolov3-tiny.weights.rejected-*"))) == 1


def test_unpinned_weights_are_never_downloaded_but_a_placed_copy_is_cut(tmp_path):
    """yolov7-tiny.weights has no publicly pinned SHA-256: nothing is fetched; a copy put there
    by hand is held to the 80-class cfg's size and cut at AlexeyAB's layer 87."""
    with pytest.raises(DarknetError, match=r"no SHA-256 of yolov7-tiny.weights.*releases"):
        fetch_pretrained(tmp_path, arch="yolov7-tiny", progress=False)
    coco_cfg = tmp_path / "coco.cfg"
    coco_cfg.write_text(generate_cfg(80, "paper", arch="yolov7-tiny"))
    body = write_weights(tmp_path / "yolov7-tiny.weights", coco_cfg, seen=64)
    found = fetch_pretrained(tmp_path, arch="yolov7-tiny", progress=False)
    assert found.cut.name == "yolov7-tiny.conv.87" and read_header(found.cut).seen == 0
    cut = weights_bytes(read_cfg(coco_cfg), 87)
    assert found.cut.read_bytes()[20:] == body[:cut]
    (tmp_path / "yolov7-tiny.weights").write_bytes(b"\0" * 100)
    with pytest.raises(DarknetError, match="needs 24967560"):
        fetch_pretrained(tmp_path, arch="yolov7-tiny", progress=False)
    assert len(list(tmp_path.glob("yolov7-tiny.weights.rejected-*"))) == 1
