"""Read airflow.cfg and the units' EnvironmentFile the way Airflow 3 and systemd do.

Used by the ``airflow_config_hash`` module, which runs on the managed nodes with their system
Python: standard library only, Python 3.9+.

What is mirrored, and from where:

* airflow.cfg: ``airflow.configuration.AirflowConfigParser`` is a ``configparser.ConfigParser``
  built with the default arguments (``strict=True``, ``BasicInterpolation``, comments with ``#``
  or ``;`` on their own line only) and an ``optionxform`` that keeps the case of keys. Airflow
  reads the file as UTF-8 text with universal newlines. So duplicate sections or keys, a byte
  order mark and stray lines make Airflow fail, and they make this parser fail too.
* Precedence (``AirflowConfigParser.get``): ``AIRFLOW__SECTION__KEY``, then for sensitive options
  ``AIRFLOW__SECTION__KEY_CMD`` and ``..._SECRET``, then the file's ``key``, then for sensitive
  options the file's ``key_cmd`` and ``key_secret``. Commands and secret paths are compared as
  written and never run.
* The EnvironmentFile: systemd's ``parse_env_file_internal`` (``src/basic/env-file.c``); the last
  assignment of a name wins and names that are not valid variable names are dropped.
"""

from __future__ import annotations

import configparser
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

ENV_PREFIX = "AIRFLOW__"
MAX_FILE_BYTES = 64 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

VALUE = "value"
COMMAND = "command"
SECRET = "secret"
FALLBACK_SUFFIXES = (("_cmd", COMMAND), ("_secret", SECRET))

# Process variables outside the AIRFLOW__ namespace that decide what Airflow reads.
LOCATION_VARIABLES = ("AIRFLOW_HOME", "AIRFLOW_CONFIG")

# Options Airflow 3 declares `sensitive: true` (core config.yml and the Celery provider), plus the
# deprecated spellings it still resolves (core.sql_alchemy_conn, webserver.secret_key). Only these
# honour the _cmd / _secret fallbacks; the module adds the names given in `sensitive_keys`.
SENSITIVE_OPTIONS = frozenset(
    {
        ("api", "secret_key"),
        ("api_auth", "jwt_secret"),
        ("celery", "broker_url"),
        ("celery", "flower_basic_auth"),
        ("celery", "result_backend"),
        ("celery_broker_transport_options", "sentinel_kwargs"),
        ("celery_result_backend_transport_options", "sentinel_kwargs"),
        ("core", "asset_manager_kwargs"),
        ("core", "fernet_key"),
        ("core", "sql_alchemy_conn"),
        ("database", "sql_alchemy_conn"),
        ("database", "sql_alchemy_conn_async"),
        ("database", "sql_alchemy_engine_args"),
        ("logging", "remote_task_handler_kwargs"),
        ("secrets", "backend_kwargs"),
        ("sentry", "sentry_dsn"),
        ("webserver", "secret_key"),
        ("workers", "secrets_backend_kwargs"),
    }
)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# systemd's WHITESPACE, NEWLINE, COMMENTS and SHELL_NEED_ESCAPE.
_WHITESPACE = " \t\n\r"
_NEWLINE = "\n\r"
_COMMENTS = "#;"
_SHELL_NEED_ESCAPE = '"\\`$'


class ReadError(Exception):
    """A file that cannot be used; ``str()`` is safe to show: it never contains file content."""

    def __init__(self, reason: str, path: str, detail: str = "") -> None:
        super().__init__(reason, path, detail)
        self.reason = reason
        self.path = path
        self.detail = detail

    def __str__(self) -> str:
        text = f"{self.reason}: {self.path}"
        return f"{text} ({self.detail})" if self.detail else text


class Setting(NamedTuple):
    """The value Airflow would use for one option, and where it comes from."""

    kind: str  # VALUE, or COMMAND / SECRET for the _cmd / _secret fallbacks (never run)
    value: str
    source: str  # "file" or "env"


