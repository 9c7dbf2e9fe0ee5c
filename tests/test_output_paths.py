"""Output paths (issue 13, section 3): `-o PATH` replaces only what is a file.

A new path or a regular file is written atomically (a temporary file renamed over it): a
replaced file keeps its mode, a new one follows the umask. FIFOs and character devices are
written through and stay what they are; /dev/stdout-style paths (and links to them) write the
process's descriptor; a full device is exit 1 "no space left on the device"; `-o -` is
standard output. Real FIFOs, symbolic links and device nodes are made in a temporary directory
(device nodes need root or CAP_MKNOD: those tests skip without it). The machine's own
/dev/null is never the target: a copy made with mknod is.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from refusal import HEAD, cli_run, refused, spec_file

import archcalc
from archcalc import outfile
from archcalc.errors import ArchcalcError
from archcalc.export import save

LENET_CSV_HEAD = "name,type,post,inputs,output_shape,params"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".archcalc-"))


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def device(tmp_path: Path, name: str, major: int, minor: int) -> Path:
    """A character device node like /dev/null (1, 3) or /dev/full (1, 7), or skip."""
    path = tmp_path / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    except (PermissionError, OSError, AttributeError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


# ------------------------------------------------------------------------ regular files --


def test_a_new_file_follows_the_umask(tmp_path: Path, umask_027: None) -> None:
    out = tmp_path / "new.csv"
    res = cli_run("table", "lenet5", "-o", out)
    assert res.exit_code == 0 and res.stdout == "", res.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # 0666 & ~0027 (mkstemp gave 0600)
    assert LENET_CSV_HEAD in out.read_text()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", [0o664, 0o600, 0o755, 0o444])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    out = tmp_path / "old.csv"
    out.write_text("old\n")
    out.chmod(mode)
    inode = out.stat().st_ino
    assert cli_run("table", "lenet5", "-o", out).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert out.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert LENET_CSV_HEAD in out.read_text()
    assert leftovers(tmp_path) == []


def test_a_symlink_to_a_file_writes_the_file_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("{}\n")
    target.chmod(0o664)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert cli_run("table", "lenet5", "-o", link).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o664
    assert '"archcalc_json": ' in target.read_text()


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "made.md")
    assert cli_run("table", "lenet5", "-o", link).exit_code == 0
    assert link.is_symlink() and "| layer | type |" in (tmp_path / "made.md").read_text()


def test_an_error_writes_nothing_even_through_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    spec = spec_file(tmp_path, HEAD + "  - conv: {out: 4, k: three}\n")
    refused(cli_run("table", spec, "-o", fifo), f"{spec}:4:23: error:", hint="")
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # never opened: no reader needed
    assert leftovers(tmp_path) == []


def test_a_full_disk_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    out = tmp_path / "t.csv"
    out.write_text("old\n")

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outfile.os, "write", full)
    with pytest.raises(ArchcalcError) as info:
        save(archcalc.analyze("lenet5"), out)
    assert str(info.value).startswith(f"error: cannot write {out}: no space left on the device")
    assert out.read_text() == "old\n" and leftovers(tmp_path) == []


def test_a_directory_that_takes_no_temporary_rewrites_a_writable_file_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writable file in a directory we may not write (the temporary cannot be made): like a
    shell's `>`, the file is rewritten in place (the one non-atomic case)."""
    out = tmp_path / "t.csv"
    out.write_text("old\n")
    inode = out.stat().st_ino
    real_open = os.open

    def no_temporaries(path: str, flags: int, mode: int = 0o777) -> int:
        if os.path.basename(path).startswith(".archcalc-"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode)

    monkeypatch.setattr(outfile.os, "open", no_temporaries)
    save(archcalc.analyze("lenet5"), out)
    assert out.stat().st_ino == inode and LENET_CSV_HEAD in out.read_text()


