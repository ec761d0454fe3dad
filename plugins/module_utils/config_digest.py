"""Canonical, keyed digests of what an Airflow node runs: config, packages and DAG files.

Used by the ``airflow_config_hash`` module on the managed nodes: standard library only,
Python 3.9+. Values never leave this module; only their digests do.

Each scope is a mapping ``name -> (kind, value)``. A name's digest is
``HMAC-SHA256(digest_key, kind NUL value)`` (plain SHA-256 without a key), and the scope's hash
is the same function over the sorted ``[name, digest]`` pairs, so it does not depend on the
order, comments or layout of the files read.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import (
    SENSITIVE_OPTIONS,
    AirflowCfg,
    ReadError,
    airflow_overrides,
    config_read_by_units,
    effective_settings,
    location_settings,
    read_airflow_cfg,
    read_env_file,
)
from ansible_collections.dataops.airflow.plugins.module_utils.units import (
    STATE_DIR,
    Runner,
    list_unit_files,
    load_fingerprint_key,
    read_units,
    unit_environments,
)

SCOPES = ("config", "packages", "dags")
MIN_KEY_LENGTH = 16
_KEY_ID_MESSAGE = b"dataops.airflow.airflow_config_hash/key-id"
_CHUNK = 1024 * 1024
# Bigger DAG folder files are reported by size, not read: DAG files are small, and a huge one
# (a data dump left in the folder) would make every run slow.
MAX_DAG_FILE_SIZE = 16 * 1024 * 1024
_PEP503 = re.compile(r"[-_.]+")
NO_FINGERPRINT_KEY_WARNING = (
    "no fingerprint key on this host ({path}): staleness judged from the environment only "
    "(the inputs fingerprints of the units were not compared; the systemd_services role "
    "creates the key)"
)


class Digester:
    """HMAC-SHA256 with the run's key, or plain SHA-256 when there is no key."""

    def __init__(self, key: str | None = None) -> None:
        if key is not None and len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"digest_key must be at least {MIN_KEY_LENGTH} characters long")
        self._key = key.encode("utf-8") if key else None

    @property
    def algorithm(self) -> str:
        return "hmac-sha256" if self._key else "sha256"

    @property
    def key_id(self) -> str | None:
        """A fingerprint of the key (never the key), so hosts hashed with different keys show."""
        if self._key is None:
            return None
        return hmac.new(self._key, _KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:16]

    def hexdigest(self, text: str) -> str:
        data = text.encode("utf-8", "surrogateescape")
        if self._key is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def item(self, kind: str, value: str) -> str:
        return self.hexdigest(f"{kind}\x00{value}")

    def scope_hash(self, digests: Mapping[str, str]) -> str:
        canonical = json.dumps(sorted(digests.items()), ensure_ascii=False, separators=(",", ":"))
        return f"{self.algorithm}:{self.hexdigest(canonical)}"


class ScopeData(NamedTuple):
    """What one scope read on a host: items, and names only (never values) for reporting."""

    items: dict[str, tuple[str, str]]
    from_env: list[str]
    sensitive: list[str]
    warnings: list[str]


def normalise_name(name: str) -> str:
    """PEP 503 project name normalisation."""
    return _PEP503.sub("-", name).lower()


def parse_sensitive_keys(names: Iterable[str]) -> frozenset[tuple[str, str]]:
    """Turn ``section.key`` strings into (section, key) pairs; raise ValueError on bad names."""
    pairs = set()
    for name in names:
        section, dot, key = name.partition(".")
        if not dot or not section or not key:
            raise ValueError(f"sensitive_keys: {name!r} is not of the form section.key")
        pairs.add((section.lower(), key.lower()))
    return frozenset(pairs)


