"""How agent workers are fenced off from the machine.

The worker sets its own resource limits (``arena.worker.apply_limits``); this module decides
everything else, once per process, by probing what works here (never by assumption):

``bwrap`` (full sandbox, bubblewrap): fresh network, PID, IPC and UTS namespaces; a filesystem
view that holds only the system libraries, a few files of ``/etc``, the Python installation,
the project's packages, the submission folder (all read-only) and the scratch directory (the
only writable place, also mounted on ``/dev/shm``). A harness running as root drops the worker
to ``nobody`` (``setpriv``: no capabilities, no new privileges, so ``RLIMIT_NPROC`` binds); an
unprivileged harness gets the same view through a user namespace. ``--die-with-parent`` and the
PID namespace kill the worker and everything it started when the harness dies.

``unshare`` (partial): fresh network and PID namespaces and, as root, ``nobody``; no filesystem
view, so the secret seed, the database and other submissions are protected only by their file
permissions. ``none``: nothing but the resource limits.

Anything short of the full sandbox is reported once as a warning; :func:`available` tells
callers (``arena run --split test``) whether the full sandbox works.
"""

from __future__ import annotations

import errno
import functools
import glob
import importlib.util
import json
import os
import shutil
import site
import stat
import struct
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

WORKER_UID = 65534  # nobody
WORKER_GID = 65534  # nogroup
PROJECT_PACKAGES = ("arena", "games", "baselines")  # what a worker imports besides site-packages
PROBE_SECONDS = 60.0
# Whether what the harness creates inside a scratch dir inherits the worker's access (a default
# ACL). No: runner.AgentWorker.checkpoint_out() hands ``checkpoint-out`` over with give(), and a
# staged ``checkpoint/`` must stay read-only to the agent while the harness copies into it.
INHERIT_WORKER_ACCESS = False

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = (
    "passwd", "group", "nsswitch.conf", "host.conf", "hosts", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
    "localtime", "alternatives", "os-release", "mime.types", "ssl/certs", "ca-certificates.conf",
)  # fmt: skip
_WARNED = "ARENA_SANDBOX_WARNED"
_GPU_DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri", "/dev/kfd")

# POSIX ACL xattr layout (linux/posix_acl_xattr.h): version 2, then (tag u16, perm u16, id u32).
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_MASK, _ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_ACL_NO_ID = 0xFFFFFFFF

_PROBE = r"""
import json, os, socket, sys
secret, scratch = sys.argv[1], sys.argv[2]
info = {"uid": os.getuid(), "gid": os.getgid()}
try:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect sends nothing; it fails only without a route
    info["net"] = "open"
except OSError as exc:
    info["net"] = exc.errno
try:
    open(secret).read()
    info["secret"] = "read"
except OSError as exc:
    info["secret"] = exc.errno
try:
    with open(os.path.join(scratch, "probe.txt"), "w") as handle:
        handle.write("ok")
    info["scratch"] = "ok"
except OSError as exc:
    info["scratch"] = exc.errno
import importlib.util
for name in sys.argv[3:]:  # the project's packages: visible and readable (found, not imported: fast)
    try:
        spec = importlib.util.find_spec(name)
        with open(spec.origin, "rb") as handle:
            handle.read(1)
    except Exception as exc:
        info["arena"] = f"{name}: {exc!r}"
        break
else:
    info["arena"] = "ok"
print(json.dumps(info))
"""


@dataclass(frozen=True)
class Plan:
    """The wrapper this machine supports: what it isolates, and how to build it."""

    kind: str  # "bwrap", "unshare" or "none"
    full: bool  # network, user, filesystem view, process cleanup: everything issue 8 asks for
    network: bool  # the worker has no network (a fresh network namespace)
    drop_to: int | None  # the uid the worker runs as, when the harness is root and drops it
    detail: str  # one line: what this is, or what is missing
    build: Callable[[Path, Sequence[Path]], list[str]] = field(repr=False)
    # The same fence with the network (a package installer's): bubblewrap only.
    build_online: Callable[[Path, Sequence[Path]], list[str]] | None = field(default=None, repr=False)


def available() -> tuple[bool, str]:
    """Whether the full sandbox works here, and a one-line description (what is missing, if not)."""
    plan = _plan()
    return plan.full, plan.detail


def network_isolation() -> bool:
    """Whether workers run without network access."""
    return _plan().network


def worker_uid() -> int:
    """The uid an agent worker runs as (the harness's own when it cannot drop privileges)."""
    uid = _plan().drop_to
    return os.geteuid() if uid is None else uid


