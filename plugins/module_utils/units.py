"""What systemd units are configured with, and whether their running processes match it.

Used by the ``airflow_units`` module (systemd_services role) and by ``airflow_config_hash``
(validate_config) on the managed nodes: standard library only, Python 3.9+.

Why: a unit file carries a fingerprint of the files its process reads at start-up
(``Environment=DATAOPS_AIRFLOW_INPUTS=...``). The environment the *running* process was started
with, fingerprint included, is recorded at every start by the unit's ``ExecStartPre=+`` line
(``env -0`` to ``STATE_DIR/<unit>.environ``, see ``read_start_record``), so whether a process is
stale can be read from the node at any time; it does not depend on a handler of an earlier run
having fired. ``/proc/PID/environ`` is not used by default: setproctitle, which Airflow and
Celery call, overwrites that memory. Values of the environment never leave this module, only
names and fingerprints do.

The fingerprint is public (the unit file is world-readable, and so is ``systemctl show``), but
some of the files it covers are secret (an environment file whose only unknown may be a
password). So it is an HMAC keyed with a random per-host key that only root can read
(``FINGERPRINT_KEY_FILE``, see ``load_fingerprint_key``): an unkeyed hash would let any local
user test guesses of the secrets offline.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import shlex
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import (
    ReadError,
    read_env_file,
)
from ansible_collections.dataops.airflow.plugins.module_utils.file_states import sha1_of_file

INPUTS_VARIABLE = "DATAOPS_AIRFLOW_INPUTS"
# Where each unit records the environment of its current start (systemd_services role).
STATE_DIR = "/run/dataops-airflow"
# A record written longer than this before the process started belongs to an earlier start.
RECORD_SLACK_SECONDS = 60.0
# The files the fingerprint covers, ":"-separated, so that a unit describes itself.
INPUT_FILES_VARIABLE = "DATAOPS_AIRFLOW_INPUT_FILES"
# The per-host key of the fingerprints (hex of FINGERPRINT_KEY_BYTES random bytes), root only.
FINGERPRINT_KEY_FILE = "/var/lib/dataops-airflow/fingerprint.key"
FINGERPRINT_KEY_BYTES = 32
SHOW_PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "UnitFileState",
    "MainPID",
    "NeedDaemonReload",
    "Environment",
    "EnvironmentFiles",
    "DropInPaths",
    "FragmentPath",
)
# Variables whose values the comparison of "configured" and "running" covers: Airflow reads
# only these from its environment (plus the locations below).
_COMPARED_PREFIX = "AIRFLOW__"
_COMPARED_NAMES = ("AIRFLOW_HOME", "AIRFLOW_CONFIG", INPUTS_VARIABLE)

Runner = Callable[[Sequence[str]], tuple[int, str, str]]

# The options of every module that reads the units' start records and fingerprints.
UNIT_STATE_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "state_dir": {"type": "path", "default": STATE_DIR},
    "fingerprint_key_file": {"type": "path", "default": FINGERPRINT_KEY_FILE, "no_log": False},
}


def systemctl_runner(module: Any) -> Runner:
    """``module.run_command`` for systemctl: plain, uncoloured, C-locale output to parse."""

    def run(argv: Sequence[str]) -> tuple[int, str, str]:
        return module.run_command(list(argv), environ_update={"LC_ALL": "C", "SYSTEMD_COLORS": "0"})

    return run


def _open_key_file(path: str) -> int | None:
    """A read-only descriptor of the key file, never through a symlink; None when missing."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReadError("is a symbolic link (refused for the fingerprint key)", path) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ReadError("permission denied", path) from None
        raise ReadError("cannot be opened", path, exc.strerror or "") from None


