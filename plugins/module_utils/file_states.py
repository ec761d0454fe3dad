"""Read the state of many files at once, and tell whether one is already as wanted.

Every Ansible task costs a round trip to the node (about a second in the Docker
harness). A role that manages many files reads all their states with one task
(the ``file_states`` module) and then skips the template and copy tasks whose
file already holds the wanted content, owner, group and mode (the
``file_in_state`` test), so a converged node costs one round trip instead of two
per file. A task that does run still does its own full check.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat
from typing import Any, Union

_CHUNK = 1 << 20

Mode = Union[str, int, None]


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def sha1_of_file(path: str) -> str:
    """SHA-1 of a file's bytes: the checksum Ansible's copy and template compare."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def read_state(path: str) -> dict[str, Any]:
    """The state of one path, without following a final symbolic link.

    ``exists`` is false for a missing path; ``error`` is set when the path could not
    be inspected (it then matches no wanted state).
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    except OSError as exc:
        return {"exists": False, "error": exc.strerror or str(exc)}
    state: dict[str, Any] = {
        "exists": True,
        "kind": _kind(info.st_mode),
        "mode": format(stat.S_IMODE(info.st_mode), "04o"),
        "owner": _owner_name(info.st_uid),
        "group": _group_name(info.st_gid),
    }
    if state["kind"] == "file":
        try:
            state["checksum"] = sha1_of_file(path)
        except OSError as exc:
            state["error"] = exc.strerror or str(exc)
    elif state["kind"] == "link":
        state["src"] = os.readlink(path)
    return state


def read_states(paths: list[str]) -> dict[str, dict[str, Any]]:
    """The state of every path, keyed by the path as given."""
    return {path: read_state(path) for path in paths}


def normalise_mode(mode: Mode) -> str | None:
    """'0640', '640', 0o640 (416) -> '0640'; None stays None.

    An int is taken as the number YAML made of an unquoted octal literal (0640 -> 416).
    """
    if mode is None:
        return None
    if isinstance(mode, bool):
        raise ValueError(f"not a file mode: {mode!r}")
    if isinstance(mode, int):
        value = mode
    else:
        text = str(mode).strip()
        if not text or any(c not in "01234567" for c in text):
            raise ValueError(f"not an octal file mode: {mode!r}")
        value = int(text, 8)
    if value > 0o7777:
        raise ValueError(f"not a file mode: {mode!r}")
    return format(value, "04o")


def state_matches(
    state: dict[str, Any] | None,
    kind: str = "file",
    owner: str | None = None,
    group: str | None = None,
    mode: Mode = None,
    checksum: str | None = None,
    content: str | None = None,
    src: str | None = None,
) -> bool:
    """Whether a path read by ``read_state`` already is what a task would make it.

    Only the given properties are compared; ``content`` is hashed as UTF-8 and
    compared with the file's checksum. A missing or unreadable path never matches,
    nor does a symbolic mode, which only the task itself can apply.
    """
    if not state or not state.get("exists") or state.get("error"):
        return False
    if state.get("kind") != kind:
        return False
    try:
        mode = normalise_mode(mode)
    except ValueError:
        return False  # a symbolic mode (u=rw,g=r): let the task itself decide
    if content is not None:
        checksum = hashlib.sha1(content.encode("utf-8")).hexdigest()
    wanted = {
        "owner": owner,
        "group": group,
        "mode": mode,
        "checksum": checksum,
        "src": src,
    }
    return all(state.get(key) == value for key, value in wanted.items() if value is not None)