def read_bytes(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """Return the content of a regular file, or raise ReadError saying why it cannot be read."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ReadError("missing", path) from None
    except PermissionError:
        raise ReadError("permission denied", path) from None
    except OSError as exc:
        raise ReadError("cannot be read", path, exc.strerror or type(exc).__name__) from None
    if not stat.S_ISREG(info.st_mode):
        raise ReadError("not a regular file", path)
    if info.st_size > limit:
        raise ReadError("too large", path, f"{info.st_size} bytes, the limit is {limit}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except PermissionError:
        raise ReadError("permission denied", path) from None
    except OSError as exc:
        raise ReadError("cannot be read", path, exc.strerror or type(exc).__name__) from None
    if len(data) > limit:
        raise ReadError("too large", path, f"more than {limit} bytes")
    return data


def decode_text(data: bytes, path: str) -> str:
    """Decode UTF-8 like Python's text mode does (universal newlines); refuse binary content."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ReadError("binary content", path, f"NUL byte at offset {nul}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError("binary content", path, f"not UTF-8 at byte {exc.start}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _CaseKeepingParser(configparser.ConfigParser):
    """ConfigParser as AirflowConfigParser builds it: default arguments, keys keep their case."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


class _LayoutParser(configparser.RawConfigParser):
    """Lists each section's own keys: DEFAULT becomes an ordinary section (nothing inherits)."""

    def __init__(self) -> None:
        # "\n" can never be a section header, so no section is treated as the default one.
        super().__init__(default_section="\n", strict=False, interpolation=None)

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def _parse_error_detail(exc: configparser.Error) -> str:
    """Describe a parse error by line number and names only (never the offending text)."""
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"line {exc.lineno}: key {exc.section}.{exc.option} is set twice"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"line {exc.lineno}: section [{exc.section}] appears twice"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno}: text before the first [section] header"
    if isinstance(exc, configparser.ParsingError):
        numbers = [str(item[0]) for item in getattr(exc, "errors", [])]
        if not numbers and getattr(exc, "lineno", None) is not None:
            numbers = [str(exc.lineno)]
        label = "line" if len(numbers) == 1 else "lines"
        return f"{label} {', '.join(numbers[:10])}: not a 'key = value' line or a [section] header"
    return type(exc).__name__