def _read_key(fd: int, path: str) -> bytes:
    """The key in an open key file, once it is known to be a regular file only we can read."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ReadError("is not a regular file (refused for the fingerprint key)", path)
    if info.st_uid != os.geteuid():
        raise ReadError(
            "is not owned by the user running the module (refused for the fingerprint key)",
            path,
            f"owner uid {info.st_uid}, expected {os.geteuid()}",
        )
    if info.st_mode & 0o077:
        raise ReadError(
            "is accessible to group or others (refused for the fingerprint key)",
            path,
            f"mode {stat.S_IMODE(info.st_mode):04o}, expected 0600",
        )
    data = os.read(fd, 4 * FINGERPRINT_KEY_BYTES + 16)
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != FINGERPRINT_KEY_BYTES:
        raise ReadError(
            f"is not a fingerprint key ({2 * FINGERPRINT_KEY_BYTES} hexadecimal digits)", path
        )
    return key


def _create_key_file(path: str) -> None:
    """Write a new random key to ``path``, atomically; leave a key created meanwhile alone.

    The directory is created 0700 when missing. The key is written to a temporary file
    (mkstemp: O_CREAT|O_EXCL, mode 0600) in that directory, then linked to ``path``, which
    fails when ``path`` exists: a concurrent run's key is never replaced, and no reader ever
    sees a partly written key.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        parent = os.path.dirname(directory)
        if parent and not os.path.isdir(parent):
            os.makedirs(parent, exist_ok=True)
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ReadError("cannot be created", directory, exc.strerror or "") from None
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise ReadError("is not a directory (refused for the fingerprint key)", directory)
    if info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ReadError(
            "is writable by others or not owned by the user running the module "
            "(refused for the fingerprint key)",
            directory,
        )
    try:
        fd, temporary = tempfile.mkstemp(prefix=".fingerprint-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ReadError("cannot be written", directory, exc.strerror or "") from None
    try:
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (secrets.token_hex(FINGERPRINT_KEY_BYTES) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # created meanwhile by another run: that key wins
        except OSError as exc:
            raise ReadError("cannot be written", path, exc.strerror or "") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def load_fingerprint_key(path: str = FINGERPRINT_KEY_FILE, create: bool = False) -> bytes | None:
    """The per-host key of the inputs fingerprints; None when there is none and not ``create``.

    With ``create``, a missing key file is created (see ``_create_key_file``), its directory
    too (0700). The key file is never opened through a symbolic link, and is refused (ReadError,
    with the reason) unless it is a regular file owned by the current user that no one else
    can read or write (mode 0600 or stricter).
    """
    fd = _open_key_file(path)
    if fd is None:
        if not create:
            return None
        _create_key_file(path)
        fd = _open_key_file(path)
        if fd is None:
            raise ReadError("missing", path, "removed right after it was created")
    try:
        return _read_key(fd, path)
    finally:
        os.close(fd)


def inputs_fingerprint(paths: Iterable[str], key: bytes | None = None) -> str:
    """HMAC-SHA256 with ``key`` over the SHA-1 of each file, in order ("missing" when absent).

    A file that exists but cannot be read counts as "unreadable", so the fingerprint changes
    (and the unit restarts) once it can be read again. Without ``key``, plain SHA-256 of the
    same text (what earlier versions wrote; only for tests and reading old units).
    """
    parts = []
    for path in paths:
        try:
            parts.append(sha1_of_file(path))
        except FileNotFoundError:
            parts.append("missing")
        except OSError:
            parts.append("unreadable")
    text = " ".join(parts).encode("utf-8")
    if key is None:
        return hashlib.sha256(text).hexdigest()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def parse_show(text: str) -> list[dict[str, list[str]]]:
    """``systemctl show`` output for several units: one dict per unit, each key's values."""
    blocks: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, eq, value = line.partition("=")
        if eq:
            current.setdefault(key, []).append(value)
    if current:
        blocks.append(current)
    return blocks


def parse_environment(values: Sequence[str]) -> dict[str, str]:
    """The ``Environment=`` property as systemctl prints it (shell-quoted words)."""
    environ: dict[str, str] = {}
    for value in values:
        try:
            words = shlex.split(value)
        except ValueError:
            words = value.split()
        for word in words:
            name, eq, rest = word.partition("=")
            if eq and name:
                environ[name] = rest
    return environ


def parse_environment_files(values: Sequence[str]) -> list[tuple[str, bool]]:
    """``EnvironmentFiles=/etc/x.env (ignore_errors=no)`` lines -> [(path, optional)]."""
    files = []
    for value in values:
        path, _sep, flags = value.rpartition(" (ignore_errors=")
        if not _sep:
            path, flags = value, "no)"
        if path:
            files.append((path, flags.startswith("yes")))
    return files


def configured_environment(
    environment: Mapping[str, str], files: Sequence[tuple[str, bool]]
) -> tuple[dict[str, str], list[str]]:
    """What the unit's next start gets: ``Environment=``, then each EnvironmentFile= over it.

    systemd reads the files in order and lets them override ``Environment=``. Returns the
    environment and the files that could not be read (a required one stops the unit starting).
    """
    environ = dict(environment)
    problems = []
    for path, optional in files:
        try:
            values, _dropped = read_env_file(path)
        except ReadError as exc:
            if not (optional and exc.reason == "missing"):
                problems.append(f"{path}: {exc.reason}")
            continue
        environ.update(values)
    return environ, problems


def _parse_environ_block(data: bytes) -> dict[str, str]:
    environ = {}
    for entry in data.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq and name:
            environ[name.decode("utf-8", "surrogateescape")] = value.decode(
                "utf-8", "surrogateescape"
            )
    return environ


def read_process_environ(pid: int) -> dict[str, str] | None:
    """The environment block of a process (``/proc/PID/environ``); None when unreadable.

    Not what the units' staleness check uses by default: setproctitle, which Airflow and
    Celery call, overwrites this memory, so it often no longer holds the environment.
    """
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return _parse_environ_block(handle.read())
    except OSError:
        return None


def start_record_path(unit: str, state_dir: str = STATE_DIR) -> str:
    """Where a unit's ``ExecStartPre=+`` line records the environment of its current start."""
    return os.path.join(state_dir, f"{unit}.environ")


def read_start_record(unit: str, state_dir: str = STATE_DIR) -> tuple[dict[str, str], float] | None:
    """The environment the unit's latest start ran with (``env -0``) and when it was recorded.

    Returns ``(environment, mtime of the record)``, or None when there is no record or it
    cannot be read. Whether it belongs to the running process is the caller's to decide.
    """
    path = start_record_path(unit, state_dir)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
            recorded = os.fstat(handle.fileno()).st_mtime
    except OSError:
        return None
    return _parse_environ_block(data), recorded


def process_start_time(pid: int) -> float | None:
    """When a process started, in seconds since the epoch (10 ms resolution); None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/stat", encoding="ascii", errors="replace") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    # fields[0] is the state (field 3 of stat); starttime is field 22.
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def changed_since(paths: Iterable[str], since: float) -> list[str]:
    """The paths modified after ``since`` (a unit file or drop-in edited after a start)."""
    newer = []
    for path in paths:
        try:
            # One second of slack: btime is whole seconds, so a start time can be early.
            if os.stat(path).st_mtime > since + 1.0:
                newer.append(path)
        except OSError:
            continue
    return newer


def compared_names(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of an environment that decides what Airflow runs with."""
    return {
        name: value
        for name, value in environ.items()
        if name.startswith(_COMPARED_PREFIX) or name in _COMPARED_NAMES
    }


def differing_names(left: Mapping[str, str], right: Mapping[str, str]) -> list[str]:
    """Names set differently (or only on one side); never the values."""
    return sorted(name for name in set(left) | set(right) if left.get(name) != right.get(name))


def _first(block: Mapping[str, list[str]], key: str, default: str = "") -> str:
    values = block.get(key) or [default]
    return values[0]


def unit_state(
    block: Mapping[str, list[str]],
    fingerprint: str | None,
    read_environ: Callable[[int], dict[str, str] | None] | None = None,
    start_time: Callable[[int], float | None] = process_start_time,
    state_dir: str = STATE_DIR,
    key: bytes | None = None,
    compare_inputs: bool = True,
) -> dict[str, Any]:
    """One unit's state, and why its running process is stale (names only).

    ``read_environ(pid)`` gives the environment the process runs with; by default it is the
    record the unit's start wrote in ``state_dir`` (see ``read_start_record``), which must
    belong to the current process. Without ``fingerprint``, the unit's own
    DATAOPS_AIRFLOW_INPUT_FILES give it, keyed with ``key`` (see ``inputs_fingerprint``).
    ``compare_inputs=False`` leaves the fingerprint out of the staleness (when there is no key
    to compute it with).
    """
    pid = int(_first(block, "MainPID", "0") or 0)
    environment = parse_environment(block.get("Environment") or [])
    files = parse_environment_files(block.get("EnvironmentFiles") or [])
    configured, problems = configured_environment(environment, files)
    state: dict[str, Any] = {
        "load_state": _first(block, "LoadState"),
        "active_state": _first(block, "ActiveState"),
        "sub_state": _first(block, "SubState"),
        "unit_file_state": _first(block, "UnitFileState"),
        "main_pid": pid,
        "need_daemon_reload": _first(block, "NeedDaemonReload") == "yes",
        "configured_inputs": environment.get(INPUTS_VARIABLE),
        "running_inputs": None,
        "environment_files": [path for path, _optional in files],
        "environment_problems": problems,
        "drop_ins": [p for v in block.get("DropInPaths") or [] for p in v.split()],
        "stale": False,
        "stale_reasons": [],
    }
    if state["active_state"] not in ("active", "reloading") or pid <= 0:
        return state
    running = _running_environ(_first(block, "Id"), pid, read_environ, start_time, state_dir)
    if running is None:
        # Not provably current: a restart makes it so.
        state["stale_reasons"].append(
            "the environment it was started with is not recorded (started by an older unit file?)"
        )
        state["stale"] = True
        return state
    state["running_inputs"] = running.get(INPUTS_VARIABLE)
    reasons = state["stale_reasons"]
    if not compare_inputs:
        fingerprint = None
    elif fingerprint is None and environment.get(INPUT_FILES_VARIABLE):
        fingerprint = inputs_fingerprint(environment[INPUT_FILES_VARIABLE].split(":"), key)
    if fingerprint is not None and state["running_inputs"] != fingerprint:
        reasons.append(
            "started before its configuration or packages changed (inputs fingerprint differs)"
        )
    differs = differing_names(compared_names(running), compared_names(configured))
    differs = [name for name in differs if name != INPUTS_VARIABLE]
    if differs:
        reasons.append("runs with another environment than its unit sets: " + ", ".join(differs))
    started = start_time(pid)
    fragment = _first(block, "FragmentPath")
    newer = changed_since([p for p in [fragment, *state["drop_ins"]] if p], started or 0.0)
    if started is not None and newer:
        reasons.append("its unit changed after it started: " + ", ".join(newer))
    state["stale"] = bool(reasons)
    return state


def _running_environ(
    unit: str,
    pid: int,
    read_environ: Callable[[int], dict[str, str] | None] | None,
    start_time: Callable[[int], float | None],
    state_dir: str = STATE_DIR,
) -> dict[str, str] | None:
    """The environment process ``pid`` of ``unit`` was started with; None when not known.

    ``read_environ(pid)`` when given; else the unit's start record in ``state_dir``, unless it
    was written more than RECORD_SLACK_SECONDS before the process started (then it belongs to
    an earlier start, and the current one wrote none).
    """
    if read_environ is not None:
        return read_environ(pid)
    if not unit or "/" in unit:
        return None
    record = read_start_record(unit, state_dir)
    if record is None:
        return None
    environ, recorded = record
    started = start_time(pid)
    if started is not None and recorded < started - RECORD_SLACK_SECONDS:
        return None
    return environ


def show_units(units: Sequence[str], run: Runner) -> list[dict[str, list[str]]]:
    """``systemctl show`` of every unit, in the order given."""
    if not units:
        return []
    argv = ["systemctl", "show", "--no-pager"]
    for prop in SHOW_PROPERTIES:
        argv += ["-p", prop]
    rc, out, err = run([*argv, "--", *units])
    if rc != 0:
        raise ReadError("systemctl show failed", "systemctl", " ".join(err.split())[:300])
    blocks = parse_show(out)
    by_id = {_first(block, "Id"): block for block in blocks}
    # systemctl prints the blocks in the order asked; Id may name an alias.
    if len(blocks) == len(units):
        return blocks
    return [by_id.get(unit, {"Id": [unit], "LoadState": ["not-found"]}) for unit in units]


def parse_unit_files(text: str) -> list[str]:
    """``systemctl list-unit-files --no-legend`` output -> unit names, in order.

    Templates (``name@.service``, which cannot run themselves) and aliases (the unit they name
    is listed under its own name) are left out.
    """
    names = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].endswith("@.service"):
            continue
        if len(fields) > 1 and fields[1] == "alias":
            continue
        if fields[0] not in names:
            names.append(fields[0])
    return names


def list_unit_files(pattern: str, run: Runner) -> list[str]:
    """The service unit files whose names match a shell-style ``pattern`` (may be none)."""
    argv = ["systemctl", "list-unit-files", "--no-legend", "--no-pager", "--type=service"]
    rc, out, err = run([*argv, "--", pattern])
    if rc != 0:
        # systemctl exits with 1 and prints nothing when no unit file matches.
        if rc == 1 and not out.strip() and not err.strip():
            return []
        raise ReadError(
            "systemctl list-unit-files failed", "systemctl", " ".join(err.split())[:300]
        )
    return parse_unit_files(out)


def read_units(
    units: Sequence[str],
    run: Runner,
    inputs: Sequence[str] | None = None,
    read_environ: Callable[[int], dict[str, str] | None] | None = None,
    start_time: Callable[[int], float | None] = process_start_time,
    state_dir: str = STATE_DIR,
    key: bytes | None = None,
    compare_inputs: bool = True,
) -> dict[str, Any]:
    """The module result: the inputs fingerprint and each unit's state.

    ``state_dir`` holds the units' start records (see ``read_start_record``). Fingerprints,
    of ``inputs`` and of each unit's own DATAOPS_AIRFLOW_INPUT_FILES, are keyed with ``key``
    (see ``load_fingerprint_key``); ``compare_inputs=False`` leaves them out of the staleness.
    """
    fingerprint = inputs_fingerprint(inputs, key) if inputs is not None else None
    states = {
        unit: unit_state(
            block,
            fingerprint,
            read_environ,
            start_time,
            state_dir,
            key=key,
            compare_inputs=compare_inputs,
        )
        for unit, block in zip(units, show_units(units, run))
    }
    return {
        "inputs_fingerprint": fingerprint,
        "units": states,
        "stale": sorted(unit for unit, state in states.items() if state["stale"]),
    }


def unit_environments(
    units: Sequence[str], run: Runner
) -> dict[str, tuple[dict[str, str], list[str]]]:
    """Each loaded unit's configured environment (``Environment=`` and its files), for hashing."""
    result = {}
    for unit, block in zip(units, show_units(units, run)):
        if _first(block, "LoadState") != "loaded":
            continue
        environment = parse_environment(block.get("Environment") or [])
        files = parse_environment_files(block.get("EnvironmentFiles") or [])
        result[unit] = configured_environment(environment, files)
    return result
