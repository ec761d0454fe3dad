"""The requirement_pins filter: lock text and `uv pip freeze` output compare as sets of pins."""

from __future__ import annotations

import pytest

from ansible_collections.dataops.airflow.plugins.filter.requirement_pins import (
    FilterModule,
    normalise_name,
    requirement_pins,
)

LOCK = """\
# airflow-3.3.2 on Python 3.11, from airflow-3.3.2.in by scripts/update-pins.sh: do not edit.
--index-url https://pypi.org/simple
Apache_Airflow==3.3.2
    # via -r airflow.in
celery==5.6.3 ; python_version >= "3.9"
zope.interface==7.2 \\
    --hash=sha256:abc
"""


def test_reads_only_exact_pins_and_normalises_names() -> None:
    assert requirement_pins(LOCK) == [
        "apache-airflow==3.3.2",
        "celery==5.6.3",
        "zope-interface==7.2",
    ]


def test_freeze_output_of_the_same_set_compares_equal() -> None:
    freeze = "zope-interface==7.2\ncelery==5.6.3\napache-airflow==3.3.2\n"
    assert requirement_pins(freeze) == requirement_pins(LOCK)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "# comment",
        "-e ./local",
        "requests>=2",
        "pkg @ https://example.invalid/pkg.whl",
        "    --hash=sha256:x",
    ],
)
def test_ignores_lines_that_are_not_exact_pins(line: str) -> None:
    assert requirement_pins(line) == []


def test_keeps_extras_out_of_the_name() -> None:
    assert requirement_pins("uvicorn[standard]==0.30.0") == ["uvicorn==0.30.0"]


def test_duplicates_collapse() -> None:
    assert requirement_pins("a==1\nA==1\n") == ["a==1"]


@pytest.mark.parametrize(
    ("name", "expected"), [("Foo_Bar", "foo-bar"), ("foo.bar", "foo-bar"), ("foo--bar", "foo-bar")]
)
def test_normalise_name(name: str, expected: str) -> None:
    assert normalise_name(name) == expected


def test_filter_is_registered() -> None:
    assert FilterModule().filters()["requirement_pins"] is requirement_pins