def split_excludes(patterns: Iterable[str]) -> dict[str, list[str]]:
    """``["core.hostname", "dags:*.md"]`` -> per-scope fnmatch patterns; no prefix means config."""
    result: dict[str, list[str]] = {scope: [] for scope in SCOPES}
    for pattern in patterns:
        scope, colon, rest = pattern.partition(":")
        if colon and scope in SCOPES:
            result[scope].append(rest)
        else:
            result["config"].append(pattern)
    return result


def config_scope(
    path: str,
    env_files: Sequence[str] | str | None,
    sensitive: frozenset[tuple[str, str]] = SENSITIVE_OPTIONS,
) -> ScopeData:
    """The settings Airflow would use on this node: airflow.cfg plus the units' overrides.

    The environment files are read in order, as systemd reads several EnvironmentFile= lines:
    a later assignment of a name wins.
    """
    if isinstance(env_files, str):
        env_files = [env_files]
    warnings: list[str] = []
    environ: dict[str, str] = {}
    for env_file in [name for name in env_files or () if name]:
        file_environ, dropped = read_env_file(env_file)
        environ.update(file_environ)
        if dropped:
            names = ", ".join(name if name.isprintable() else repr(name) for name in dropped)
            warnings.append(f"{env_file}: systemd ignores these invalid variable names: {names}")
    cfg = read_airflow_cfg(path)
    data = unit_config_scope(path, cfg, environ, sensitive)
    if cfg.empty:
        warnings.append(f"{path} sets no option: Airflow runs on its defaults")
    # unit_config_scope words its warnings for one unit; here they are about the files.
    warnings += [
        w.replace("its environment makes it read", "the environment files make the units read")
        for w in data.warnings
    ]
    return data._replace(warnings=warnings)


def _metadata_fields(path: str) -> dict[str, str]:
    """Name and Version from the header block of a METADATA / PKG-INFO file."""
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break
                name, colon, value = line.partition(":")
                if colon and name in ("Name", "Version") and name not in fields:
                    fields[name] = value.strip()
                if len(fields) == 2:
                    break
    except FileNotFoundError:
        return {}
    except PermissionError:
        raise ReadError("permission denied", path) from None
    return fields


def _distribution(site: str, entry: str) -> tuple[str, str] | None:
    """(normalised name, version) of a *.dist-info or *.egg-info entry of site-packages."""
    full = os.path.join(site, entry)
    if entry.endswith(".dist-info"):
        meta = os.path.join(full, "METADATA")
    elif entry.endswith(".egg-info"):
        meta = os.path.join(full, "PKG-INFO") if os.path.isdir(full) else full
    else:
        return None
    fields = _metadata_fields(meta)
    if "Name" not in fields or "Version" not in fields:
        stem = entry.rsplit(".", 1)[0]
        name, _sep, version = stem.partition("-")
        fields.setdefault("Name", name)
        fields.setdefault("Version", version.split("-")[0] or "unknown")
    return normalise_name(fields["Name"]), fields["Version"]


