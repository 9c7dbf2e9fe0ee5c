"""Writing an output file: ``-o PATH`` of every command, report exports and charts.

What the path names decides how it is written; nothing is ever replaced that is not a file:

* a new path, or a regular file (also through symbolic links): the content goes to a temporary
  file in the same directory, which is then renamed over the path — a failure leaves the old
  file as it was (or no file at all). A replaced file keeps its permission bits (and, when
  run as root, its owner); a new file gets ``0666 & ~umask``, as ``>`` in a shell would.
* ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N`` and ``/proc/self/fd/N`` (also reached through
  a symbolic link): the process's own descriptor N is written, wherever it points.
* a FIFO or a character device (``/dev/null``, a terminal, ``/dev/full``): opened for writing
  without creating or truncating anything, and written through. A FIFO is given
  :data:`FIFO_WAIT` seconds for a reader to open it (``cat FIFO &`` started just before), then
  refused instead of waited on forever.
* a directory, a block device or a socket: refused.

If the directory cannot take a temporary file but the existing file is writable (a file in
someone else's directory), the file is rewritten in place — not atomically, the only case.
Every failure is an :class:`~archcalc.ArchcalcError` ``cannot write PATH: …``; a full device
(ENOSPC, EDQUOT) says "no space left on the device".
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time

from .errors import ArchcalcError

#: descriptors by name: /dev/stdout → 1, /dev/fd/5 → 5, /proc/self/fd/2 → 2
_FD_PATH = re.compile(r"/dev/(stdout|stderr)|/dev/fd/(\d+)|/proc/(self|thread-self|\d+)/fd/(\d+)")
_NAMED_FDS = {"stdout": 1, "stderr": 2}
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
#: seconds a FIFO is given for a reader to open it
FIFO_WAIT = 5.0


def write_output(path: str | os.PathLike[str], content: str | bytes) -> None:
    """Write ``content`` (text is UTF-8 encoded) to ``path`` as the module docstring says."""
    shown = os.fspath(path)
    data = content.encode() if isinstance(content, str) else content
    fd = own_descriptor(shown)
    if fd is not None:
        _write_all(fd, data, shown)
        return
    target = os.path.realpath(shown)
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _failed(shown, exc) from None
    if info is None or stat.S_ISREG(info.st_mode):
        _replace(target, data, info, shown)
    elif stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode):
        _write_through(target, data, shown, fifo=stat.S_ISFIFO(info.st_mode))
    else:
        kind = ("a directory" if stat.S_ISDIR(info.st_mode) else
                "a block device" if stat.S_ISBLK(info.st_mode) else
                "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise ArchcalcError(f"cannot write {shown}: it is {kind}",
                            hint="give a file name (a new path, a regular file, a FIFO or a "
                            "character device such as /dev/null), or - for standard output")


def is_stream(path: str) -> bool:
    """Whether ``path`` is a stream rather than a file: ``-``, one of this process's
    descriptors by name, a FIFO or a character device (their names carry no extension)."""
    if path == "-" or own_descriptor(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def own_descriptor(path: str) -> int | None:
    """The descriptor of this process that ``path`` names (directly or through symbolic
    links), or None."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on a chain of links
        found = _FD_PATH.fullmatch(current)
        if found is not None:
            name, fd_dev, proc, fd_proc = found.groups()
            if name is not None:
                return _NAMED_FDS[name]
            if fd_dev is not None:
                return int(fd_dev)
            if proc in ("self", "thread-self", str(os.getpid())):
                return int(fd_proc)
            return None
        try:
            link = os.readlink(current)
        except OSError:  # not a link (or not there): an ordinary path
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    return None


def _replace(target: str, data: bytes, info: os.stat_result | None, shown: str) -> None:
    """Temporary file beside ``target``, renamed over it."""
    directory = os.path.dirname(target) or "."
    mode = 0o666 if info is None else stat.S_IMODE(info.st_mode)
    tmp = os.path.join(directory, f".archcalc-{secrets.token_hex(6)}.tmp")
    try:
        # created with 0666: the kernel applies the umask (a new file's mode, as `>` gives)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o666)
    except OSError as exc:
        if info is not None and exc.errno in (errno.EACCES, errno.EPERM) and os.access(
                target, os.W_OK):
            _rewrite_in_place(target, data, shown)
            return
        raise _failed(shown, exc) from None
    try:
        try:
            if info is not None:
                os.fchmod(fd, mode)  # a replaced file keeps its mode (mkstemp would say 0600)
                if hasattr(os, "geteuid") and os.geteuid() == 0 and (
                        info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                    os.fchown(fd, info.st_uid, info.st_gid)
            _write_fd(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise _failed(shown, exc) from None
    except BaseException:
        _remove(tmp)
        raise


def _rewrite_in_place(target: str, data: bytes, shown: str) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _failed(shown, exc) from None
    try:
        _write_fd(fd, data)
    except OSError as exc:
        raise _failed(shown, exc) from None
    finally:
        os.close(fd)


def _write_through(target: str, data: bytes, shown: str, *, fifo: bool) -> None:
    """A FIFO or character device: opened without O_CREAT/O_TRUNC. With O_NONBLOCK, opening a
    FIFO that nobody reads fails (ENXIO) instead of blocking: it is retried for FIFO_WAIT
    seconds, then refused; writing then blocks as usual."""
    flags = os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(
        os, "O_CLOEXEC", 0)
    deadline = time.monotonic() + FIFO_WAIT
    while True:
        try:
            fd = os.open(target, flags)
            break
        except OSError as exc:
            if not (fifo and exc.errno == errno.ENXIO):
                raise _failed(shown, exc) from None
            if time.monotonic() >= deadline:
                raise ArchcalcError(
                    f"cannot write {shown}: it is a FIFO and no process opened it for reading "
                    f"within {FIFO_WAIT:g} s", hint="start the reader first (e.g. `cat FIFO &`)"
                ) from None
            time.sleep(0.01)
    try:
        os.set_blocking(fd, True)
        _write_fd(fd, data)
    except OSError as exc:
        raise _failed(shown, exc) from None
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes, shown: str) -> None:
    try:
        _write_fd(fd, data)
    except OSError as exc:
        raise _failed(shown, exc) from None


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _failed(shown: str, exc: OSError) -> ArchcalcError:
    if exc.errno in _NO_SPACE:
        return ArchcalcError(f"cannot write {shown}: no space left on the device",
                             hint="free some space, or write elsewhere")
    return ArchcalcError(f"cannot write {shown}: {exc.strerror or exc}",
                         hint="check that the directory exists and that you may write there")