def wrap(command: list[str], *, scratch: Path, readable: Sequence[Path]) -> list[str]:
    """The worker's command line, fenced: ``scratch`` is its only writable place, ``readable``
    (the submission's folder) what it may read beyond the Python installation.

    Also prepares ``scratch`` for the worker user (:func:`prepare`); call it before the harness
    writes anything there that the agent must not be able to replace (the log file)."""
    plan = _plan()
    prepare(scratch)
    for folder in readable:
        _check_readable(Path(folder))
    return [*plan.build(Path(scratch), [Path(p) for p in readable]), *command]


def wrap_installer(command: list[str], *, workdir: Path, readable: Sequence[Path] = ()) -> list[str]:
    """A package installer's command line (pip, wheels only), fenced like an agent worker but
    with the network: the worker user, a read-only view of the system, the Python installation
    and ``readable`` (the installer's configuration and the local paths it names), and
    ``workdir`` its only writable place. The results database, the secret seed file and the
    submissions are not in its view. Needs the full sandbox (bubblewrap)."""
    plan = _plan()
    if plan.build_online is None:
        raise RuntimeError(f"installing a submission's requirements needs the full sandbox: {plan.detail}")
    prepare(workdir)
    return [*plan.build_online(Path(workdir), [Path(p) for p in readable]), *command]


def prepare(path: Path) -> None:
    """Make the scratch directory ``path`` usable by the worker user. Idempotent.

    As root: ``path`` stays root's, mode 1770 (sticky) with an ACL that gives the worker user
    rwx, and (see INHERIT_WORKER_ACCESS) a default ACL so that what the harness creates inside
    later (``checkpoint-out``) is writable by the worker too. The sticky bit keeps the agent from replacing the harness's
    own entries there (``worker.log`` with a symlink to a secret, or a FIFO that blocks the
    harness's read). Where the filesystem has no POSIX ACLs, the directory is handed over whole.
    """
    _prepare(Path(path), _plan().drop_to)


