"""Run one job template of awx/objects.yml the way AWX runs a job: with ansible-runner, in a
private data dir laid out as AWX lays it out.

    python tests/awx_job.py --template "Rolling worker restart" --inventory INVENTORY \\
        --work DIR [--answer worker_restart_batch_size=0] [--env NAME=VALUE] [--expect failed]

The private data dir (DIR/<template>/) holds:
  project/         the project checkout (this repository)
  inventory/hosts  an executable inventory script printing the inventory as JSON, as AWX writes
                   an inventory synced from its source (here: `ansible-inventory --list --export`
                   of INVENTORY)
  env/extravars    the survey's answers: its defaults, then each --answer
  env/settings     job_timeout from the template
  env/envvars      what the template's credentials inject (AWS_*, from this environment when set),
                   the collections path of the project's collections (collections/requirements.yml)
                   and each --env
Prints one JSON line: template, playbook, status, rc, seconds, changed and failed per host, and
the tasks it ran and the end of its output. With --record FILE the same line is appended to FILE.
Exits 0 when the status is the one --expect names (default: successful).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

REPO = Path(__file__).resolve().parents[1]
# What AWX's AWS credential injects into a job's environment.
AWS_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def template_of(name: str) -> dict[str, Any]:
    objects = yaml.safe_load((REPO / "awx" / "objects.yml").read_text(encoding="utf-8"))
    for template in objects["dataops_awx_job_templates"]:
        if template["name"] == name:
            return template
    raise SystemExit(f"awx/objects.yml has no job template {name!r}")


def survey_answers(template: dict[str, Any], answers: list[str]) -> dict[str, Any]:
    """The survey's defaults, typed as AWX sends them, then the given answers."""
    values: dict[str, Any] = {q["variable"]: q["default"] for q in template["survey"]}
    for answer in answers:
        name, value = answer.split("=", 1)
        kinds = {q["variable"]: q["type"] for q in template["survey"]}
        values[name] = int(value) if kinds.get(name) == "integer" else value
    return values


def inventory_script(inventory: str) -> str:
    listing = subprocess.run(
        ["ansible-inventory", "-i", inventory, "--list", "--export"],
        capture_output=True,
        text=True,
        check=True,
        # The listing is data (with the inventory's variables), not a job's output: it must not
        # go to the log that ANSIBLE_LOG_PATH names, where the jobs' output goes.
        env={k: v for k, v in os.environ.items() if k != "ANSIBLE_LOG_PATH"},
    ).stdout
    json.loads(listing)  # fail here, not in the job, on a broken inventory
    return f"#!{sys.executable}\nprint({listing!r})\n"


def lay_out(template: dict[str, Any], args: argparse.Namespace) -> Path:
    data_dir = Path(args.work) / re.sub(r"[^A-Za-z0-9]+", "-", template["name"]).lower()
    shutil.rmtree(data_dir, ignore_errors=True)
    (data_dir / "env").mkdir(parents=True)
    (data_dir / "inventory").mkdir()
    (data_dir / "project").symlink_to(REPO, target_is_directory=True)
    hosts = data_dir / "inventory" / "hosts"
    hosts.write_text(inventory_script(args.inventory), encoding="utf-8")
    hosts.chmod(stat.S_IRWXU)
    env = {name: os.environ[name] for name in AWS_CREDENTIAL_ENV if name in os.environ}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".cache" / "collections")
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(dict(item.partition("=")[::2] for item in args.env))
    files = {
        "extravars": survey_answers(template, args.answer),
        "settings": {"job_timeout": template["job_timeout"]},
        "envvars": env,
    }
    for name, content in files.items():
        path = data_dir / "env" / name
        path.write_text(json.dumps(content), encoding="utf-8")
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return data_dir


def summary(template: dict[str, Any], run: Any, seconds: float) -> dict[str, Any]:
    stats = run.stats or {}
    output = run.stdout.read() if run.stdout else ""
    return {
        "template": template["name"],
        "playbook": template["playbook"],
        "status": run.status,
        "rc": run.rc,
        "seconds": round(seconds, 1),
        "changed": stats.get("changed", {}),
        "failed": {**stats.get("failures", {}), **stats.get("dark", {})},
        "tasks": sorted(
            {
                event["event_data"].get("task", "")
                for event in run.events
                if event.get("event") == "playbook_on_task_start"
            }
        ),
        # the end of the output, one line (a message the callback wrapped is whole again)
        "output_tail": " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split()[-3000:]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--template", required=True)
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--answer", action="append", default=[], help="survey VARIABLE=VALUE")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the job")
    parser.add_argument("--expect", default="successful", choices=["successful", "failed"])
    parser.add_argument("--record", help="also append the result, as a JSON line, to this file")
    args = parser.parse_args()
    template = template_of(args.template)
    data_dir = lay_out(template, args)
    start = time.monotonic()
    run = ansible_runner.run(
        private_data_dir=str(data_dir), playbook=template["playbook"], quiet=True
    )
    result = {**summary(template, run, time.monotonic() - start), "answers": args.answer}
    print(json.dumps(result))
    if args.record:
        with open(args.record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
    return 0 if run.status == args.expect else 1


if __name__ == "__main__":
    sys.exit(main())