def _pyvenv_version(venv: str) -> str | None:
    try:
        with open(os.path.join(venv, "pyvenv.cfg"), encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    values = {}
    for line in lines:
        key, eq, value = line.partition("=")
        if eq:
            values[key.strip()] = value.strip()
    return values.get("version_info") or values.get("version")


def packages_scope(venv: str) -> ScopeData:
    """Installed distributions of a virtualenv: ``name -> version`` (PEP 503 names)."""
    if not os.path.isdir(venv):
        raise ReadError("missing", venv)
    sites = sorted(glob.glob(os.path.join(glob.escape(venv), "lib", "python3*", "site-packages")))
    if not sites:
        raise ReadError("not a virtualenv", venv, "no lib/python3.*/site-packages")
    versions: dict[str, set[str]] = {}
    for site in sites:
        try:
            entries = os.listdir(site)
        except PermissionError:
            raise ReadError("permission denied", site) from None
        for entry in entries:
            found = _distribution(site, entry)
            if found:
                versions.setdefault(found[0], set()).add(found[1])
    items = {name: ("version", ",".join(sorted(v))) for name, v in versions.items()}
    layout = ",".join(os.path.basename(os.path.dirname(site)) for site in sites)
    items["python:site-packages"] = ("layout", layout)
    version = _pyvenv_version(venv)
    if version:
        items["python:version"] = ("version", version)
    return ScopeData(items=items, from_env=[], sensitive=[], warnings=[])


def _inside(path: str, real_folder: str) -> bool:
    """Whether a resolved path lies in the (resolved) DAG folder or is that folder."""
    return os.path.commonpath([real_folder, path]) == real_folder


def _special_kind(mode: int) -> str:
    """The item kind for a non-regular file, which is reported but never opened or read."""
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISDIR(mode):
        return "directory"
    return "special"


def _read_error(exc: OSError, path: str) -> ReadError:
    if isinstance(exc, PermissionError):
        return ReadError("permission denied", exc.filename or path)
    return ReadError("cannot be read", exc.filename or path, exc.strerror or "")


def _regular_file_item(path: str, max_size: int) -> tuple[str, str]:
    """``("sha256", hex)`` of a regular file; other kinds for anything else, unread.

    ``path`` must already be resolved (os.path.realpath): O_NOFOLLOW then refuses a final
    component swapped for a link since, O_NONBLOCK keeps open() from waiting for a FIFO's writer
    and O_NOCTTY from adopting a terminal. The type and size are checked on the open descriptor,
    so nothing can be swapped in between the check and the read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _read_error(exc, path) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return _special_kind(info.st_mode), ""
        if info.st_size > max_size:
            # The size stands for the content, so hosts with different big files still differ.
            return "too-large", str(info.st_size)
        digest = hashlib.sha256()
        read = 0
        # Never more than the cap, even from a file that grows while it is read (or a /proc-like
        # file whose size says 0).
        while read <= max_size:
            block = os.read(fd, min(_CHUNK, max_size + 1 - read))
            if not block:
                return "sha256", digest.hexdigest()
            read += len(block)
            digest.update(block)
        return "too-large", str(max(read, os.fstat(fd).st_size))
    except OSError as exc:
        raise _read_error(exc, path) from None
    finally:
        os.close(fd)


def _dag_file_item(full: str, real_folder: str, max_size: int) -> tuple[str, str]:
    """The item for one non-directory entry of the DAG folder (``full`` as walked)."""
    try:
        link = os.readlink(full) if os.path.islink(full) else None
        target = os.path.realpath(full)
        if not _inside(target, real_folder):
            # Checked before existence, so the result tells nothing about paths out there.
            # (Without a link of its own, a directory on the way was replaced by one.)
            return "link-outside-folder", link or ""
        if link is not None and not os.path.exists(target):  # or a loop of links
            return "dangling-link", link
        mode = os.lstat(target).st_mode
    except OSError as exc:
        raise _read_error(exc, full) from None
    if not stat.S_ISREG(mode):
        # Not even opened: opening a device can have side effects, a FIFO has no end.
        return _special_kind(mode), ""
    return _regular_file_item(target, max_size)


def _dag_dirs(
    root: str, dirs: list[str], real_folder: str, items: dict[str, tuple[str, str]], folder: str
) -> list[str]:
    """The subdirectories of ``root`` to walk; links to directories outside become items."""
    kept = []
    for name in sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__"):
        full = os.path.join(root, name)
        if os.path.islink(full) and not _inside(os.path.realpath(full), real_folder):
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            try:
                items[rel] = ("link-outside-folder", os.readlink(full))
            except OSError as exc:
                raise _read_error(exc, full) from None
        else:
            kept.append(name)
    return kept


def dags_scope(folder: str, max_size: int = MAX_DAG_FILE_SIZE) -> ScopeData:
    """Every entry under the DAG folder: ``relative/path -> (kind, value)``.

    Regular files are ``("sha256", hex of the content)``, or ``("too-large", size)`` above
    ``max_size`` bytes (not read). Symbolic links that resolve inside the folder are followed, as
    Airflow follows them; links that resolve outside it are ``("link-outside-folder", link
    text)`` and neither read nor walked, so the module cannot be pointed at other files (it
    often runs as root). FIFOs, sockets, devices and dangling links are reported as such
    (``fifo``, ``socket``, ``device``, ``dangling-link`` with the link text) without being
    opened, so drift in them still shows and nothing blocks. ``__pycache__``, ``*.pyc`` and
    hidden directories (``.git``) are skipped, hidden files such as ``.airflowignore`` are not.
    """
    if not os.path.isdir(folder):
        raise ReadError("missing", folder)
    real_folder = os.path.realpath(folder)
    items: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()

    def fail(exc: OSError) -> None:
        raise _read_error(exc, folder) from None

    # followlinks=True walks the directory links _dag_dirs keeps, which all resolve inside.
    for root, dirs, files in os.walk(folder, onerror=fail, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symbolic link loop
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = _dag_dirs(root, dirs, real_folder, items, folder)
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            items[rel] = _dag_file_item(full, real_folder, max_size)
    return ScopeData(items=items, from_env=[], sensitive=[], warnings=[])


def hash_scope(data: ScopeData, digester: Digester, exclude: Sequence[str]) -> dict[str, Any]:
    """The scope's hash, one digest per name, and the names left out by ``exclude``."""
    digests: dict[str, str] = {}
    excluded: list[str] = []
    for name, (kind, value) in data.items.items():
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude):
            excluded.append(name)
        else:
            digests[name] = digester.item(kind, value)
    result: dict[str, Any] = {
        "hash": digester.scope_hash(digests),
        "count": len(digests),
        "digests": dict(sorted(digests.items())),
        "excluded": sorted(excluded),
    }
    if data.from_env:
        result["from_env"] = [n for n in data.from_env if n in digests]
    if data.sensitive:
        result["sensitive"] = [n for n in data.sensitive if n in digests]
    return result


