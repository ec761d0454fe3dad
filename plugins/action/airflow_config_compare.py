"""Action plugin: compare the airflow_config_hash results of every host of the play."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.dataops.airflow.plugins.module_utils.config_compare import compare

display = Display()

ARGUMENT_SPEC: dict[str, Any] = {
    "result_var": {"type": "str", "default": "airflow_config_hash_result"},
    "results": {"type": "dict"},
    "hosts": {"type": "list", "elements": "str"},
    "fail_on_difference": {"type": "bool", "default": True},
    "max_hosts_listed": {"type": "int", "default": 8},
    "max_keys_listed": {"type": "int", "default": 10},
}


class ActionModule(ActionBase):
    """Runs on the controller only; reads registered results from hostvars."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def _gather(self, args: Mapping[str, Any], task_vars: Mapping[str, Any]) -> dict[str, Any]:
        """host -> registered result (None when the host has none), in play order."""
        if args["results"] is not None:
            return dict(args["results"])
        hosts = args["hosts"]
        if hosts is None:
            hosts = task_vars.get("ansible_play_hosts_all") or []
        hostvars = task_vars.get("hostvars") or {}
        gathered: dict[str, Any] = {}
        for host in hosts:
            host_vars = hostvars.get(host) if host in hostvars else None
            value = host_vars.get(args["result_var"]) if isinstance(host_vars, Mapping) else None
            gathered[host] = value if isinstance(value, Mapping) else None
        return gathered

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        if not self._task.run_once:
            display.warning(
                "airflow_config_compare compares all hosts at once; use it with run_once: true"
            )
        for option in ("max_hosts_listed", "max_keys_listed"):
            if args[option] < 1:
                return {**result, "failed": True, "msg": f"{option} must be at least 1"}
        outcome = compare(
            self._gather(args, task_vars),
            max_hosts=args["max_hosts_listed"],
            max_keys=args["max_keys_listed"],
        )
        result.update(outcome)
        result["changed"] = False
        result["failed"] = bool(args["fail_on_difference"] and not outcome["consistent"])
        return result