class AirflowCfg:
    """A parsed airflow.cfg: each section's own keys, and values interpolated on demand."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self._parser = _CaseKeepingParser()
        layout = _LayoutParser()
        try:
            self._parser.read_string(text, source=path)
            layout.read_string(text, source=path)
        except configparser.Error as exc:
            raise ReadError("unparseable", path, _parse_error_detail(exc)) from None
        self._own = {section: list(layout[section]) for section in layout.sections()}

    def own_options(self) -> Iterator[tuple[str, str]]:
        """(section, key) for every key written in the file, [DEFAULT] included, in file order."""
        for section, keys in self._own.items():
            for key in keys:
                yield section, key

    def has_option(self, section: str, key: str) -> bool:
        """ConfigParser.has_option, which Airflow uses: keys in [DEFAULT] count for any section."""
        if section == self._parser.default_section:
            return key in self._parser.defaults()
        return self._parser.has_option(section, key)

    def value(self, section: str, key: str) -> str:
        """The interpolated value (``%(name)s``, ``%%``), as ``ConfigParser.get`` returns it."""
        try:
            return self._parser.get(section, key)
        except configparser.InterpolationError as exc:
            detail = f"{section}.{key}: {type(exc).__name__} (Airflow fails when it reads this key)"
            raise ReadError("unparseable", self.path, detail) from None

    @property
    def empty(self) -> bool:
        return not self._own


def read_airflow_cfg(path: str) -> AirflowCfg:
    """Read and parse airflow.cfg; raise ReadError for anything Airflow could not load."""
    data = read_bytes(path)
    if data.startswith(UTF8_BOM):
        raise ReadError(
            "unparseable", path, "starts with a UTF-8 byte order mark, which Airflow cannot read"
        )
    return AirflowCfg(decode_text(data, path), path)


def parse_env_file(text: str) -> list[tuple[str, str]]:
    """Assignments of a systemd EnvironmentFile, in order (a port of parse_env_file_internal)."""
    pairs: list[tuple[str, str]] = []
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    key_ws: int | None = None  # where trailing whitespace of the key starts
    value_ws: int | None = None  # where trailing whitespace of an unquoted value starts

    def push(strip_value: bool) -> None:
        name = "".join(key[:key_ws] if key_ws is not None else key)
        text_value = "".join(value[:value_ws] if strip_value and value_ws is not None else value)
        pairs.append((name, text_value))

    for char in text:
        if state == "pre_key":
            if char in _COMMENTS:
                state = "comment"
            elif char not in _WHITESPACE:
                state, key, value, key_ws = "key", [char], [], None
        elif state == "key":
            if char in _NEWLINE:
                state = "pre_key"
            elif char == "=":
                state, value_ws = "pre_value", None
            else:
                if char not in _WHITESPACE:
                    key_ws = None
                elif key_ws is None:
                    key_ws = len(key)
                key.append(char)
        elif state == "pre_value":
            if char in _NEWLINE:
                push(strip_value=False)
                state = "pre_key"
            elif char == "'":
                state = "single_quote"
            elif char == '"':
                state = "double_quote"
            elif char == "\\":
                state = "value_escape"
            elif char not in _WHITESPACE:
                state = "value"
                value.append(char)
        elif state == "value":
            if char in _NEWLINE:
                push(strip_value=True)
                state = "pre_key"
            elif char == "\\":
                state, value_ws = "value_escape", None
            else:
                if char not in _WHITESPACE:
                    value_ws = None
                elif value_ws is None:
                    value_ws = len(value)
                value.append(char)
        elif state == "value_escape":
            state = "value"
            if char not in _NEWLINE:
                value.append(char)
        elif state == "single_quote":
            if char == "'":
                state = "pre_value"
            else:
                value.append(char)
        elif state == "double_quote":
            if char == '"':
                state = "pre_value"
            elif char == "\\":
                state = "double_quote_escape"
            else:
                value.append(char)
        elif state == "double_quote_escape":
            state = "double_quote"
            if char in _SHELL_NEED_ESCAPE:
                value.append(char)
            elif char != "\n":
                value.extend(("\\", char))
        elif state == "comment":
            if char == "\\":
                state = "comment_escape"
            elif char in _NEWLINE:
                state = "pre_key"
        elif state == "comment_escape":
            state = "pre_key" if char in _NEWLINE else "comment"
    if state not in ("pre_key", "key", "comment", "comment_escape"):
        push(strip_value=state == "value")
    return pairs


def environment_from_pairs(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """The environment a unit gets: last assignment wins, invalid names are dropped (returned)."""
    environ: dict[str, str] = {}
    dropped: list[str] = []
    for name, value in pairs:
        if _ENV_NAME.match(name):
            environ[name] = value
        elif name not in dropped:
            dropped.append(name)
    return environ, dropped


def read_env_file(path: str) -> tuple[dict[str, str], list[str]]:
    """Read an EnvironmentFile; return the variables and the names systemd would drop."""
    text = decode_text(read_bytes(path), path)
    return environment_from_pairs(parse_env_file(text))


def airflow_overrides(environ: Mapping[str, str]) -> tuple[dict[tuple[str, str], str], list[str]]:
    """``AIRFLOW__SECTION__KEY`` variables as {(section, key): value}, lower-cased as Airflow does.

    Airflow only ever looks up the upper-case spelling (``_env_var_name``), so a variable with
    lower-case letters, or without both a section and a key, is never used: those are returned
    in the second list.
    """
    overrides: dict[tuple[str, str], str] = {}
    ignored: list[str] = []
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name.split("__", 2)
        if len(parts) != 3 or not parts[1] or not parts[2] or name != name.upper():
            ignored.append(name)
            continue
        overrides[(parts[1].lower(), parts[2].lower())] = value
    return overrides, ignored


def _fallback_base(key: str) -> tuple[str, str] | None:
    """("fernet_key", COMMAND) for "fernet_key_cmd"; None for a key without such a suffix."""
    for suffix, kind in FALLBACK_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)], kind
    return None


def _sensitive_bases(
    names: Iterable[tuple[str, str]], sensitive: frozenset[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Sensitive options that are set directly or through one of their fallbacks."""
    bases: dict[tuple[str, str], None] = {}
    for section, key in names:
        if (section, key) in sensitive:
            bases[(section, key)] = None
            continue
        split = _fallback_base(key)
        if split and (section, split[0]) in sensitive:
            bases[(section, split[0])] = None
    return list(bases)