# A unit's config scope is "config:" + the unit name, e.g. "config:airflow-scheduler.service".
UNIT_SCOPE_PREFIX = "config:"


def unit_scope_name(unit: str) -> str:
    """The result scope of one unit's configuration, ``config:airflow-scheduler.service``."""
    return UNIT_SCOPE_PREFIX + unit


def _memoised(run: Runner) -> Runner:
    """``run``, running each command line once: the unit readers then share one systemctl show."""
    seen: dict[tuple[str, ...], tuple[int, str, str]] = {}

    def cached(argv: Sequence[str]) -> tuple[int, str, str]:
        key = tuple(argv)
        if key not in seen:
            seen[key] = run(list(argv))
        return seen[key]

    return cached


def unit_config_scope(
    path: str,
    cfg: AirflowCfg,
    environ: Mapping[str, str],
    sensitive: frozenset[tuple[str, str]] = SENSITIVE_OPTIONS,
) -> ScopeData:
    """One unit's settings: ``cfg`` (read from ``path``) plus the unit's configured environment.

    ``environ`` is what the unit's next start gets (``Environment=``, drop-ins merged, then each
    ``EnvironmentFile=``). Warnings name the problem; the caller says which unit it is about.
    """
    warnings: list[str] = []
    units_cfg = config_read_by_units(environ)
    if units_cfg and os.path.normpath(units_cfg) != os.path.normpath(path):
        warnings.append(
            f"its environment makes it read {units_cfg}, but {path} was hashed; "
            "set path to the file the units read"
        )
    overrides, ignored = airflow_overrides(environ)
    if ignored:
        warnings.append(f"Airflow never reads these variables: {', '.join(sorted(ignored))}")
    settings = effective_settings(cfg, overrides, sensitive)
    settings.update(location_settings(environ))
    marked = [name for name in settings if tuple(name.split(".", 1)) in sensitive]
    return ScopeData(
        items={name: (s.kind, s.value) for name, s in settings.items()},
        from_env=sorted(name for name, s in settings.items() if s.source == "env"),
        sensitive=sorted(marked),
        warnings=warnings,
    )