@functools.cache
def _can_mount() -> bool:
    """Whether this process may mount a tmpfs (root, with mount rights): probed once."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(tempfile.mkdtemp(prefix="arena-mount-probe-"))
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True)
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", "-l", str(probe)], capture_output=True)
        return True
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def limit_scratch(path: Path, size_bytes: int) -> bool:
    """Give the empty scratch dir ``path`` a disk quota: a tmpfs of ``size_bytes`` mounted on it.

    Returns False (and warns once) where mounting is not possible: then only time limits how
    much an agent writes. The tmpfs costs memory only for what is written."""
    if size_bytes <= 0:
        return False
    if not _can_mount():
        _warn_once("agent scratch dirs have no disk quota here (mounting a tmpfs needs root)")
        return False
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700,nosuid,nodev", "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        _warn_once(f"agent scratch dirs have no disk quota: mount failed ({mounted.stderr.decode().strip()})")
        return False
    return True


def release_scratch(path: Path) -> None:
    """Unmount a scratch quota (lazily: a lingering process cannot keep it busy), if there is one."""
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def give(path: Path) -> None:
    """Hand a directory the harness made inside a scratch dir (``checkpoint-out``) to the worker user."""
    uid = _plan().drop_to
    if uid is not None:
        os.chown(path, uid, WORKER_GID)


def _prepare(path: Path, uid: int | None) -> None:
    shm = path / ".shm"  # mounted on /dev/shm: POSIX semaphores and shared memory, on disk
    shm.mkdir(mode=0o700, exist_ok=True)
    if uid is None:
        return
    os.chown(shm, uid, WORKER_GID)
    try:
        os.chmod(path, 0o1770)
        os.setxattr(path, "system.posix_acl_access", _acl(uid))
        if INHERIT_WORKER_ACCESS:
            os.setxattr(path, "system.posix_acl_default", _acl(uid))
    except OSError as exc:
        _warn_once(f"scratch directories here take no POSIX ACLs ({exc.strerror}); handing them over whole")
        os.chown(path, uid, WORKER_GID)
        os.chmod(path, 0o700)


def _acl(uid: int) -> bytes:
    entries = [
        (_ACL_USER_OBJ, 7, _ACL_NO_ID),
        (_ACL_USER, 7, uid),
        (_ACL_GROUP_OBJ, 0, _ACL_NO_ID),
        (_ACL_MASK, 7, _ACL_NO_ID),
        (_ACL_OTHER, 0, _ACL_NO_ID),
    ]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


@functools.cache
def _warn_once(message: str) -> None:
    """Once per process, and not again in the processes it starts (runner processes, say)."""
    if os.environ.get(_WARNED) == message[:200]:
        return
    os.environ[_WARNED] = message[:200]
    warnings.warn(message, RuntimeWarning, stacklevel=3)


@functools.cache
def _check_readable(folder: Path) -> None:
    """As root the worker reads the submission as ``nobody``: say so when it cannot."""
    if _plan().drop_to is None:
        return
    for root, dirs, files in os.walk(folder):
        for name, need in [*((d, stat.S_IROTH | stat.S_IXOTH) for d in dirs), *((f, stat.S_IROTH) for f in files)]:
            try:
                mode = os.stat(os.path.join(root, name)).st_mode
            except OSError:
                continue
            if mode & need != need:
                _warn_once(
                    f"{os.path.join(root, name)} is not world-readable; the sandboxed worker "
                    f"(uid {WORKER_UID}) cannot read it"
                )
                return


# -- the plan ------------------------------------------------------------------------------------


@functools.cache
def _plan() -> Plan:
    plan = _choose()
    if not plan.full:
        _warn_once(f"agent workers are NOT fully sandboxed: {plan.detail}")
    return plan


def _choose() -> Plan:
    root = os.geteuid() == 0
    missing: list[str] = []
    bwrap, setpriv, unshare = shutil.which("bwrap"), shutil.which("setpriv"), shutil.which("unshare")
    drop: list[str] = []
    if root and setpriv is not None:
        drop = [
            setpriv, f"--reuid={WORKER_UID}", f"--regid={WORKER_GID}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
        ]  # fmt: skip
    elif root:
        missing.append("setpriv (util-linux) is missing, so workers cannot drop root")
    drop_to = WORKER_UID if drop else None

    if bwrap is None:
        missing.append("bubblewrap is not installed (apt-get install bubblewrap)")
    elif not root or drop:
        problem = ""
        for extra in [[]] if root else [["--unshare-user", "--disable-userns"], ["--unshare-user"]]:

            def build(scratch: Path, readable: Sequence[Path], extra: list[str] = extra) -> list[str]:
                return [*_bwrap_args(bwrap, extra, scratch, readable), *drop]

            def online(scratch: Path, readable: Sequence[Path], extra: list[str] = extra) -> list[str]:
                return [*_bwrap_args(bwrap, extra, scratch, readable, network=True), *drop]

            problem = _probe(build, drop_to, view=True) or ""
            if not problem:
                who = f"uid {drop_to}" if root else "the harness's user in a user namespace"
                detail = f"bubblewrap: no network, own filesystem view, {who}"
                return Plan("bwrap", True, True, drop_to, detail, build, online)
        missing.append(f"bubblewrap does not work here ({problem})")

    if unshare is None:
        missing.append("'unshare' is missing")
        return Plan("none", False, False, None, "; ".join(missing), lambda scratch, readable: [])
    if root:
        namespaces = [["--net", "--pid", "--ipc", "--uts", "--kill-child", "--mount-proc"], ["--net"]]
    else:
        namespaces = [["--map-current-user", "--net", "--pid", "--kill-child", "--mount-proc"], ["-r", "--net"]]
    outer = [setpriv, "--pdeathsig=KILL"] if setpriv else []  # unshare itself dies with the harness
    for user in [drop, []] if drop else [[]]:
        for flags in namespaces:

            def build_unshare(
                scratch: Path, readable: Sequence[Path], flags: list[str] = flags, user: list[str] = user
            ) -> list[str]:
                return [*outer, unshare, *flags, "--", *user]

            uid = drop_to if user else None
            if _probe(build_unshare, uid, view=False) is None:
                if drop and not user:
                    missing.append(f"the worker cannot run as uid {WORKER_UID} (is the Python install readable?)")
                as_user = f"uid {uid}" if uid is not None else ("root" if root else "the harness's user")
                detail = f"'unshare {' '.join(flags)}' as {as_user}, no filesystem view: " + "; ".join(missing)
                return Plan("unshare", False, True, uid, detail, build_unshare)
    missing.append("'unshare' cannot make a network namespace here")
    return Plan("none", False, False, None, "; ".join(missing), lambda scratch, readable: [])


def _probe(build: Callable[[Path, Sequence[Path]], list[str]], expect_uid: int | None, *, view: bool) -> str | None:
    """Run a tiny worker through the wrapper; None when it is as isolated as promised, else why not."""
    with tempfile.TemporaryDirectory(prefix="arena-sandbox-probe-") as tmp:
        os.chmod(tmp, 0o711)  # like TMPDIR, where scratch dirs live: the worker may pass, not list
        scratch, secret = Path(tmp) / "scratch", Path(tmp) / "secret"
        scratch.mkdir()
        secret.write_text("probe secret\n")
        os.chmod(secret, 0o644)  # only the view may hide it
        try:
            _prepare(scratch, expect_uid)
            packages = [name for name in (*PROJECT_PACKAGES, "numpy") if _found(name)]  # and site-packages
            command = [*build(scratch, []), sys.executable, "-c", _PROBE, str(secret), str(scratch), *packages]
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(scratch)}
            env["PYTHONPATH"] = worker_pythonpath()
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=PROBE_SECONDS,
                cwd=scratch,
                stdin=subprocess.DEVNULL,
                env=env,  # as bare as the worker's
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            return lines[-1] if lines else f"exit code {result.returncode}"
        try:
            info = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return f"unreadable probe output {result.stdout[-200:]!r}"
    uid = os.geteuid() if expect_uid is None else expect_uid
    if info.get("uid") != uid:
        return f"worker ran as uid {info.get('uid')}, not {uid}"
    if info.get("net") == "open":
        return "worker still has a network route"
    if info.get("scratch") != "ok":
        return f"worker cannot write its scratch directory ({_errno(info.get('scratch'))})"
    if info.get("arena") != "ok":
        return f"worker cannot reach the project's packages: {info.get('arena')}"
    if view and info.get("secret") != errno.ENOENT:
        return "a file outside the view is visible"
    return None


def _found(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _errno(value: object) -> str:
    return os.strerror(value) if isinstance(value, int) else str(value)


# -- the bubblewrap view ---------------------------------------------------------------------------


def _bwrap_args(
    bwrap: str, extra: list[str], scratch: Path, readable: Sequence[Path], *, network: bool = False
) -> list[str]:
    args = [
        bwrap, *extra, "--unshare-ipc", "--unshare-pid", *([] if network else ["--unshare-net"]), "--unshare-uts",
        "--unshare-cgroup-try", "--hostname", "arena", "--die-with-parent", "--new-session",
    ]  # fmt: skip
    read_only: list[str] = []
    if network and os.path.exists("/etc/resolv.conf"):
        read_only.append(os.path.realpath("/etc/resolv.conf"))  # name resolution, where it lives
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            read_only.append(path)
    read_only += [f"/etc/{name}" for name in _ETC if os.path.exists(f"/etc/{name}")]
    read_only += _python_paths()
    read_only += [os.path.abspath(p) for p in readable]
    gpu = sorted({p for pattern in _GPU_DEVICES for p in glob.glob(pattern)})
    if gpu:
        read_only.append("/sys")  # CUDA reads the PCI topology
    elif os.path.isdir("/sys/devices/system/cpu"):
        read_only.append("/sys/devices/system/cpu")  # core counts for numpy and torch
    read_only = _outermost(read_only)
    writable = os.path.abspath(scratch)
    for directory in _ancestors([*read_only, writable], covered=read_only):
        args += ["--perms", "0755", "--dir", directory]
    for path in read_only:
        args += ["--ro-bind", path, path]
    if network and os.path.islink("/etc/resolv.conf"):
        args += ["--ro-bind", os.path.realpath("/etc/resolv.conf"), "/etc/resolv.conf"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for device in gpu:
        args += ["--dev-bind", device, device]
    args += ["--bind", writable, writable, "--bind", os.path.join(writable, ".shm"), "/dev/shm", "--chdir", writable]
    return args


@functools.cache
def _python_paths() -> tuple[str, ...]:
    """The interpreter, its standard library and site-packages, and the project's own packages."""
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    paths.update(p for p in site.getsitepackages() if os.path.isdir(p))
    paths.update(_project_package_dirs())
    paths |= {os.path.realpath(p) for p in paths}
    return tuple(sorted(os.path.abspath(p) for p in paths if os.path.isdir(p)))


