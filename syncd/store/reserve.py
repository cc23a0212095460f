"""Disk space held back beside a SQLite database for one job: committing a rotated token.

SQLite writes a transaction's pages only at COMMIT (to the WAL), so no statement inside
the token rotation can prove that the commit will find space. The reserve does: a file of
``RESERVE_BYTES`` beside the database, really allocated, is made sure of before every
refresh, and deleted to free its space when the commit of a rotated pair fails on a full
disk, so that the retried commit fits. It is made again before the next refresh; when
that fails, the disk is full and the refresh does not happen.

The bytes are written out (random, so a compressing filesystem stores them all) rather
than ``posix_fallocate``d, which some C libraries refuse on some filesystems. On a
copy-on-write filesystem (btrfs, ZFS) deleting a file may free its space only later, so
there the reserve may not bridge the commit; the store's next layer (the pair kept in
memory, retried) still does.

PostgreSQL needs none: its disk is the server's, and syncd cannot reserve space there.
"""

from __future__ import annotations

import os
from pathlib import Path

#: one token commit writes a handful of WAL frames (4 KiB pages); 1 MiB leaves ample room
RESERVE_BYTES = 1024 * 1024


class SpaceReserve:
    def __init__(self, path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = path
        self.size = size

    @classmethod
    def beside(cls, database: Path) -> SpaceReserve:
        return cls(database.with_name(database.name + ".token-reserve"))

    def ensure(self) -> None:
        """Make sure the reserve holds its space; OSError (ENOSPC) when the disk is full."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            stat = os.fstat(fd)
            if stat.st_size >= self.size and stat.st_blocks * 512 >= self.size:
                return
            chunk = os.urandom(64 * 1024)
            offset = 0
            while offset < self.size:
                offset += os.pwrite(fd, chunk[: self.size - offset], offset)
            os.fsync(fd)  # the space must be taken now, not at some later writeback
        finally:
            os.close(fd)

    def release(self) -> bool:
        """Give the space back to the filesystem; False when there was no reserve."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
