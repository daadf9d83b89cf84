"""A local folder used as a cache: bounded in bytes, least recently used files evicted first, and safe to
delete at any time (by an operator, or by another process's eviction).

Nothing in it is the only copy of anything: what it holds is rebuilt from object storage (or recomputed)
on a miss. So a file that vanished or is damaged is a miss, and a write that fails is skipped with a
warning rather than failing the job that made it. Several processes may share one folder: files are
written under a temporary name and renamed into place, recency is each file's modification time (set on
every hit), and each process evicts when it finds the folder over its limit.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

TEMPORARY_SUFFIX = ".tmp"
# Eviction goes down to this share of the limit, so it runs once per tenth of the limit written, not on
# every write once the folder is full.
LOW_WATER = 0.9
# A temporary file this old belongs to a writer that died mid-write: eviction removes it.
STALE_TEMPORARY_SECONDS = 3600.0


class BoundedFolder:
    """Files under ``root`` holding at most ``max_bytes`` (None: no limit), least recently used out first."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int | None = None, suffix: str = "") -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1 (or None for no limit), got {max_bytes}")
        self.root = Path(root)
        self.max_bytes = max_bytes
        # Only files with this ending (and the cache's own temporary files) are counted and evicted: a
        # folder set by mistake to one that holds other things (the var folder, a database) loses nothing.
        self.suffix = suffix
        # What this process believes the folder holds: measured on its first write, then kept up to date
        # with its own writes; other processes' writes are caught when an eviction measures it again.
        self._estimate: int | None = None
        self._lock = threading.Lock()

    def touch(self, path: Path) -> None:
        """Mark a file just read as recently used, so eviction keeps it over older ones."""
        try:
            os.utime(path)
        except OSError:
            pass  # evicted or deleted since it was read: nothing to keep

    def write(self, path: Path, write: Callable[[IO[bytes]], None]) -> bool:
        """Write ``path`` atomically with ``write(file)``, then evict if the folder is over its limit. False
        when it could not be written (the folder deleted twice in a row, a full disk): a later read misses."""
        for _ in range(2):  # once more when the folder was deleted between making it and renaming into it
            temporary = None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=TEMPORARY_SUFFIX)
                with os.fdopen(handle, "wb") as file:
                    write(file)
                os.replace(temporary, path)
                temporary = None
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            except OSError:
                logger.warning(
                    "Could not write %s into the local cache; it will be rebuilt when needed.", path, exc_info=True
                )
                return False
            finally:
                if temporary is not None:
                    Path(temporary).unlink(missing_ok=True)
            self._added(size)
            return True
        return False

    def usage(self) -> int:
        """Bytes the folder's files take now."""
        return sum(size for _, size, _ in self._files())

    def evict(self) -> int:
        """Measure the folder; over the limit, delete least recently used files until it holds at most
        ``LOW_WATER`` of it. Temporary files left by dead writers go too. Returns the bytes it holds after."""
        files = self._files()
        now = time.time()
        total = 0
        kept = []
        for modified, size, path in files:
            if path.name.endswith(TEMPORARY_SUFFIX):
                if now - modified > STALE_TEMPORARY_SECONDS:
                    path.unlink(missing_ok=True)
                    continue
            kept.append((modified, size, path))
            total += size
        if self.max_bytes is not None and total > self.max_bytes:
            target = int(self.max_bytes * LOW_WATER)
            for _, size, path in sorted(kept, key=lambda entry: entry[0]):
                if total <= target:
                    break
                if path.name.endswith(TEMPORARY_SUFFIX):
                    continue  # another writer's file, about to be renamed
                path.unlink(missing_ok=True)
                total -= size
        with self._lock:
            self._estimate = total
        return total

    def _added(self, size: int) -> None:
        if self.max_bytes is None:
            return
        with self._lock:
            if self._estimate is not None:
                self._estimate += size
            measure = self._estimate is None or self._estimate > self.max_bytes
        if measure:
            self.evict()

    def _files(self) -> list[tuple[float, int, Path]]:
        """(modification time, size, path) of every file; files and folders vanishing meanwhile are skipped."""
        found = []
        for folder, _, names in os.walk(self.root):
            for name in names:
                if not (name.endswith(self.suffix) or name.endswith(TEMPORARY_SUFFIX)):
                    continue
                path = Path(folder) / name
                try:
                    stat = path.stat()
                except OSError:
                    continue
                found.append((stat.st_mtime, stat.st_size, path))
        return found
