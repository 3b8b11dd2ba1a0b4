"""Where archived objects live: the `ArchiveStore` interface and the local-filesystem implementation.

Objects are content-addressed (object id = SHA-256 of the bytes) and written once. Every store keeps two
copies, the primary and the duplicate set (17a-4: a backup set redundant if the primary becomes
inaccessible), plus the manifest next to each. The interface is narrow on purpose so that an object-lock
store (S3 Object Lock in compliance mode, versioned bucket) can replace `LocalArchiveStore` without
touching the flow: put once, read, hash, list, and remove — and `remove` is only ever called by the purge
after the manifest recorded the purge.

Invariants (local store):
- an object file is created by hard-linking a fully written, fsynced temp file into place, so it appears
  whole or not at all and `link` itself refuses to replace an existing file;
- object files are made read-only (0o444); the store never opens one for writing again;
- `write_object` refuses an id that already exists, whatever the bytes (a different content at an existing
  id is impossible by construction; any attempt to replace one is refused, not ignored).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from flows.archive.manifest import Manifest
from flows.errors import ArchiveError

Copy = Literal["primary", "duplicate"]
COPIES: tuple[Copy, ...] = ("primary", "duplicate")
CHUNK = 4 * 1024 * 1024  # large reads: hashing runs near memory speed, syscalls stay negligible


@dataclass(frozen=True)
class PutResult:
    object_id: str
    size: int
    created: bool  # False when the object was already in the store (writing it again is a no-op)


def hash_file(path: Path, chunk: int = CHUNK) -> tuple[str, int]:
    """(sha256 hex, size) of a file, read in large chunks into one reused buffer (hashlib drops the GIL)."""
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    size = 0
    with path.open("rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)  # type: ignore[attr-defined]
            if not n:
                break
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


def is_object_id(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


class ArchiveStore(ABC):
    """Write-once object storage with a primary and a duplicate copy and a manifest beside each."""

    manifest: Manifest

    @abstractmethod
    def put_file(self, path: Path, object_id: str | None = None) -> PutResult:
        """Store a file's bytes (both copies); a no-op returning created=False when the id already exists.
        `object_id`, when the caller has just hashed the file, saves a read; the copy is re-hashed anyway."""

    @abstractmethod
    def write_object(self, object_id: str, data: bytes) -> None:
        """Create a new object under `object_id`; refuses an existing id and bytes that do not hash to it."""

    @abstractmethod
    def exists(self, object_id: str, copy: Copy = "primary") -> bool: ...

    @abstractmethod
    def size(self, object_id: str, copy: Copy = "primary") -> int | None:
        """Bytes stored, or None when the object is missing from that copy."""

    @abstractmethod
    def open(self, object_id: str, copy: Copy = "primary") -> BinaryIO: ...

    @abstractmethod
    def hash_object(self, object_id: str, copy: Copy = "primary") -> str | None:
        """SHA-256 of the stored bytes as read back now; None when missing."""

    def hash_pair(self, object_id: str) -> tuple[str | None, str | None]:
        """(primary digest, duplicate digest), None for a missing copy. Stores may do this more cheaply than
        two hashes (the local store hashes the primary and compares the duplicate byte for byte)."""
        return self.hash_object(object_id, "primary"), self.hash_object(object_id, "duplicate")

    @abstractmethod
    def list_objects(self, copy: Copy = "primary") -> Iterator[str]: ...

    @abstractmethod
    def remove(self, object_id: str) -> None:
        """Delete both copies. Only the purge calls this, after the manifest recorded the purge."""

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """Where the copies live, for reports and `opsctl archive verify`."""


class LocalArchiveStore(ArchiveStore):
    """The default store: two directory trees on (ideally) separate file systems."""

    def __init__(self, root: Path, duplicate_root: Path) -> None:
        if root.resolve() == duplicate_root.resolve():
            raise ArchiveError(f"duplicate set must be a separate location from the primary ({root})")
        self.roots: dict[Copy, Path] = {"primary": root, "duplicate": duplicate_root}
        self.manifest = Manifest(root / "manifest.jsonl", duplicate_root / "manifest.jsonl")

    def object_path(self, object_id: str, copy: Copy = "primary") -> Path:
        if not is_object_id(object_id):
            raise ArchiveError(f"not an object id (64 lowercase hex): {object_id!r}")
        return self.roots[copy] / "objects" / object_id[:2] / object_id

    def _tmp(self, copy: Copy) -> Path:
        d = self.roots[copy] / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{uuid.uuid4().hex}.part"

    def _place(self, tmp: Path, object_id: str, copy: Copy) -> bool:
        """Link a complete temp file into place; False if the object already existed (left untouched)."""
        final = self.object_path(object_id, copy)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, final)  # atomic, and never replaces an existing file
            created = True
        except FileExistsError:
            created = False
        finally:
            tmp.unlink(missing_ok=True)
        if created:
            _fsync_dir(final.parent)
        return created

    def put_file(self, path: Path, object_id: str | None = None) -> PutResult:
        # Hash first: re-archiving known bytes (the common case) then costs one read and no writes.
        if object_id is None:
            object_id = hash_file(path)[0]
        if self.exists(object_id, "primary"):
            return PutResult(object_id, path.stat().st_size, created=False)
        tmps = {c: self._tmp(c) for c in COPIES}
        h = hashlib.sha256()
        size = 0
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            with path.open("rb", buffering=0) as src, tmps["primary"].open("wb") as a, tmps["duplicate"].open(
                "wb"
            ) as b:
                while True:
                    n = src.readinto(buf)  # type: ignore[attr-defined]
                    if not n:
                        break
                    h.update(view[:n])
                    a.write(view[:n])
                    b.write(view[:n])
                    size += n
                for fh in (a, b):
                    fh.flush()
                    os.fsync(fh.fileno())
            object_id = h.hexdigest()
            if self.exists(object_id, "primary"):
                for t in tmps.values():
                    t.unlink(missing_ok=True)
                return PutResult(object_id, size, created=False)
            created = self._place(tmps["primary"], object_id, "primary")
            self._place(tmps["duplicate"], object_id, "duplicate")
            return PutResult(object_id, size, created=created)
        finally:
            for t in tmps.values():
                t.unlink(missing_ok=True)

    def write_object(self, object_id: str, data: bytes) -> None:
        for copy in COPIES:
            if self.object_path(object_id, copy).exists():
                raise ArchiveError(f"refusing to replace archived object {object_id} ({copy} copy exists)")
        actual = hashlib.sha256(data).hexdigest()
        if actual != object_id:
            raise ArchiveError(f"refusing to store bytes hashing to {actual} under id {object_id}")
        for copy in COPIES:
            tmp = self._tmp(copy)
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if not self._place(tmp, object_id, copy):
                raise ArchiveError(f"refusing to replace archived object {object_id} ({copy} copy appeared)")

    def exists(self, object_id: str, copy: Copy = "primary") -> bool:
        return self.object_path(object_id, copy).is_file()

    def size(self, object_id: str, copy: Copy = "primary") -> int | None:
        try:
            return self.object_path(object_id, copy).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, object_id: str, copy: Copy = "primary") -> BinaryIO:
        try:
            return self.object_path(object_id, copy).open("rb")
        except FileNotFoundError:
            raise ArchiveError(f"object {object_id} is missing from the {copy} copy") from None

    def hash_object(self, object_id: str, copy: Copy = "primary") -> str | None:
        try:
            return hash_file(self.object_path(object_id, copy))[0]
        except FileNotFoundError:
            return None

    def hash_pair(self, object_id: str) -> tuple[str | None, str | None]:
        """Hash the primary while comparing the duplicate to it chunk by chunk: a duplicate byte-identical to
        the primary has the primary's digest, and memcmp costs a fraction of SHA-256. Only a duplicate that
        differs is hashed on its own (to name what it holds)."""
        try:
            a = self.object_path(object_id, "primary").open("rb", buffering=0)
        except FileNotFoundError:
            return None, self.hash_object(object_id, "duplicate")
        try:
            b = self.object_path(object_id, "duplicate").open("rb", buffering=0)
        except FileNotFoundError:
            a.close()
            return self.hash_object(object_id, "primary"), None
        h = hashlib.sha256()
        buf_a, buf_b = bytearray(CHUNK), bytearray(CHUNK)
        view = memoryview(buf_a)
        same = True
        with a, b:
            while True:
                n = a.readinto(buf_a)  # type: ignore[attr-defined]
                m = b.readinto(buf_b) if same else 0  # type: ignore[attr-defined]
                if same:
                    same = n == m and (buf_a == buf_b if n == CHUNK else buf_a[:n] == buf_b[:m])
                if not n:
                    if same and b.read(1):
                        same = False  # the duplicate is longer
                    break
                h.update(view[:n])
        digest = h.hexdigest()
        return digest, digest if same else self.hash_object(object_id, "duplicate")

    def list_objects(self, copy: Copy = "primary") -> Iterator[str]:
        base = self.roots[copy] / "objects"
        if not base.is_dir():
            return
        for sub in sorted(base.iterdir()):
            if sub.is_dir():
                for p in sorted(sub.iterdir()):
                    yield p.name

    def remove(self, object_id: str) -> None:
        for copy in COPIES:
            p = self.object_path(object_id, copy)
            p.unlink(missing_ok=True)
            if p.parent.is_dir():
                _fsync_dir(p.parent)

    def repair_duplicate(self, object_id: str) -> None:
        """Re-create a missing or damaged duplicate copy from a primary that still verifies."""
        src = self.object_path(object_id, "primary")
        if self.hash_object(object_id, "primary") != object_id:
            raise ArchiveError(f"cannot repair duplicate of {object_id}: the primary does not verify either")
        dst = self.object_path(object_id, "duplicate")
        dst.unlink(missing_ok=True)
        tmp = self._tmp("duplicate")
        shutil.copyfile(src, tmp)
        self._place(tmp, object_id, "duplicate")

    def describe(self) -> dict[str, str]:
        return {"kind": "local", "primary": str(self.roots["primary"]), "duplicate": str(self.roots["duplicate"])}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
