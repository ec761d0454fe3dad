"""The shipped EC2 inventory (inventories/aws) against moto: 3 masters, 5 workers and a
monitoring host of one cluster, among decoys, give exactly the expected groups and SSH addresses."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fleet import Node, create_fleet, decoys, node_tags

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "aws" / "airflow.aws_ec2.yml"
CLUSTER = "airflow-test"
CIDR = "172.30.42.0/24"
MASTERS = {f"afc-master{n}": f"172.30.42.{10 + n}" for n in range(1, 4)}
WORKERS = {f"afc-worker{n}": f"172.30.42.{20 + n}" for n in range(1, 6)}
MONITORS = {"afc-monitor1": "172.30.42.31"}


def cluster_nodes() -> list[Node]:
    nodes = [Node(name, ip, node_tags(CLUSTER, "master")) for name, ip in MASTERS.items()]
    for name, ip in WORKERS.items():
        queues = "default, etl" if name == "afc-worker5" else ""
        connect = "ssm" if name == "afc-worker4" else ""
        nodes.append(Node(name, ip, node_tags(CLUSTER, "worker", queues, connect)))
    nodes += [Node(name, ip, node_tags(CLUSTER, "monitoring")) for name, ip in MONITORS.items()]
    return nodes


@pytest.fixture(scope="module")
def fleet(moto_endpoint: str) -> dict[str, str]:
    nodes = cluster_nodes()
    used = {node.address for node in nodes}
    nodes += decoys(CLUSTER, ipaddress.IPv4Network(CIDR), used)
    return create_fleet(moto_endpoint, "eu-west-1", CIDR, nodes)


def run_inventory(endpoint: str, *args: str, cluster: str = CLUSTER) -> str:
    env = {
        **os.environ,
        "AWS_URL": endpoint,
        "DATAOPS_AIRFLOW_CLUSTER": cluster,
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
    }
    run = subprocess.run(
        ["ansible-inventory", "-i", str(INVENTORY), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def plain(value: Any) -> Any:
    """A value of `ansible-inventory --list`, which wraps strings from AWS as unsafe."""
    return value["__ansible_unsafe"] if isinstance(value, dict) else value


def parse_graph(graph: str) -> dict[str, set[str]]:
    """`ansible-inventory --graph` as group -> hosts (direct members), groups under @all."""
    groups: dict[str, set[str]] = {}
    current = ""
    for line in graph.splitlines():
        group = re.match(r"^[\s|]*(?:\|--)?@(\S+):$", line)
        host = re.match(r"^[\s|]*\|--([^@\s]\S*)$", line)
        if group:
            current = group.group(1)
            groups[current] = set()
        elif host:
            groups[current].add(host.group(1))
    return groups


def test_graph_has_exactly_the_cluster_groups(fleet: dict[str, str], moto_endpoint: str) -> None:
    everyone = set(MASTERS) | set(WORKERS) | set(MONITORS)
    expected = {
        "all": set(),
        "ungrouped": set(),
        "aws_ec2": everyone,
        "masters": set(MASTERS),
        "workers": set(WORKERS),
        "monitoring": set(MONITORS),
        "queue_default": {"afc-worker5"},
        "queue_etl": {"afc-worker5"},
        "connect_private": everyone - {"afc-worker4"},
        "connect_ssm": {"afc-worker4"},
    }
    assert parse_graph(run_inventory(moto_endpoint, "--graph")) == expected


def test_hosts_are_reached_at_their_private_address(
    fleet: dict[str, str], moto_endpoint: str
) -> None:
    hostvars: dict[str, Any] = json.loads(run_inventory(moto_endpoint, "--list"))["_meta"][
        "hostvars"
    ]
    wanted = {**MASTERS, **WORKERS, **MONITORS, "afc-worker4": fleet["afc-worker4"]}
    assert {name: plain(v["ansible_host"]) for name, v in hostvars.items()} == wanted
    assert plain(hostvars["afc-worker1"]["tags"]["dataops:cluster"]) == CLUSTER


def test_another_cluster_is_chosen_by_the_environment(
    fleet: dict[str, str], moto_endpoint: str
) -> None:
    graph = run_inventory(moto_endpoint, "--graph", "masters", cluster=f"{CLUSTER}-other")
    assert parse_graph(graph) == {"masters": {"decoy-other-cluster"}}


def test_readme_shows_the_shipped_inventory_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    shipped = INVENTORY.read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    assert shipped in blocks, "README's EC2 section must quote inventories/aws/airflow.aws_ec2.yml"
