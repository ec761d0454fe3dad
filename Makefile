# Entry points. `make demo` and `make test` are all a new machine needs.
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Each step's time and result, for .ci/run's digest (scripts/step.sh; silent outside CI).
STEP := bash scripts/step.sh

.PHONY: help setup lint specs unit aws sanity molecule cluster ec2 test demo demo-down bench pins docs

help:
	@echo "make demo       set up, deploy the local Docker cluster, run the example DAG"
	@echo "make demo-down  remove the demo cluster"
	@echo "make test       lint, unit tests, AWS tests (moto), sanity, molecule default + aws + cluster (what CI runs)"
	@echo "make cluster    the 3-master, 5-worker scenario and its drills (rolling restart, failover, outages)"
	@echo "make ec2        EC2 in moto: the shipped inventory over SSH, secrets from SSM, task logs in S3"
	@echo "make bench      benchmarks (docs/benchmarks.md)"
	@echo "make pins       regenerate requirements/dev.txt and the Airflow locks"
	@echo "make docs       regenerate role READMEs from meta/argument_specs.yml"

setup:
	$(STEP) setup bash scripts/setup.sh

lint: setup
	yamllint --strict .
	$(STEP) ansible-lint ansible-lint --profile production
	ruff check .
	ruff format --check .
	python scripts/role_specs.py check

unit: setup
	$(STEP) unit pytest -q tests/unit

# The EC2 inventory and the AWS secrets lookups against moto's server on loopback (no Docker).
aws: setup
	$(STEP) aws-moto pytest -q -p no:cacheprovider tests/aws

sanity: setup
	$(STEP) sanity bash scripts/sanity.sh

# One scenario at a time: two would share 2 cores. default (about 12 minutes here), EC2 in moto
# over SSH with monitoring (about 6), the baked image (1), then the reference shape of 3 masters
# and 5 workers with its drills (about 18). All of `make test`: 40 minutes (docs/benchmarks.md).
molecule: setup
	$(STEP) default molecule test --scenario-name default
	$(STEP) aws molecule test --scenario-name aws
	$(STEP) bake bash tests/image/bake.sh
	$(STEP) cluster molecule test --scenario-name cluster

# The cluster boots from a baked image (tests/image/bake.sh: playbooks/bake_image.yml, as for an AMI).
cluster: setup
	bash tests/image/bake.sh
	molecule test --scenario-name cluster

# EC2 in moto: site.yml over SSH against the shipped aws_ec2 inventory, secrets from SSM and
# Secrets Manager, task logs in S3.
ec2: setup
	molecule test --scenario-name aws

test: lint unit aws sanity molecule

demo: setup
	bash tests/demo/demo.sh up

demo-down: setup
	bash tests/demo/demo.sh down

bench: setup
	bash bench/install.sh
	bash bench/converge.sh
	bash bench/config_hash.sh
	bash bench/ssh_vs_docker.sh

pins:
	bash scripts/update-pins.sh

docs: setup
	python scripts/role_specs.py readme