def find_units(units: Sequence[str] | None, unit_pattern: str | None, run: Runner) -> list[str]:
    """The units asked for by name, then those whose unit files match the pattern; no repeats."""
    names = list(units or ())
    if unit_pattern:
        names += list_unit_files(unit_pattern, run)
    return list(dict.fromkeys(name for name in names if name))


def read_unit_scopes(
    names: Sequence[str],
    run: Runner,
    path: str,
    sensitive: frozenset[tuple[str, str]],
    with_config: bool,
    read_environ: Callable[[int], dict[str, str] | None] | None = None,
    start_time: Callable[[int], float | None] | None = None,
    state_dir: str = STATE_DIR,
    fingerprint_key_file: str | None = None,
) -> tuple[dict[str, ScopeData], dict[str, dict[str, Any]], list[str]]:
    """Per loaded unit: its config scope (when ``with_config``) and its state, plus warnings.

    Returns ``({scope name: ScopeData}, {unit: state}, warnings)``. A unit whose environment
    files cannot be read gets no scope and an ``error`` (paths and reasons only); a bad
    airflow.cfg raises ReadError, as it concerns every unit. ``read_environ`` and
    ``start_time`` replace read_units' own readers of a process (for tests); ``state_dir``
    holds the units' start records.

    ``fingerprint_key_file`` holds the key the units' fingerprints are keyed with (read, never
    created). When it is missing, the fingerprints are not compared, with a warning: without
    the key every unit would look stale. Without ``fingerprint_key_file`` (None), they are
    plain SHA-256, as written by earlier versions.
    """
    if not names:
        return {}, {}, []
    readers: dict[str, Any] = {"state_dir": state_dir}
    no_key = False
    if fingerprint_key_file is not None:
        readers["key"] = load_fingerprint_key(fingerprint_key_file, create=False)
        no_key = readers["key"] is None
        if no_key:
            readers["compare_inputs"] = False
    if read_environ is not None:
        readers["read_environ"] = read_environ
    if start_time is not None:
        readers["start_time"] = start_time
    # No inputs: each unit's own DATAOPS_AIRFLOW_INPUT_FILES decide its fingerprint.
    states = read_units(names, run, None, **readers)["units"]
    environments = unit_environments(names, run)
    loaded = [name for name in names if name in environments]
    warnings: list[str] = []
    if no_key and any(states[name]["configured_inputs"] is not None for name in loaded):
        warnings.append(NO_FINGERPRINT_KEY_WARNING.format(path=fingerprint_key_file))
    cfg = read_airflow_cfg(path) if with_config and loaded else None
    scopes: dict[str, ScopeData] = {}
    units: dict[str, dict[str, Any]] = {}
    said: dict[str, list[str]] = {}  # warning -> units, so that shared files warn once
    for unit in loaded:
        state = states[unit]
        environ, problems = environments[unit]
        entry: dict[str, Any] = {
            "active_state": state["active_state"],
            "stale": state["stale"],
            "stale_reasons": list(state["stale_reasons"]),
            "environment_files": list(state["environment_files"]),
            "drop_ins": list(state["drop_ins"]),
            "scope": None,
            "error": None,
        }
        if cfg is not None:
            if problems:
                entry["error"] = "; ".join(problems)
            else:
                data = unit_config_scope(path, cfg, environ, sensitive)
                scopes[unit_scope_name(unit)] = data
                entry["scope"] = unit_scope_name(unit)
                for warning in data.warnings:
                    said.setdefault(warning, []).append(unit)
        units[unit] = entry
    warnings += [f"{', '.join(where)}: {warning}" for warning, where in said.items()]
    if cfg is not None and cfg.empty:
        warnings.append(f"{path} sets no option: Airflow runs on its defaults")
    return scopes, units, warnings


