"""Reading airflow.cfg and the EnvironmentFile the way Airflow 3 and systemd do."""

from __future__ import annotations

import configparser
import os
import random
import time

import pytest
from sample_data import SAMPLE_CFG

from ansible_collections.dataops.airflow.plugins.module_utils import airflow_cfg
from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import (
    COMMAND,
    SECRET,
    VALUE,
    AirflowCfg,
    ReadError,
    Setting,
    airflow_overrides,
    config_read_by_units,
    effective_settings,
    environment_from_pairs,
    location_settings,
    parse_env_file,
    read_airflow_cfg,
    read_env_file,
)


def values(text: str, env: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """section.key -> (kind, value), the part of a Setting that is hashed."""
    cfg = AirflowCfg(text, "airflow.cfg")
    overrides = airflow_overrides(env or {})[0]
    return {k: (s.kind, s.value) for k, s in effective_settings(cfg, overrides).items()}


def failure(path: str) -> ReadError:
    with pytest.raises(ReadError) as caught:
        read_airflow_cfg(path)
    return caught.value


# --- what Airflow ignores does not count -----------------------------------------------------


def test_comments_blank_lines_order_and_spacing_do_not_count() -> None:
    reformatted = """\
; written by hand
[celery]
# the workers
worker_concurrency=16
broker_url    :    redis://:s3cret@redis:6379/0


[core]
fernet_key=7fQf0fX1L0w2yE4h6JkQ9mN3pR5tV8xZ1aB4cD6eF0g=
   # indented comment
parallelism= 32
"""
    assert values(reformatted) == values(SAMPLE_CFG)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_files_read_like_lf(write, newline: str) -> None:
    lf = read_airflow_cfg(write("lf.cfg", SAMPLE_CFG))
    other = read_airflow_cfg(write("other.cfg", SAMPLE_CFG.replace("\n", newline).encode()))
    assert effective_settings(other, {}) == effective_settings(lf, {})
    assert effective_settings(other, {})["core.parallelism"].value == "32"


def test_byte_order_mark_fails_like_airflow(write) -> None:
    path = write("bom.cfg", b"\xef\xbb\xbf" + SAMPLE_CFG.encode())
    err = failure(path)
    assert err.reason == "unparseable"
    assert "byte order mark" in str(err)
    # Airflow's ConfigParser.read() rejects it the same way.
    with pytest.raises(configparser.MissingSectionHeaderError):
        configparser.ConfigParser().read(path, encoding="utf-8")


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n; and another\n"])
def test_empty_file_is_valid_and_sets_nothing(write, content: str) -> None:
    cfg = read_airflow_cfg(write("empty.cfg", content))
    assert cfg.empty
    assert effective_settings(cfg, {}) == {}


def test_inline_comment_is_part_of_the_value_as_in_airflow() -> None:
    # ConfigParser() has no inline comment prefixes, so Airflow sees "32 # tuned".
    assert values("[core]\nparallelism = 32 # tuned\n")["core.parallelism"] == (VALUE, "32 # tuned")


def test_multiline_values_keep_their_lines_but_not_indentation() -> None:
    a = values("[core]\nplugins = a\n    b\n\n    c\n")
    b = values("[core]\nplugins = a\n\tb\n\n  c\n")
    assert a == b == {"core.plugins": (VALUE, "a\nb\n\nc")}


def test_key_case_is_kept_like_airflows_optionxform() -> None:
    # Not duplicates for Airflow (case-preserving keys); Airflow only reads the lower-case one,
    # so both are kept as different keys and a stray capitalised key shows as a difference.
    assert values("[core]\nParallelism = 8\nparallelism = 32\n") == {
        "core.Parallelism": (VALUE, "8"),
        "core.parallelism": (VALUE, "32"),
    }


# --- interpolation ---------------------------------------------------------------------------


def test_interpolation_is_resolved_before_comparing() -> None:
    literal = values("[core]\nhome = /srv\ndags_folder = /srv/dags\n")
    interpolated = values("[core]\nhome = /srv\ndags_folder = %(home)s/dags\n")
    assert interpolated == literal


def test_interpolation_from_default_section_and_percent_escape() -> None:
    got = values("[DEFAULT]\nbase = /opt\n[core]\nplugins_folder = %(base)s/plugins\nfmt = 100%%\n")
    assert got == {
        "DEFAULT.base": (VALUE, "/opt"),
        "core.plugins_folder": (VALUE, "/opt/plugins"),
        "core.fmt": (VALUE, "100%"),
    }


def test_broken_interpolation_fails_naming_the_key_not_the_value(write) -> None:
    path = write("bad.cfg", "[database]\nsql_alchemy_conn = postgresql://u:p%40ss@db/airflow\n")
    cfg = read_airflow_cfg(path)  # the file parses ...
    with pytest.raises(ReadError) as caught:
        effective_settings(cfg, {})  # ... but Airflow fails when it reads the key
    assert caught.value.reason == "unparseable"
    assert "database.sql_alchemy_conn" in str(caught.value)
    assert "p%40ss" not in str(caught.value)


def test_broken_interpolation_overridden_by_env_is_never_read() -> None:
    got = values(
        "[core]\nbroken = %(missing)s\n", {"AIRFLOW__CORE__BROKEN": "fine"}
    )  # Airflow returns the variable and never interpolates the file's value
    assert got == {"core.broken": (VALUE, "fine")}


# --- files Airflow cannot load ---------------------------------------------------------------


def test_duplicate_key_fails_with_line_and_key(write) -> None:
    # a value no temporary path contains (pytest numbers its folders: pytest-64/...)
    err = failure(write("dup.cfg", "[core]\nparallelism = 32\nparallelism = 97531\n"))
    assert err.reason == "unparseable"
    assert "line 3: key core.parallelism is set twice" in str(err)
    assert "97531" not in str(err)


def test_duplicate_section_fails(write) -> None:
    err = failure(write("dup.cfg", "[core]\na = 1\n[celery]\nb = 2\n[core]\nc = 3\n"))
    assert "section [core] appears twice" in str(err)


def test_stray_line_fails_without_echoing_it(write) -> None:
    # (a ':' would make it a key: ConfigParser accepts both '=' and ':' as delimiters)
    err = failure(write("bad.cfg", "[core]\nparallelism = 4\nfernet_key hunter2\n"))
    assert err.reason == "unparseable"
    assert "line 3" in str(err)
    assert "hunter2" not in str(err)


def test_text_before_first_section_fails(write) -> None:
    err = failure(write("bad.cfg", "fernet_key = abc\n[core]\n"))
    assert "line 1: text before the first [section] header" in str(err)
    assert "abc" not in str(err)


def test_missing_file(tmp_path) -> None:
    path = str(tmp_path / "nowhere" / "airflow.cfg")
    assert str(failure(path)) == f"missing: {path}"


def test_permission_denied(write, monkeypatch) -> None:
    path = write("airflow.cfg", SAMPLE_CFG)

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(airflow_cfg, "open", deny, raising=False)
    assert str(failure(path)) == f"permission denied: {path}"


def test_directory_is_not_a_regular_file(tmp_path) -> None:
    assert failure(str(tmp_path)).reason == "not a regular file"


def test_binary_garbage_is_refused(write) -> None:
    garbage = random.Random(3).randbytes(4096) + b"\x00"
    err = failure(write("garbage.cfg", garbage))
    assert err.reason == "binary content"


def test_non_utf8_text_is_refused_with_offset(write) -> None:
    err = failure(
        write("latin1.cfg", "[core]\ndefault_timezone = Europe/Zürich\n".encode("latin-1"))
    )
    assert err.reason == "binary content"
    assert "not UTF-8 at byte 34" in str(err)


def test_very_large_file_is_read_quickly(write) -> None:
    sections = [
        f"[section_{s}]\n" + "".join(f"key_{k} = value {s} {k} %%\n" for k in range(100))
        for s in range(1000)
    ]
    path = write("large.cfg", "# generated\n" + "\n".join(sections))
    assert os.path.getsize(path) > 2_000_000
    started = time.monotonic()
    settings = effective_settings(read_airflow_cfg(path), {})
    # About 2 s on an idle 2-CPU machine; the bound only catches quadratic behaviour (a
    # quadratic pass over 100k keys takes far longer) and tolerates a busy machine.
    assert time.monotonic() - started < 120
    assert len(settings) == 100_000
    assert settings["section_999.key_99"].value == "value 999 99 %"


def test_file_over_the_limit_is_refused(write) -> None:
    path = write("big.cfg", "[core]\n" + "x = 1\n" * 100)
    with pytest.raises(ReadError) as caught:
        airflow_cfg.read_bytes(path, limit=100)
    assert caught.value.reason == "too large"


# --- the EnvironmentFile, as systemd parses it ----------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("A=1", ("A", "1")),
        ("  A = 1  ", ("A", "1")),
        ('A="two words"', ("A", "two words")),
        ("A='single $quoted'", ("A", "single $quoted")),
        ('A="esc \\"q\\" \\$x \\n"', ("A", 'esc "q" $x \\n')),
        ("A=un\\ quoted\\\\", ("A", "un quoted\\")),
        ("A=x # not a comment", ("A", "x # not a comment")),
        ("A=", ("A", "")),
        ('A="x"y', ("A", "xy")),
    ],
)
def test_env_file_values(line: str, expected: tuple[str, str]) -> None:
    assert parse_env_file(line + "\n") == [expected]


