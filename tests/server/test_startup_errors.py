"""`ksql-server` refusing to start: one clear line on stderr, exit code 1, no traceback.

Each test runs the real command (`python -m server`) and looks only at its exit code and output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.server.harness import REPO, ServerProcess, free_port

START_SECONDS = 60


def start_server(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ksql-server at its default log level until it exits (these tests expect it to refuse)."""
    return subprocess.run([sys.executable, "-m", "server", "--kafka-listener", "none", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=START_SECONDS, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit code 1 and exactly one line on stderr, starting with `ksql-server:` and naming each fragment."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ksql-server: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "listening" not in result.stdout + result.stderr
    return lines[0]


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start_server("--listeners", f"http://127.0.0.1:{port}", "--data-dir", str(tmp_path / "data"))
    assert_refused(result, f"Port {port}", "already in use", "--listeners")
    assert not (tmp_path / "data").exists()  # refused before the data directory was touched


def test_data_dir_is_a_regular_file(tmp_path: Path) -> None:
    regular = tmp_path / "data"
    regular.write_text("not a directory")
    result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir", str(regular))
    assert_refused(result, str(regular), "is a file, not a directory")


def test_data_dir_with_missing_parent(tmp_path: Path) -> None:
    nested = tmp_path / "no" / "such" / "data"
    result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir", str(nested))
    assert_refused(result, str(nested), f"its parent {tmp_path / 'no' / 'such'} does not exist")
    assert not (tmp_path / "no").exists()


def unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in: mode 0500 for a normal user; as root (who
    ignores modes) /sys, which is read-only for everyone."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        return locked
    try:
        with tempfile.TemporaryFile(dir="/sys"):
            pass
    except OSError:
        return Path("/sys")
    pytest.skip("running as root with a writable /sys: no unwritable directory to test with")


def test_data_dir_unwritable(tmp_path: Path) -> None:
    directory = unwritable_dir(tmp_path)
    result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir", str(directory))
    assert_refused(result, str(directory), "is not writable")


def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    inside = unwritable_dir(tmp_path) / "ksql-data"
    result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir", str(inside))
    assert_refused(result, f"Cannot create the data directory {inside}")


def test_data_dir_in_use_by_a_running_server(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path / "data").start()
    try:
        result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir",
                              str(tmp_path / "data"))
        assert_refused(result, str(tmp_path / "data"), "in use by another server")
        assert first.proc is not None and first.proc.poll() is None  # the first one is unharmed
    finally:
        first.kill()


def test_unknown_processing_guarantee(tmp_path: Path) -> None:
    result = start_server("--listeners", f"http://127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "data"),
                          "-D", "ksql.streams.processing.guarantee=twice")
    assert_refused(result, "ksql.streams.processing.guarantee", "'twice'", "exactly_once_v2")
