"""A fake ``systemctl`` (list-unit-files, show) and ``/proc`` for the per-unit tests.

tests/unit is on sys.path (see conftest.py), so tests import this as ``fake_systemd``.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import read_env_file
from ansible_collections.dataops.airflow.plugins.module_utils.units import (
    INPUT_FILES_VARIABLE,
    INPUTS_VARIABLE,
    inputs_fingerprint,
)


@dataclass
class Unit:
    """One service unit: what its unit file and drop-ins set, and its running process."""

    environment: dict[str, str] = field(default_factory=dict)  # Environment=, drop-ins merged
    files: list[str] = field(default_factory=list)  # EnvironmentFile=, in order
    inputs: list[str] = field(default_factory=list)  # DATAOPS_AIRFLOW_INPUT_FILES
    active: str = "active"
    load_state: str = "loaded"
    drop_ins: list[str] = field(default_factory=list)
    pid: int = 0
    running: dict[str, str] | None = None  # the process environment, set by FakeSystemd.start
    key: bytes | None = None  # the host's fingerprint key (None: plain SHA-256)

    def unit_environment(self) -> dict[str, str]:
        """Environment= as the unit file sets it now (with the fingerprint the role writes)."""
        environ = dict(self.environment)
        if self.inputs:
            environ[INPUT_FILES_VARIABLE] = ":".join(self.inputs)
            environ.setdefault(INPUTS_VARIABLE, inputs_fingerprint(self.inputs, self.key))
        return environ


class FakeSystemd:
    """``run`` for the module_utils: answers the systemctl calls from ``units``."""

    def __init__(self, units: dict[str, Unit], others: Sequence[str] = ()) -> None:
        self.units = units
        # More unit files that list-unit-files prints: templates, aliases (``name alias``).
        self.others = list(others)
        self.calls: list[list[str]] = []
        for number, unit in enumerate(units.values(), start=100):
            unit.pid = unit.pid or number
        for name, unit in units.items():
            if unit.active == "active" and unit.running is None:
                self.start(name)

    def start(self, name: str) -> None:
        """(Re)start a unit: its process gets what the unit is configured with now."""
        unit = self.units[name]
        environ = unit.unit_environment()
        for path in unit.files:
            environ.update(read_env_file(path)[0])
        unit.running = environ

    def read_environ(self, pid: int) -> dict[str, str] | None:
        for unit in self.units.values():
            if unit.pid == pid and unit.active == "active":
                return unit.running
        return None

    @staticmethod
    def start_time(_pid: int) -> float | None:
        return None

    def _list_unit_files(self, pattern: str) -> tuple[int, str, str]:
        rows = [f"{name} enabled enabled" for name in self.units] + self.others
        rows = [row for row in rows if fnmatch.fnmatchcase(row.split()[0], pattern)]
        return (0, "\n".join(rows) + "\n", "") if rows else (1, "", "")

    def _show(self, names: Sequence[str]) -> tuple[int, str, str]:
        blocks = []
        for name in names:
            unit = self.units.get(name)
            if unit is None or unit.load_state != "loaded":
                blocks.append(
                    f"Id={name}\nLoadState={unit.load_state if unit else 'not-found'}\n"
                    "ActiveState=inactive\nSubState=dead\nMainPID=0\nEnvironment=\n"
                    "EnvironmentFiles=\nDropInPaths=\nFragmentPath=\n"
                )
                continue
            active = unit.active == "active"
            environment = " ".join(
                shlex.quote(f"{k}={v}") for k, v in unit.unit_environment().items()
            )
            lines = [
                f"Id={name}",
                "LoadState=loaded",
                f"ActiveState={unit.active}",
                f"SubState={'running' if active else 'dead'}",
                "UnitFileState=enabled",
                f"MainPID={unit.pid if active else 0}",
                "NeedDaemonReload=no",
                f"Environment={environment}",
                *(f"EnvironmentFiles={path} (ignore_errors=no)" for path in unit.files),
                f"DropInPaths={' '.join(unit.drop_ins)}",
                f"FragmentPath=/etc/systemd/system/{name}",
            ]
            blocks.append("\n".join(lines) + "\n")
        return 0, "\n".join(blocks), ""

    def __call__(self, argv: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        assert argv[0] == "systemctl"
        if argv[1] == "list-unit-files":
            return self._list_unit_files(argv[-1])
        if argv[1] == "show":
            return self._show(argv[list(argv).index("--") + 1 :])
        raise AssertionError(f"unexpected command: {argv}")