def test_env_file_comments_continuations_and_crlf() -> None:
    text = "# comment\r\n; another\r\nA=1\r\nB=first \\\nsecond\r\n\r\nNOVALUE\r\nC='multi\nline'\n"
    assert parse_env_file(text) == [("A", "1"), ("B", "first second"), ("C", "multi\nline")]


def test_env_file_backslash_before_crlf_ends_the_value_as_in_systemd() -> None:
    # systemd eats the CR after the backslash, then the LF ends the assignment.
    assert parse_env_file("B=first \\\r\nsecond=2\r\n") == [("B", "first "), ("second", "2")]


def test_env_file_last_assignment_wins_and_invalid_names_are_dropped(write) -> None:
    path = write("airflow.env", b"\xef\xbb\xbfAIRFLOW__CORE__A=1\nB=1\nB=2\n1BAD=x\nexport C=3\n")
    environ, dropped = read_env_file(path)
    assert environ == {"B": "2"}
    # systemd keeps the BOM in the first name, which makes it invalid: that line is lost.
    assert dropped == ["\ufeffAIRFLOW__CORE__A", "1BAD", "export C"]


def test_env_file_that_is_binary_fails(write) -> None:
    with pytest.raises(ReadError, match="binary content"):
        read_env_file(write("airflow.env", b"A=1\n\x00\x01\x02"))


