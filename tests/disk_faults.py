"""Disk faults for tests: a real full disk (a small tmpfs) and a seam at the embedded log's OS calls.

`DiskFaults` replaces the `os` module the embedded log calls with one whose
write/writev/fsync/fdatasync raise OSError(errno) while armed; everything else
is the real `os`, so the log under test runs its own code, including its
clean-up after a failed write. `small_tmpfs` mounts a real tmpfs (root and a
working `mount` needed, else the test is skipped) that tests fill to get ENOSPC
from the kernel.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ksql.engine.log import embedded

_FAILING = ("write", "writev", "fsync", "fdatasync")


class _FaultyOs:
    """The real `os`, except that the calls in _FAILING consult the DiskFaults first."""

    def __init__(self, real: ModuleType, faults: DiskFaults):
        self._real = real
        self._faults = faults

    def __getattr__(self, name: str):
        attr = getattr(self._real, name)
        if name not in _FAILING:
            return attr

        def call(fd, *args, **kwargs):
            self._faults.check(fd)
            return attr(fd, *args, **kwargs)
        return call


class DiskFaults:
    """While armed, the embedded log's writes and fsyncs fail with `errno` (after `after` good calls;
    only on files whose path contains `only`, when given)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.error: int | None = None
        self.after = 0
        self.only: str | None = None
        self.failures = 0
        faulty = _FaultyOs(os, self)
        monkeypatch.setattr(embedded, "os", faulty)
        monkeypatch.setattr(embedded, "_fdatasync", getattr(faulty, "fdatasync", faulty.fsync))

    def arm(self, error: int = errno.ENOSPC, after: int = 0, only: str | None = None) -> None:
        self.error, self.after, self.only = error, after, only

    def clear(self) -> None:
        self.error = None

    def check(self, fd: int) -> None:
        if self.error is None:
            return
        if self.only is not None and self.only not in os.readlink(f"/proc/self/fd/{fd}"):
            return
        if self.after > 0:
            self.after -= 1
            return
        self.failures += 1
        raise OSError(self.error, os.strerror(self.error))


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` for the block (skips the test where mounting is impossible)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path: Path) -> Path:
    """Fill the file system of `path` up to the last byte; delete the returned file to free it again."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (b"\0" * (64 * 1024), b"\0"):
            with contextlib.suppress(OSError):
                while f.write(chunk):
                    pass
    return filler
