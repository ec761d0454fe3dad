"""An Airflow cluster's EC2 instances in moto's server, tagged as inventories/aws expects, with
decoys the inventory must leave out (another cluster, a stopped instance, a bastion).

    python tests/aws/fleet.py --endpoint http://127.0.0.1:5000 --cluster airflow-test \\
        --cidr 172.30.42.0/24 --master afc-master1=172.30.42.11 --worker afc-worker1=172.30.42.21 \\
        [--monitor afc-monitor1=172.30.42.31] [--stock stock.json]

stock.json: {"ssm": {name: value}, "secrets": {name: value}, "buckets": [name]}: SSM
SecureString parameters, Secrets Manager secrets and S3 buckets to create as well.

Instances are created one per call, each with the private address it is given (a test
container's address), so that the inventory's ansible_host reaches that container."""

from __future__ import annotations

import argparse
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3


@dataclass(frozen=True)
class Node:
    """One instance to create: its Name tag, private address and tags beyond Name."""

    name: str
    address: str
    tags: dict[str, str] = field(default_factory=dict)
    stopped: bool = False


def node_tags(cluster: str, role: str, queues: str = "", connect: str = "") -> dict[str, str]:
    tags = {"dataops:cluster": cluster, "dataops:role": role}
    if queues:
        tags["dataops:queues"] = queues
    if connect:
        tags["dataops:connect"] = connect
    return tags


def decoys(cluster: str, network: ipaddress.IPv4Network, used: set[str]) -> list[Node]:
    """Instances that share the region but are not the cluster's running masters or workers."""
    free = (str(a) for a in network.hosts() if str(a) not in used and a.packed[-1] > 200)
    return [
        Node("decoy-other-cluster", next(free), node_tags(f"{cluster}-other", "master")),
        Node("decoy-stopped-worker", next(free), node_tags(cluster, "worker"), stopped=True),
        Node("decoy-bastion", next(free), node_tags(cluster, "bastion")),
    ]


def ec2_client(endpoint: str, region: str) -> Any:
    return boto3.client("ec2", endpoint_url=endpoint, region_name=region)


def create_network(ec2: Any, cidr: str) -> str:
    """A VPC and one subnet spanning the whole CIDR; returns the subnet id."""
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    return str(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"])


def any_image(ec2: Any) -> str:
    return str(ec2.describe_images()["Images"][0]["ImageId"])


def create_instance(ec2: Any, subnet: str, image: str, node: Node) -> str:
    tags = [{"Key": "Name", "Value": node.name}] + [
        {"Key": key, "Value": value} for key, value in node.tags.items()
    ]
    reply = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.medium",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        PrivateIpAddress=node.address,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    instance = str(reply["Instances"][0]["InstanceId"])
    if node.stopped:
        ec2.stop_instances(InstanceIds=[instance])
    return instance


def create_fleet(endpoint: str, region: str, cidr: str, nodes: Sequence[Node]) -> dict[str, str]:
    """Creates the network and every node; returns Name tag to instance id."""
    ec2 = ec2_client(endpoint, region)
    subnet = create_network(ec2, cidr)
    image = any_image(ec2)
    return {node.name: create_instance(ec2, subnet, image, node) for node in nodes}


def create_stock(endpoint: str, region: str, stock: dict[str, Any]) -> None:
    """SSM SecureString parameters, Secrets Manager secrets and S3 buckets."""
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=region)
    for name, value in stock.get("ssm", {}).items():
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=region)
    for name, value in stock.get("secrets", {}).items():
        secrets.create_secret(Name=name, SecretString=value)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
    for bucket in stock.get("buckets", []):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def parse_named(value: str) -> tuple[str, str]:
    name, sep, address = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{value!r}: expected NAME=ADDRESS")
    ipaddress.IPv4Address(address)
    return name, address


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--cidr", required=True)
    parser.add_argument("--master", action="append", type=parse_named, default=[])
    parser.add_argument("--worker", action="append", type=parse_named, default=[])
    parser.add_argument("--monitor", action="append", type=parse_named, default=[])
    parser.add_argument("--no-decoys", action="store_true")
    parser.add_argument("--stock", help="JSON file of parameters, secrets and buckets")
    args = parser.parse_args(argv)
    nodes = [Node(n, a, node_tags(args.cluster, "master")) for n, a in args.master]
    nodes += [Node(n, a, node_tags(args.cluster, "worker")) for n, a in args.worker]
    nodes += [Node(n, a, node_tags(args.cluster, "monitoring")) for n, a in args.monitor]
    if not args.no_decoys:
        network = ipaddress.IPv4Network(args.cidr)
        nodes += decoys(args.cluster, network, {node.address for node in nodes})
    instances = create_fleet(args.endpoint, args.region, args.cidr, nodes)
    if args.stock:
        with open(args.stock, encoding="utf-8") as handle:
            create_stock(args.endpoint, args.region, json.load(handle))
    print(json.dumps(instances))


if __name__ == "__main__":
    main()