# --- environment overrides -------------------------------------------------------------------


def test_environment_overrides_the_file() -> None:
    got = effective_settings(
        AirflowCfg(SAMPLE_CFG, "airflow.cfg"),
        airflow_overrides(
            {"AIRFLOW__CELERY__WORKER_CONCURRENCY": "8", "AIRFLOW__API__PORT": "8080"}
        )[0],
    )
    assert got["celery.worker_concurrency"] == Setting(VALUE, "8", "env")
    assert got["api.port"] == Setting(VALUE, "8080", "env")
    assert got["core.parallelism"] == Setting(VALUE, "32", "file")


def test_same_value_from_env_or_file_is_the_same_setting() -> None:
    in_file = values("[core]\nparallelism = 64\n")
    in_env = values("[core]\n", {"AIRFLOW__CORE__PARALLELISM": "64"})
    assert in_file == in_env


def test_variable_names_map_like_airflow() -> None:
    overrides, ignored = airflow_overrides(
        {
            "AIRFLOW__API_AUTH__JWT_SECRET": "j",
            "AIRFLOW__CORE__DAGS_FOLDER": "/d",
            "AIRFLOW__CORE__a__B": "x",  # Airflow only looks up upper-case names
            "airflow__core__parallelism": "1",
            "AIRFLOW__CORE": "no key",
            "AIRFLOW_HOME": "/var/lib/airflow",
            "PATH": "/usr/bin",
        }
    )
    assert overrides == {("api_auth", "jwt_secret"): "j", ("core", "dags_folder"): "/d"}
    assert sorted(ignored) == ["AIRFLOW__CORE", "AIRFLOW__CORE__a__B", "airflow__core__parallelism"]


