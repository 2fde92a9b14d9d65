"""Reading a file that someone else wrote, without being turned against the machine.

A path is checked with stat before it is opened, so a FIFO, a socket or a
device is never opened (a FIFO would block for ever, /dev/zero never ends);
it is opened non-blocking and checked again on the open descriptor, so a file
swapped for a FIFO in between is refused too; and it is read to a byte limit.

A file read as part of a folder (a migration) may be a symbolic link only to
a file inside that folder: a link to a secret elsewhere is refused before a
byte of it is read, so its content can never reach a message.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from monitor.errors import InputError, Problem

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


@dataclass(frozen=True, slots=True)
class Checked:
    """A regular file that may be read: where it really is, and its stat."""

    real: Path
    info: os.stat_result


def check(path: Path, what: str, max_bytes: int, *, inside: Path | None = None) -> Checked:
    """The file behind ``path``, if it is one that may be read; one Problem otherwise.

    ``what`` names the file in messages ("spec", "migration"). With
    ``inside``, the path must lead (through any symbolic links) to a file
    inside that folder. Nothing is opened.
    """

    def refuse(message: str) -> NoReturn:
        _refuse(path, message)

    try:
        real = Path(os.path.realpath(path, strict=True))
        if inside is not None and not real.is_relative_to(os.path.realpath(inside)):
            refuse(f"{what} file leads outside the folder (to {real}): never read")
        info = os.stat(real)
    except FileNotFoundError:
        refuse(f"{what} file not found")
    except OSError as exc:
        refuse(f"cannot read {what} file: {_reason(exc)}")
    if stat.S_ISDIR(info.st_mode):
        refuse(f"cannot read {what} file: it is a directory")
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for is_kind, name in _KINDS if is_kind(info.st_mode)), "unknown kind")
        refuse(f"cannot read {what} file: not a regular file ({kind}; never read)")
    if info.st_size > max_bytes:
        refuse(f"{what} file is too large: {info.st_size} bytes (at most {max_bytes})")
    return Checked(real, info)


def read_bytes(path: Path, what: str, max_bytes: int, *, inside: Path | None = None) -> bytes:
    """The bytes of ``path``, checked by :func:`check` first; one Problem otherwise."""
    checked = check(path, what, max_bytes, inside=inside)

    def refuse(message: str) -> NoReturn:
        _refuse(path, message)

    try:
        # No link is followed any more: the path was resolved by the check.
        descriptor = os.open(checked.real, _OPEN_FLAGS | os.O_NOFOLLOW)
    except OSError as exc:
        refuse(f"cannot read {what} file: {_reason(exc)}")
    try:
        opened = os.fstat(descriptor)
        if (opened.st_dev, opened.st_ino) != (checked.info.st_dev, checked.info.st_ino):
            refuse(f"cannot read {what} file: it was replaced while being read")
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        refuse(f"cannot read {what} file: {_reason(exc)}")
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        refuse(f"{what} file is too large: more than {max_bytes} bytes")
    return data


def _refuse(path: Path, message: str) -> NoReturn:
    raise InputError([Problem(str(path), None, message)])


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "a loop of symbolic links"
    return exc.strerror or type(exc).__name__