def test_a_missing_directory(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "t.csv"
    refused(cli_run("table", "lenet5", "-o", out),
            f"error: cannot write {out}: No such file or directory", hint="directory exists")


# ------------------------------------------------------------------- FIFOs and devices --


def test_a_fifo_is_written_through_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there (no thread needed:
    try:  # the ~600-byte table fits the pipe's buffer)
        res = cli_run("table", "lenet5", "-o", fifo)
        assert res.exit_code == 0, res.output
        assert LENET_CSV_HEAD in os.read(reader, 1 << 16).decode()
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode) and leftovers(tmp_path) == []


def test_a_fifo_waits_a_little_for_its_reader(tmp_path: Path) -> None:
    """`cat FIFO & archcalc … -o FIFO`: the reader may open the FIFO just after the writer
    looks; the writer retries for FIFO_WAIT seconds."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def late_reader() -> None:
        threading.Event().wait(0.3)
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    thread = threading.Thread(target=late_reader, daemon=True)
    thread.start()
    res = cli_run("table", "lenet5", "-o", fifo)
    thread.join(10)
    assert res.exit_code == 0, res.output
    assert got and LENET_CSV_HEAD in got[0].decode()


def test_a_fifo_nobody_reads_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setattr(outfile, "FIFO_WAIT", 0.2)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    refused(cli_run("table", "lenet5", "-o", fifo),
            f"error: cannot write {fifo}: it is a FIFO and no process opened it for reading "
            "within 0.2 s", hint="start the reader first")
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_copy_of_dev_null_stays_a_device(tmp_path: Path) -> None:
    null = device(tmp_path, "null", 1, 3)
    res = cli_run("table", "lenet5", "-o", null, "-f", "json")
    assert res.exit_code == 0 and res.stdout == ""
    assert stat.S_ISCHR(null.stat().st_mode) and leftovers(tmp_path) == []


@pytest.mark.parametrize("which", ["copy", "real"])
def test_a_full_device_is_no_space_left(tmp_path: Path, which: str) -> None:
    full = device(tmp_path, "full", 1, 7) if which == "copy" else Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full here")
    refused(cli_run("table", "lenet5", "-o", full),
            f"error: cannot write {full}: no space left on the device", hint="free some space")
    assert stat.S_ISCHR(full.stat().st_mode)
    with pytest.raises(ArchcalcError, match="no space left on the device"):
        save(archcalc.analyze("lenet5"), full, "csv")


def test_block_devices_sockets_and_directories_are_refused(tmp_path: Path) -> None:
    sock_path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock_path))
        refused(cli_run("table", "lenet5", "-o", sock_path, "-f", "csv"),
                f"error: cannot write {sock_path}: it is a socket", hint="or - for standard")
    finally:
        server.close()
    with pytest.raises(ArchcalcError, match="it is a directory"):
        outfile.write_output(tmp_path, "x")
    res = cli_run("table", "lenet5", "-o", tmp_path)  # click's own check: a usage error
    assert res.exit_code == 2 and "is a directory" in res.stderr
    try:
        os.mknod(tmp_path / "blk", stat.S_IFBLK | 0o600, os.makedev(7, 250))
    except (PermissionError, OSError):
        return  # no block device node without root
    with pytest.raises(ArchcalcError, match="it is a block device"):
        outfile.write_output(tmp_path / "blk", "x")


# ------------------------------------------------------------------------- standard output --


@pytest.mark.parametrize("path", ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_standard_output_by_name(tmp_path: Path, path: str) -> None:
    if path != "-" and not os.path.exists(path):
        pytest.skip(f"no {path} here")
    os.chdir(tmp_path)
    res = cli_run("table", "lenet5", "-o", path, "-f", "csv")
    assert res.exit_code == 0 and LENET_CSV_HEAD in res.stdout
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_a_symlink_to_standard_output_or_error(tmp_path: Path) -> None:
    if not os.path.exists("/proc/self/fd/1"):
        pytest.skip("no /proc/self/fd here")
    out, err = tmp_path / "out", tmp_path / "err"
    out.symlink_to("/proc/self/fd/1")
    err.symlink_to("/proc/self/fd/2")
    res = cli_run("table", "lenet5", "-o", out, "-f", "csv")
    assert res.exit_code == 0 and LENET_CSV_HEAD in res.stdout
    assert out.is_symlink()  # not replaced by a regular file
    res = cli_run("table", "lenet5", "-o", err, "-f", "csv")
    assert res.exit_code == 0 and res.stdout == "" and LENET_CSV_HEAD in res.stderr
    assert err.is_symlink()


def test_own_descriptor_follows_links_to_fd_paths(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("/dev/stdout")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert outfile.own_descriptor(str(tmp_path / "b")) == 1
    assert outfile.own_descriptor("/dev/fd/7") == 7
    assert outfile.own_descriptor(f"/proc/{os.getpid()}/fd/2") == 2
    assert outfile.own_descriptor(f"/proc/{os.getpid() + 1}/fd/2") is None  # someone else's
    assert outfile.own_descriptor(str(tmp_path / "plain.csv")) is None
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert outfile.own_descriptor(str(tmp_path / "loop")) is None
    with pytest.raises(ArchcalcError, match="cannot write"):  # ELOOP, reported
        outfile.write_output(tmp_path / "loop", "x")