@functools.cache
def worker_pythonpath() -> str:
    """PYTHONPATH for a worker: the folders holding the project's packages as the harness found
    them. The worker then imports the very code whose hash identifies the submission (a checkout
    on PYTHONPATH must win over an editable install of another checkout), and the sandbox's view
    binds exactly those packages."""
    roots = dict.fromkeys(os.path.dirname(os.path.abspath(d)) for d in _project_package_dirs())
    return os.pathsep.join(roots)


def _project_package_dirs() -> list[str]:
    """The folders of the project's packages, as this process imports them."""
    dirs: list[str] = []
    for name in PROJECT_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(spec.submodule_search_locations)
    return dirs


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _outermost(paths: Iterable[str]) -> list[str]:
    """Drop the paths that another path of the list already contains; parents first."""
    kept: list[str] = []
    for path in sorted({os.path.normpath(p) for p in paths}, key=lambda p: (p.count("/"), p)):
        if not any(_inside(path, k) for k in kept):
            kept.append(path)
    return sorted(kept)


def _ancestors(paths: Iterable[str], covered: Sequence[str]) -> list[str]:
    """Directories bubblewrap must create (world-traversable) to mount ``paths`` at their own place."""
    needed = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", "") and not any(_inside(parent, c) for c in covered):
            if parent not in _SYSTEM_DIRS:
                needed.add(parent)
            parent = os.path.dirname(parent)
    return sorted(needed, key=lambda p: (p.count("/"), p))