def collect(
    scopes: Sequence[str],
    path: str,
    env_files: Sequence[str] | str | None = None,
    venv: str = "/opt/airflow",
    dags_folder: str = "/var/lib/airflow/dags",
    exclude: Iterable[str] = (),
    digest_key: str | None = None,
    sensitive_keys: Iterable[str] = (),
    units: Sequence[str] | None = None,
    unit_pattern: str | None = None,
    run: Runner | None = None,
    read_environ: Callable[[int], dict[str, str] | None] | None = None,
    start_time: Callable[[int], float | None] | None = None,
    state_dir: str = STATE_DIR,
    fingerprint_key_file: str | None = None,
) -> dict[str, Any]:
    """Everything the module returns except ``changed``; raises ReadError or ValueError.

    With ``units`` or ``unit_pattern`` (which need ``run``, a ``systemctl`` runner), every loaded
    unit found gets a config scope of its own, ``config:<unit>`` (airflow.cfg plus that unit's
    configured environment, to compare among the hosts that run the unit), beside the host-wide
    ``config`` scope (airflow.cfg plus ``env_files``, to compare across all hosts), and the
    result gets ``units`` (each unit's state, names only). When no loaded unit is found, the
    result has ``config`` only, as without them, and a warning. ``read_environ`` and
    ``start_time``, when given, read a process's environment and start time instead of
    read_units' own readers; ``state_dir`` holds the units' start records and
    ``fingerprint_key_file`` the key of their fingerprints (see ``read_unit_scopes``).
    """
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty list of {', '.join(SCOPES)}")
    digester = Digester(digest_key)
    sensitive = SENSITIVE_OPTIONS | parse_sensitive_keys(sensitive_keys)
    excludes = split_excludes(exclude)
    result: dict[str, Any] = {
        "digest_algorithm": digester.algorithm,
        "digest_key_id": digester.key_id,
        "scopes": {},
        "hashes": {},
        "warnings": [],
    }
    unit_scopes: dict[str, ScopeData] = {}
    if units or unit_pattern:
        if run is None:
            raise ValueError("units and unit_pattern need a runner for systemctl")
        run = _memoised(run)
        unit_scopes, states, warnings = read_unit_scopes(
            find_units(units, unit_pattern, run),
            run,
            path,
            sensitive,
            "config" in scopes,
            read_environ,
            start_time,
            state_dir,
            fingerprint_key_file,
        )
        result["units"] = states
        result["warnings"].extend(warnings)
        if not states and "config" in scopes:
            asked = "; ".join(
                part
                for part in (
                    units and f"units: {', '.join(units)}",
                    unit_pattern and f"pattern: {unit_pattern}",
                )
                if part
            )
            result["warnings"].append(
                f"no loaded systemd unit found ({asked}): only the host-wide configuration "
                "(airflow.cfg and env_files) was hashed"
            )
    readers = {
        "config": lambda: config_scope(path, env_files, sensitive),
        "packages": lambda: packages_scope(venv),
        "dags": lambda: dags_scope(dags_folder),
    }
    for scope in dict.fromkeys(scopes):
        if scope == "config" and result.get("units"):
            # The host-wide view (airflow.cfg and the files every node shares), compared across
            # all hosts, and each unit's own view, compared among the hosts that run it.
            host_wide = readers["config"]()
            result["warnings"].extend(host_wide.warnings)
            parts = {"config": host_wide, **unit_scopes}
        else:
            data = readers[scope]()
            parts = {scope: data}
            result["warnings"].extend(data.warnings)
        for name, data in parts.items():
            hashed = hash_scope(data, digester, excludes[scope])
            result["scopes"][name] = hashed
            result["hashes"][name] = hashed["hash"]
    return result
