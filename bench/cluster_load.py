"""The reference deployment's load on the running molecule/cluster scenario: 150 DAGs of 5 tasks
(750 tasks), triggered at once; prints the seconds from the first trigger to the last success.

    python3 bench/cluster_load.py [--dags 150] [--tasks 5]   (bench/cluster.sh runs it)

The API is called with curl on the first master (as the tests do). The size goes to
dataops_load.json next to the load DAG file on every node and is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from typing import Any

MASTER = "afc-master1"
NODES = [f"afc-master{i}" for i in (1, 2, 3)] + [f"afc-worker{i}" for i in (1, 2, 3, 4, 5)]
SIZE_FILE = "/var/lib/airflow/dags/dataops_load.json"
ADMIN = {"username": "admin", "password": "molecule-admin-Pa55"}


def curl(method: str, path: str, token: str = "", body: Any = None) -> Any:
    args = ["docker", "exec", MASTER, "curl", "-s", "-X", method, f"http://localhost:8080{path}"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out else None


def wait(what: str, probe: Any, timeout: float, interval: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def set_size(dags: int | None, tasks: int) -> None:
    for node in NODES:
        if dags is None:
            command = f"rm -f {SIZE_FILE}"
        else:
            size = json.dumps({"dags": dags, "tasks": tasks})
            command = f"echo '{size}' > {SIZE_FILE} && chown root:airflow {SIZE_FILE}"
            command += f" && chmod 0640 {SIZE_FILE}"
        subprocess.run(["docker", "exec", node, "sh", "-c", command], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dags", type=int, default=150)
    parser.add_argument("--tasks", type=int, default=5)
    args = parser.parse_args()
    token = curl("POST", "/auth/token", body=ADMIN)["access_token"]
    set_size(args.dags, args.tasks)
    try:
        ids = [f"dataops_load_{n:03d}" for n in range(args.dags)]
        start = time.monotonic()

        def parsed() -> bool:
            # the API pages by 100 at most: the count is enough
            listing = curl("GET", "/api/v2/dags?tags=load&limit=1", token)
            return int(listing["total_entries"]) >= len(ids)

        wait(f"{args.dags} DAGs to be parsed", parsed, 900)
        parse_time = time.monotonic() - start
        start = time.monotonic()
        runs = {
            dag_id: curl("POST", f"/api/v2/dags/{dag_id}/dagRuns", token, {"logical_date": None})[
                "dag_run_id"
            ]
            for dag_id in ids
        }
        trigger_time = time.monotonic() - start

        def finished() -> list[str] | None:
            body = {"dag_ids": ids, "page_limit": 10000}
            listing = curl("POST", "/api/v2/dags/~/dagRuns/list", token, body)
            states = {
                r["dag_id"]: r["state"]
                for r in listing["dag_runs"]
                if r["dag_run_id"] == runs[r["dag_id"]]
            }
            done = [s for s in states.values() if s in ("success", "failed")]
            return list(states.values()) if len(done) == len(ids) else None

        states = wait(f"{args.dags} runs to finish", finished, 3600, 10)
        run_time = time.monotonic() - start
    finally:
        set_size(None, args.tasks)
    failed = sum(1 for s in states if s != "success")
    print(
        f"| {args.dags} DAGs x {args.tasks} tasks ({args.dags * args.tasks}) "
        f"| parsed in {parse_time:.0f} s | triggered in {trigger_time:.0f} s "
        f"| all finished {run_time:.0f} s after the first trigger | {failed} failed |"
    )


if __name__ == "__main__":
    main()
