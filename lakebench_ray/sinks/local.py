"""Local-directory store: temp file + fsync + atomic rename, so a final name is always complete.

The version tag of a file (what a resume compares with the checkpoint) is its modification time
and inode: rewriting a file in place changes the first, replacing it the second. Compare-and-swap
on small objects (the lease) holds an exclusive ``flock`` on the object's directory, so it is
atomic between processes of one host (and on file systems whose ``flock`` spans hosts).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import logging
import os
import secrets
import time
from pathlib import Path
from typing import BinaryIO, Callable

import pyarrow as pa

from .. import layout
from ..errors import SinkError
from .base import ObjectStat, ObjectWriter, Receipt, Store
from .digest import RunningCrc

TEMP_MARK = layout.TEMP_MARK

log = logging.getLogger(__name__)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_name(final: Path) -> Path:
    # Hidden (leading dot) so Spark/Trino never list it; unique so concurrent writers never clash.
    return final.with_name(layout.temp_name(final.name, f"{os.getpid()}-{secrets.token_hex(4)}"))


#: What to do about a write the file system refuses, by errno (the rest: its own words).
_REFUSALS = {
    errno.ENOSPC: "no space left on the device: free space or choose another output.uri",
    errno.EDQUOT: "disk quota exceeded: free space or choose another output.uri",
    errno.EROFS: "the file system is read-only: choose a writable output.uri",
    errno.EACCES: "permission denied: choose a writable output.uri",
    errno.EPERM: "permission denied: choose a writable output.uri",
}


def _refused(action: str, path: Path, exc: OSError) -> SinkError:
    """One line naming the file and the cause (pyarrow's own message is several clauses long)."""
    why = _REFUSALS.get(exc.errno) or f"{exc.strerror or exc}: check output.uri"
    return SinkError(f"cannot {action} {path}: {why}")


@contextlib.contextmanager
def _writing(path: Path, action: str = "write"):
    try:
        yield
    except SinkError:
        raise
    except OSError as exc:
        raise _refused(action, path, exc) from None


def _tag(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}-{st.st_ino}"


class _DigestStream(io.RawIOBase):
    """What ``ParquetWriter`` writes into: the temp file, with a CRC32 of every byte on the way
    (pyarrow buffers its output, so this sees a few hundred writes per 256 MB)."""

    def __init__(self, path: Path, final: Path):
        super().__init__()
        self._path = final  # what messages name: the file being written, not its temp name
        with _writing(path):
            self._file = pa.OSFile(str(path), "wb")
        self.digest = RunningCrc()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        size = self.digest.update(data)
        with _writing(self._path):
            self._file.write(data)
        return size

    def tell(self) -> int:
        return self.digest.size

    def close(self) -> None:
        if not self._file.closed:
            with _writing(self._path):
                self._file.close()
        super().close()


class LocalObjectWriter(ObjectWriter):
    def __init__(self, final: Path):
        self._final = final
        self._tmp = _temp_name(final)
        self._file = _DigestStream(self._tmp, final)
        self._done = False
        self._receipt: Receipt | None = None

    @property
    def stream(self):
        return self._file

    @property
    def receipt(self) -> Receipt:
        if self._receipt is None:
            raise RuntimeError(f"{self._final} is not committed")
        return self._receipt

    def commit(self) -> int:
        self._file.close()
        with _writing(self._final):
            _fsync_path(self._tmp)
            os.replace(self._tmp, self._final)
        self._done = True
        st = self._final.stat()
        self._receipt = Receipt(size=st.st_size, crc32=self._file.digest.hex, tag=_tag(st))
        return st.st_size

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._file.close()  # flushes what is buffered: fails again on a full disk
        except SinkError:
            pass
        finally:
            try:
                self._tmp.unlink(missing_ok=True)
            except OSError as exc:  # a read-only file system: it stays, and the run says where
                log.warning("%s", _refused("remove the temp file", self._tmp, exc))


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike):
        self.uri = str(root)
        self.root = Path(root).expanduser().absolute()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def open_writer(self, key: str) -> ObjectWriter:
        final = self._path(key)
        for attempt in range(3):  # bounded: a clean-up may remove an empty folder in between
            with _writing(final.parent, "create the directory"):
                final.parent.mkdir(parents=True, exist_ok=True)
            try:
                return LocalObjectWriter(final)
            except SinkError:
                if attempt == 2 or final.parent.is_dir():
                    raise
        raise AssertionError("unreachable")

    def put_bytes(self, key: str, data: bytes) -> None:
        with self.open_writer(key) as writer:
            writer.stream.write(data)
            writer.commit()

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def open_reader(self, key: str) -> BinaryIO:
        # A native file: pyarrow reads it without calling back into Python (about twice as fast).
        return pa.OSFile(str(self._path(key)), "rb")

    def iter_stats(self, prefix: str):
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return
        cut = len(str(self.root)) + 1
        folders = [base]
        while folders:  # scandir reads a directory lazily: no list of a huge folder's names
            folder = folders.pop()
            try:
                entries = os.scandir(folder)
            except FileNotFoundError:  # removed while listing
                continue
            with entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry.path)
                            continue
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    yield entry.path[cut:].replace(os.sep, "/"), ObjectStat(st.st_size, _tag(st))

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _writing(path, "delete"):
            path.unlink(missing_ok=True)
        self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove folders left empty up to (not including) the root: a run leaves no empty
        directory behind. ``rmdir`` refuses a non-empty folder, so this never removes data."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    # -- compare-and-swap (the lease) --------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, key: str):
        folder = self._path(key).parent
        for attempt in range(3):  # bounded: another run's clean-up may remove an empty folder in between
            with _writing(folder, "create the directory"):
                folder.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(folder, os.O_RDONLY)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self._path(key)
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _tagged(path: Path) -> tuple[bytes, str] | None:
        try:
            with open(path, "rb") as fh:
                return fh.read(), _tag(os.fstat(fh.fileno()))
        except FileNotFoundError:
            return None

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        return self._tagged(self._path(key))

    def read_aged(self, key: str) -> tuple[bytes, str, float | None] | None:
        """The age is now minus the file's mtime: both from the clock of the machine that stamps
        the file (this one, or a network file system's server)."""
        try:
            with open(self._path(key), "rb") as fh:
                st = os.fstat(fh.fileno())
                return fh.read(), _tag(st), max(0.0, time.time() - st.st_mtime)
        except FileNotFoundError:
            return None

    def create_exclusive(self, key: str, data: bytes) -> str | None:
        with self._locked(key) as path:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return None
            except OSError as exc:
                raise _refused("write", path, exc) from None
            with _writing(path), os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            return _tag(path.stat())

    def replace_if(self, key: str, data: bytes, tag: str) -> str | None:
        with self._locked(key) as path:
            current = self._tagged(path)
            if current is None or current[1] != tag:
                return None
            self.put_bytes(key, data)
            return _tag(path.stat())

    def delete_if(self, key: str, tag: str) -> bool:
        with self._locked(key) as path:
            current = self._tagged(path)
            if current is None or current[1] != tag:
                return False
            path.unlink()
        self._prune(path.parent)
        return True

    def _temp_files(self, prefix: str) -> dict[str, str]:
        """Temp file key -> the final key it was written for."""
        out = {}
        for key in self.list(prefix):
            folder, _, name = key.rpartition("/")
            final = layout.parse_temp_name(name)
            if final is not None:
                out[key] = f"{folder}/{final}" if folder else final
        return out

    def list_partials(self, prefix: str) -> list[str]:
        return sorted(self._temp_files(prefix).values())

    def cleanup_partials(self, prefix: str, select: Callable[[str], bool] | None = None) -> int:
        removed = 0
        for temp, final in self._temp_files(prefix).items():
            if select is None or select(final):
                self.delete(temp)
                removed += 1
        return removed

    def probe(self) -> str | None:
        """A network mount that went away shows as a missing or unwritable root."""
        if not self.root.is_dir():
            return f"output directory '{self.uri}' is not there"
        if not os.access(self.root, os.W_OK):
            return f"output directory '{self.uri}' is not writable"
        return None

    def preflight(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise SinkError(f"output path '{self.uri}' is a file, not a directory: choose another output.uri")
        # Leaves nothing behind, not even a directory: a run refused later (its Ray cannot be
        # reached, say) has written nothing. So the probe goes into the nearest directory that
        # exists: the output directory, or the ancestor it will be made in.
        base = next(d for d in (self.root, *self.root.parents) if d.exists())
        probe = base / layout.probe_name()
        try:
            with open(probe, "xb") as fh:
                fh.write(b"ok")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise SinkError(
                f"cannot write to output directory '{self.uri}' ({reason}): "
                "choose a writable output.uri"
            ) from exc