def test_jwt_secret_is_a_key_not_a_secret_fallback() -> None:
    got = values("[api_auth]\njwt_secret = abc\n")
    assert got == {"api_auth.jwt_secret": (VALUE, "abc")}


# --- _cmd / _secret fallbacks ----------------------------------------------------------------


def test_cmd_fallback_is_compared_as_written_and_never_run(tmp_path) -> None:
    marker = tmp_path / "ran"
    got = values(f"[core]\nfernet_key_cmd = touch {marker}\n")
    assert got == {"core.fernet_key": (COMMAND, f"touch {marker}")}
    assert not marker.exists()


def test_plain_value_shadows_cmd_and_secret_in_the_file() -> None:
    one = values("[core]\nfernet_key = k\nfernet_key_cmd = cat /a\n")
    two = values("[core]\nfernet_key = k\nfernet_key_cmd = cat /b\nfernet_key_secret = p\n")
    assert one == two == {"core.fernet_key": (VALUE, "k")}


def test_precedence_env_then_env_cmd_then_file_then_file_secret() -> None:
    text = "[celery]\nresult_backend_secret = path/in/vault\n"
    assert values(text) == {"celery.result_backend": (SECRET, "path/in/vault")}
    text += "result_backend = db+postgresql://x\n"
    assert values(text) == {"celery.result_backend": (VALUE, "db+postgresql://x")}
    env = {"AIRFLOW__CELERY__RESULT_BACKEND_CMD": "cat /run/rb"}
    assert values(text, env) == {"celery.result_backend": (COMMAND, "cat /run/rb")}
    env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+postgresql://y"
    assert values(text, env) == {"celery.result_backend": (VALUE, "db+postgresql://y")}


def test_cmd_suffix_on_a_non_sensitive_option_is_an_ordinary_key() -> None:
    got = values("[core]\nparallelism_cmd = echo 4\n", {"AIRFLOW__CORE__DAGS_FOLDER_CMD": "x"})
    assert got == {
        "core.parallelism_cmd": (VALUE, "echo 4"),
        "core.dags_folder_cmd": (VALUE, "x"),
    }


def test_extra_sensitive_options_get_the_fallbacks() -> None:
    cfg = AirflowCfg("[smtp]\nsmtp_password_cmd = cat /p\n", "airflow.cfg")
    extra = airflow_cfg.SENSITIVE_OPTIONS | {("smtp", "smtp_password")}
    assert effective_settings(cfg, {}, extra) == {
        "smtp.smtp_password": Setting(COMMAND, "cat /p", "file")
    }


# --- where the units read the configuration --------------------------------------------------


def test_location_variables_are_settings_and_decide_the_file() -> None:
    environ = environment_from_pairs([("AIRFLOW_HOME", "/var/lib/airflow"), ("X", "1")])[0]
    assert location_settings(environ) == {
        "env:AIRFLOW_HOME": Setting(VALUE, "/var/lib/airflow", "env")
    }
    assert config_read_by_units(environ) == "/var/lib/airflow/airflow.cfg"
    environ["AIRFLOW_CONFIG"] = "/etc/airflow/airflow.cfg"
    assert config_read_by_units(environ) == "/etc/airflow/airflow.cfg"
    assert config_read_by_units({}) is None
