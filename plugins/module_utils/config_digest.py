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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import (
    SENSITIVE_OPTIONS,
    ReadError,
    airflow_overrides,
    config_read_by_units,
    effective_settings,
    location_settings,
    read_airflow_cfg,
    read_env_file,
)

SCOPES = ("config", "packages", "dags")
MIN_KEY_LENGTH = 16
_KEY_ID_MESSAGE = b"dataops.airflow.airflow_config_hash/key-id"
_CHUNK = 1024 * 1024
_PEP503 = re.compile(r"[-_.]+")


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
    units_cfg = config_read_by_units(environ)
    if units_cfg and os.path.normpath(units_cfg) != os.path.normpath(path):
        warnings.append(
            f"the environment files make the units read {units_cfg}, but {path} was hashed; "
            "set path to the file the units read"
        )
    overrides, ignored = airflow_overrides(environ)
    if ignored:
        warnings.append(f"Airflow never reads these variables: {', '.join(sorted(ignored))}")
    cfg = read_airflow_cfg(path)
    if cfg.empty:
        warnings.append(f"{path} sets no option: Airflow runs on its defaults")
    settings = effective_settings(cfg, overrides, sensitive)
    settings.update(location_settings(environ))
    marked = [name for name in settings if tuple(name.split(".", 1)) in sensitive]
    return ScopeData(
        items={name: (s.kind, s.value) for name, s in settings.items()},
        from_env=sorted(name for name, s in settings.items() if s.source == "env"),
        sensitive=sorted(marked),
        warnings=warnings,
    )


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


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(block)
    except PermissionError:
        raise ReadError("permission denied", path) from None
    return digest.hexdigest()


def dags_scope(folder: str) -> ScopeData:
    """Every file under the DAG folder: ``relative/path -> sha256 of the content``.

    Symbolic links are followed (Airflow follows them); ``__pycache__`` and hidden directories
    (``.git``) are skipped, hidden files such as ``.airflowignore`` are not.
    """
    if not os.path.isdir(folder):
        raise ReadError("missing", folder)
    items: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()

    def fail(exc: OSError) -> None:
        if isinstance(exc, PermissionError):
            raise ReadError("permission denied", exc.filename or folder) from None
        raise ReadError("cannot be read", exc.filename or folder, exc.strerror or "") from None

    for root, dirs, files in os.walk(folder, onerror=fail, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symbolic link loop
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            if os.path.islink(full) and not os.path.exists(full):
                items[rel] = ("dangling-link", os.readlink(full))
            else:
                items[rel] = ("sha256", _file_sha256(full))
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


def collect(
    scopes: Sequence[str],
    path: str,
    env_files: Sequence[str] | str | None = None,
    venv: str = "/opt/airflow",
    dags_folder: str = "/var/lib/airflow/dags",
    exclude: Iterable[str] = (),
    digest_key: str | None = None,
    sensitive_keys: Iterable[str] = (),
) -> dict[str, Any]:
    """Everything the module returns except ``changed``; raises ReadError or ValueError."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty list of {', '.join(SCOPES)}")
    digester = Digester(digest_key)
    sensitive = SENSITIVE_OPTIONS | parse_sensitive_keys(sensitive_keys)
    excludes = split_excludes(exclude)
    readers = {
        "config": lambda: config_scope(path, env_files, sensitive),
        "packages": lambda: packages_scope(venv),
        "dags": lambda: dags_scope(dags_folder),
    }
    result: dict[str, Any] = {
        "digest_algorithm": digester.algorithm,
        "digest_key_id": digester.key_id,
        "scopes": {},
        "hashes": {},
        "warnings": [],
    }
    for scope in dict.fromkeys(scopes):
        data = readers[scope]()
        hashed = hash_scope(data, digester, excludes[scope])
        result["scopes"][scope] = hashed
        result["hashes"][scope] = hashed["hash"]
        result["warnings"].extend(data.warnings)
    return result
