"""Copying checkpoints in and out of an agent's scratch folder without trusting it.

The agent writes only inside its scratch directory: checkpoints are copied in and out by the
harness, so a trial can neither corrupt the stored checkpoint nor see another's. The source may
be written by the agent, and the harness may run as root, so every path is opened relative to
an open folder with O_NOFOLLOW, new files with O_EXCL, and only regular files and folders are
copied: a symlink, FIFO or device, or one swapped in mid-copy, is skipped or fails the copy, and
never makes the harness read or write elsewhere.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

MAX_CHECKPOINT_BYTES = 4 * 1024**3
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def check_destination(path: Path) -> Path:
    """A checkpoint folder the harness may replace whole: never empty, ``.``, the working folder
    or one of its parents (``Path("")`` is the working folder, and replacing it deletes it)."""
    here = Path.cwd().resolve()
    if not str(path) or path.name in ("", ".", "..") or path.resolve() in (here, *here.parents):
        raise ValueError(f"refusing {str(path)!r} as a checkpoint folder: it would replace the working folder")
    return path


def remove_entry(parent: Path, name: str) -> None:
    """Remove ``parent/name`` (file, symlink or folder) without following a symlink in it."""
    if name in ("", ".", "..") or "/" in name:
        raise ValueError(f"not an entry of {parent}: {name!r}")
    parent_fd = os.open(parent, _DIRECTORY)
    try:
        try:
            mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            shutil.rmtree(name, dir_fd=parent_fd)  # fd-based: safe against swapped symlinks
        else:
            os.unlink(name, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def copy_checkpoint(source_parent: Path, name: str, destination: Path) -> None:
    """Copy folder ``source_parent/name`` into the empty folder ``destination``."""
    parent_fd = os.open(source_parent, _DIRECTORY)
    try:
        source_fd = os.open(name, _DIRECTORY, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)
    destination_fd = os.open(destination, _DIRECTORY)
    try:
        _copy_tree(source_fd, destination_fd, [MAX_CHECKPOINT_BYTES])
    finally:
        os.close(source_fd)
        os.close(destination_fd)


def _copy_tree(source_fd: int, destination_fd: int, allowance: list[int]) -> None:
    for entry in os.scandir(source_fd):
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(entry.name, 0o755, dir_fd=destination_fd)
            inner_source = os.open(entry.name, _DIRECTORY, dir_fd=source_fd)
            try:
                inner_destination = os.open(entry.name, _DIRECTORY, dir_fd=destination_fd)
                try:
                    _copy_tree(inner_source, inner_destination, allowance)
                finally:
                    os.close(inner_destination)
            finally:
                os.close(inner_source)
        elif entry.is_file(follow_symlinks=False):
            reader = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=source_fd)
            try:
                if not stat.S_ISREG(os.fstat(reader).st_mode):
                    continue  # swapped for a FIFO or device since the listing
                writer = os.open(
                    entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=destination_fd
                )
                try:
                    while chunk := os.read(reader, 1 << 20):
                        allowance[0] -= len(chunk)
                        if allowance[0] < 0:
                            raise OSError(f"checkpoint larger than {MAX_CHECKPOINT_BYTES} bytes")
                        os.write(writer, chunk)
                finally:
                    os.close(writer)
            finally:
                os.close(reader)