def _resolve_sensitive(
    cfg: AirflowCfg | None, overrides: Mapping[tuple[str, str], str], section: str, key: str
) -> Setting | None:
    """Airflow's order for a sensitive option: env, env _CMD, env _SECRET, file, _cmd, _secret."""
    candidates = ((key, VALUE), *((key + suffix, kind) for suffix, kind in FALLBACK_SUFFIXES))
    for name, kind in candidates:
        if (section, name) in overrides:
            return Setting(kind, overrides[(section, name)], "env")
    if cfg is not None:
        for name, kind in candidates:
            if cfg.has_option(section, name):
                return Setting(kind, cfg.value(section, name), "file")
    return None


def effective_settings(
    cfg: AirflowCfg | None,
    overrides: Mapping[tuple[str, str], str],
    sensitive: frozenset[tuple[str, str]] = SENSITIVE_OPTIONS,
) -> dict[str, Setting]:
    """``{"section.key": Setting}`` for every option set in the file or the environment.

    The value is the one Airflow's ``get()`` returns, except that ``$VAR`` and ``~`` are not
    expanded (that depends on the process environment) and commands and secrets are not run.
    A sensitive option set through ``key_cmd`` or ``key_secret`` is reported under ``key``;
    the fallbacks it shadows do not count, as Airflow never reads them.
    """
    file_names = list(cfg.own_options()) if cfg is not None else []
    settings: dict[str, Setting] = {}
    handled: set[tuple[str, str]] = set()
    for section, key in _sensitive_bases([*file_names, *overrides], sensitive):
        handled.update((section, key + suffix) for suffix in ("", "_cmd", "_secret"))
        setting = _resolve_sensitive(cfg, overrides, section, key)
        if setting is not None:
            settings[f"{section}.{key}"] = setting
    for section, key in file_names:
        if (section, key) in handled:
            continue
        name = f"{section}.{key}"
        if (section, key) in overrides:
            settings[name] = Setting(VALUE, overrides[(section, key)], "env")
        elif cfg is not None:
            settings[name] = Setting(VALUE, cfg.value(section, key), "file")
    for (section, key), value in overrides.items():
        name = f"{section}.{key}"
        if (section, key) not in handled and name not in settings:
            settings[name] = Setting(VALUE, value, "env")
    return settings


def location_settings(environ: Mapping[str, str]) -> dict[str, Setting]:
    """``env:AIRFLOW_HOME`` and ``env:AIRFLOW_CONFIG`` when the EnvironmentFile sets them."""
    return {
        f"env:{name}": Setting(VALUE, environ[name], "env")
        for name in LOCATION_VARIABLES
        if name in environ
    }


def config_read_by_units(environ: Mapping[str, str]) -> str | None:
    """The airflow.cfg the units read, when the EnvironmentFile decides it (get_airflow_config)."""
    if "AIRFLOW_CONFIG" in environ:
        return environ["AIRFLOW_CONFIG"]
    if "AIRFLOW_HOME" in environ:
        return os.path.join(environ["AIRFLOW_HOME"], "airflow.cfg")
    return None
