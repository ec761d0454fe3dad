"""Hashing and comparing the configuration per systemd unit, and stale units, end to end.

Each host is a FakeSystemd (canned ``systemctl list-unit-files`` / ``show`` output and the
environment each process was started with) over files in tmp_path; ``collect`` runs as the
module would on the node, ``compare`` as the action plugin does on the controller. Every host
has the host-wide ``config`` scope (airflow.cfg and the environment file all nodes share,
compared across all hosts) and one ``config:<unit>`` scope per unit (compared among the hosts
that run the unit).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fake_systemd import FakeSystemd, Unit

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import ReadError
from ansible_collections.dataops.airflow.plugins.module_utils.config_compare import compare
from ansible_collections.dataops.airflow.plugins.module_utils.config_digest import collect
from ansible_collections.dataops.airflow.plugins.module_utils.units import load_fingerprint_key

KEY = "k" * 32
PATTERN = "airflow-*.service"
MASTER_UNITS = ("airflow-api-server.service", "airflow-scheduler.service")
WORKER_UNIT = "airflow-celery-worker.service"

CFG = """\
[core]
parallelism = 32
executor = CeleryExecutor
[celery]
worker_concurrency = 16
"""
COMMON_ENV = "AIRFLOW__CELERY__BROKER_URL=redis://:Br0kerPassw0rd@redis:6379/0\n"
# What only the masters get.
SECRET_VALUES = (
    "FernetKeyThatMustNeverShow0123456789abcdef=",
    "postgresql://airflow:DbPassw0rdNeverShown@db/airflow",
    "JwtSecretNeverShown",
    "Br0kerPassw0rd",
)
SECRETS_ENV = f"""\
AIRFLOW__CORE__FERNET_KEY={SECRET_VALUES[0]}
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="{SECRET_VALUES[1]}"
AIRFLOW__API_AUTH__JWT_SECRET={SECRET_VALUES[2]}
"""
WORKER_ENV = "AIRFLOW__CORE__EXECUTE_TASKS_NEW_PYTHON_INTERPRETER=True\n"
MASTERS = ("af-master1", "af-master2")
WORKERS = tuple(f"af-worker{i}" for i in range(1, 6))


class Host:
    """One node: its files and its fake systemd."""

    def __init__(self, write: Callable[..., str], name: str, **env_files: str) -> None:
        self.name = name
        self.write = write
        self.cfg = write(f"{name}/airflow.cfg", CFG)
        self.lock = write(f"{name}/requirements.lock", "apache-airflow==3.0.6\n")
        common = self.common = write(f"{name}/airflow.env", COMMON_ENV)
        if name.startswith("af-master"):
            files = [common, write(f"{name}/secrets.env", env_files.get("secrets", SECRETS_ENV))]
            names = MASTER_UNITS
        else:
            files = [common, write(f"{name}/worker.env", env_files.get("worker", WORKER_ENV))]
            names = (WORKER_UNIT,)
        self.systemd = FakeSystemd(
            {unit: Unit(files=list(files), inputs=[self.cfg, *files, self.lock]) for unit in names},
            others=["airflow-task@.service enabled enabled", "airflow-sched.service alias -"],
        )

    def unit(self, name: str) -> Unit:
        return self.systemd.units[name]

    def drop_in(self, unit: str, restart: bool, **environment: str) -> None:
        """An operator's drop-in: ``[Service]`` ``Environment=NAME=value``."""
        target = self.unit(unit)
        target.environment.update(environment)
        target.drop_ins.append(f"/etc/systemd/system/{unit}.d/x.conf")
        if restart:
            self.systemd.start(unit)

    def hash(self, **kwargs) -> dict:
        kwargs.setdefault("unit_pattern", PATTERN)
        result = collect(
            kwargs.pop("scopes", ["config"]),
            self.cfg,
            kwargs.pop("env_files", [self.common]),
            digest_key=KEY,
            run=self.systemd,
            read_environ=self.systemd.read_environ,
            start_time=self.systemd.start_time,
            **kwargs,
        )
        result["warnings"] = result.get("warnings", [])
        return result


@pytest.fixture
def cluster(write: Callable[..., str]) -> dict[str, Host]:
    return {name: Host(write, name) for name in (*MASTERS, *WORKERS)}


def results_of(cluster: dict[str, Host], **kwargs) -> dict[str, dict]:
    return {name: host.hash(**kwargs) for name, host in cluster.items()}


def assert_no_secret(*texts: object) -> None:
    dumped = json.dumps(texts, default=str)
    for value in SECRET_VALUES:
        assert value not in dumped


# --- the module side ---------------------------------------------------------------------------


def test_each_loaded_unit_is_a_scope_of_its_own_beside_the_host_wide_one(
    cluster: dict[str, Host],
) -> None:
    master = cluster["af-master1"].hash()
    assert list(master["scopes"]) == ["config", *(f"config:{unit}" for unit in MASTER_UNITS)]
    assert sorted(master["hashes"]) == sorted(master["scopes"])
    # The host-wide scope: airflow.cfg and the shared environment file, no unit's own files.
    host_wide = master["scopes"]["config"]["digests"]
    assert {"core.parallelism", "celery.broker_url"} <= set(host_wide)
    assert "core.fernet_key" not in host_wide
    assert master["scopes"]["config"]["from_env"] == ["celery.broker_url"]
    scheduler = master["scopes"]["config:airflow-scheduler.service"]
    assert {"core.fernet_key", "database.sql_alchemy_conn", "celery.broker_url"} <= set(
        scheduler["digests"]
    )
    assert "core.fernet_key" in scheduler["sensitive"]
    assert "core.fernet_key" in scheduler["from_env"]
    worker = cluster["af-worker1"].hash()
    assert list(worker["scopes"]) == ["config", f"config:{WORKER_UNIT}"]
    assert worker["hashes"]["config"] == master["hashes"]["config"]
    digests = worker["scopes"][f"config:{WORKER_UNIT}"]["digests"]
    assert "core.fernet_key" not in digests  # the workers get no control-plane secrets
    assert "core.execute_tasks_new_python_interpreter" in digests
    # Templates and aliases printed by list-unit-files are not read.
    assert set(worker["units"]) == {WORKER_UNIT}
    assert worker["units"][WORKER_UNIT] == {
        "active_state": "active",
        "stale": False,
        "stale_reasons": [],
        "environment_files": cluster["af-worker1"].unit(WORKER_UNIT).files,
        "drop_ins": [],
        "scope": f"config:{WORKER_UNIT}",
        "error": None,
    }
    assert_no_secret(master, worker)


def test_one_systemctl_show_serves_the_states_and_the_environments(
    cluster: dict[str, Host],
) -> None:
    host = cluster["af-master1"]
    host.hash()
    assert [call[1] for call in host.systemd.calls] == ["list-unit-files", "show"]
    assert host.systemd.calls[0][-2:] == ["--", PATTERN]
    assert host.systemd.calls[1][-3:] == ["--", *MASTER_UNITS]


def test_explicit_units_skip_those_not_loaded_and_come_before_the_pattern(
    cluster: dict[str, Host],
) -> None:
    units = [WORKER_UNIT, "airflow-scheduler.service"]
    master = cluster["af-master1"].hash(units=units, unit_pattern=None)
    assert list(master["units"]) == ["airflow-scheduler.service"]  # no worker on a master
    assert master["warnings"] == []
    both = cluster["af-master1"].hash(units=["airflow-scheduler.service"])
    assert list(both["units"]) == ["airflow-scheduler.service", "airflow-api-server.service"]


def test_a_drop_in_override_is_part_of_that_units_scope(cluster: dict[str, Host]) -> None:
    host = cluster["af-worker1"]
    before = host.hash()["hashes"][f"config:{WORKER_UNIT}"]
    host.drop_in(WORKER_UNIT, restart=True, AIRFLOW__CELERY__WORKER_CONCURRENCY="1")
    after = host.hash()
    assert after["hashes"][f"config:{WORKER_UNIT}"] != before
    assert "celery.worker_concurrency" in after["scopes"][f"config:{WORKER_UNIT}"]["from_env"]
    assert after["units"][WORKER_UNIT]["drop_ins"] == [
        f"/etc/systemd/system/{WORKER_UNIT}.d/x.conf"
    ]
    assert after["units"][WORKER_UNIT]["stale"] is False


def test_exclude_patterns_of_the_config_scope_apply_per_unit(cluster: dict[str, Host]) -> None:
    result = cluster["af-worker1"].hash(exclude=["celery.*"])
    for name in ("config", f"config:{WORKER_UNIT}"):
        scope = result["scopes"][name]
        assert scope["excluded"] == ["celery.broker_url", "celery.worker_concurrency"]
        assert not any(key.startswith("celery.") for key in scope["digests"])


def test_a_unit_that_reads_another_airflow_cfg_warns_naming_it(cluster: dict[str, Host]) -> None:
    host = cluster["af-master1"]
    host.unit("airflow-scheduler.service").environment["AIRFLOW_CONFIG"] = "/srv/other.cfg"
    result = host.hash()
    assert any(
        w.startswith("airflow-scheduler.service: its environment makes it read /srv/other.cfg")
        for w in result["warnings"]
    )
    assert "env:AIRFLOW_CONFIG" in result["scopes"]["config:airflow-scheduler.service"]["digests"]


def test_an_unreadable_environment_file_fails_that_unit_only(
    cluster: dict[str, Host], tmp_path
) -> None:
    host = cluster["af-master1"]
    missing = str(tmp_path / "gone.env")
    host.unit("airflow-api-server.service").files.append(missing)
    result = host.hash()
    assert list(result["scopes"]) == ["config", "config:airflow-scheduler.service"]
    api = result["units"]["airflow-api-server.service"]
    assert api["scope"] is None
    assert api["error"] == f"{missing}: missing"


def test_a_bad_airflow_cfg_still_fails_the_module(cluster: dict[str, Host]) -> None:
    host = cluster["af-worker1"]
    host.write("af-worker1/airflow.cfg", "[core]\nparallelism = 1\nparallelism = 2\n")
    with pytest.raises(ReadError):
        host.hash()


def test_units_are_read_without_the_config_scope_too(cluster: dict[str, Host], tmp_path) -> None:
    venv = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    venv.mkdir(parents=True)
    result = cluster["af-worker1"].hash(scopes=["packages"], venv=str(tmp_path / "venv"))
    assert list(result["scopes"]) == ["packages"]
    assert result["units"][WORKER_UNIT]["scope"] is None
    assert result["units"][WORKER_UNIT]["error"] is None


def test_units_need_a_runner(write: Callable[..., str]) -> None:
    with pytest.raises(ValueError, match="runner"):
        collect(["config"], write("airflow.cfg", CFG), [], units=["x.service"])


# --- fallback: no unit ---------------------------------------------------------------------------


def test_without_units_the_result_is_unchanged(write: Callable[..., str]) -> None:
    cfg = write("airflow.cfg", CFG)
    env = write("airflow.env", COMMON_ENV + SECRETS_ENV)
    plain = collect(["config"], cfg, [env], digest_key=KEY)
    assert "units" not in plain
    assert list(plain["scopes"]) == ["config"]
    explicit_none = collect(
        ["config"], cfg, [env], digest_key=KEY, units=None, unit_pattern=None, run=FakeSystemd({})
    )
    assert explicit_none == plain
    empty = collect(["config"], cfg, [env], digest_key=KEY, units=[], run=FakeSystemd({}))
    assert empty == plain


def test_no_unit_found_falls_back_to_env_files_with_a_warning(write: Callable[..., str]) -> None:
    cfg = write("airflow.cfg", CFG)
    env = write("airflow.env", COMMON_ENV + SECRETS_ENV)
    plain = collect(["config"], cfg, [env], digest_key=KEY)
    systemd = FakeSystemd({"airflow-x.service": Unit(load_state="masked")})
    found_none = collect(["config"], cfg, [env], digest_key=KEY, unit_pattern=PATTERN, run=systemd)
    assert found_none["scopes"] == plain["scopes"]
    assert found_none["hashes"] == plain["hashes"]
    assert found_none["units"] == {}
    assert found_none["warnings"] == [
        "no loaded systemd unit found (pattern: airflow-*.service): only the host-wide "
        "configuration (airflow.cfg and env_files) was hashed"
    ]
    nothing = collect(
        ["config"], cfg, [env], digest_key=KEY, unit_pattern="zz-*.service", run=FakeSystemd({})
    )
    assert nothing["scopes"] == plain["scopes"]


# --- the comparison ------------------------------------------------------------------------------


def test_masters_and_workers_with_different_env_files_agree(cluster: dict[str, Host]) -> None:
    results = results_of(cluster)
    out = compare(results)
    assert out["consistent"] is True, out["report"]
    worker_hash = results["af-worker1"]["hashes"][f"config:{WORKER_UNIT}"]
    assert out["report"] == [
        f"config: {results['af-worker1']['hashes']['config']} on 7 hosts",
        f"config airflow-api-server.service: "
        f"{results['af-master1']['hashes']['config:airflow-api-server.service']} on 2 hosts",
        f"config airflow-celery-worker.service: {worker_hash} on 5 hosts",
        f"config airflow-scheduler.service: "
        f"{results['af-master1']['hashes']['config:airflow-scheduler.service']} on 2 hosts",
    ]
    assert out["msg"] == (
        "7 hosts agree on config, config airflow-api-server.service, "
        "config airflow-celery-worker.service, config airflow-scheduler.service"
    )
    assert out["stale"] == {} and out["unreadable_units"] == {}
    assert out["scopes"]["config"]["hosts"] == 7
    assert out["scopes"][f"config:{WORKER_UNIT}"]["hosts"] == 5


def test_a_drop_in_on_one_worker_is_named_with_its_key(cluster: dict[str, Host]) -> None:
    cluster["af-worker1"].drop_in(
        WORKER_UNIT, restart=True, AIRFLOW__CELERY__WORKER_CONCURRENCY="1"
    )
    results = results_of(cluster)
    out = compare(results)
    assert out["consistent"] is False
    lines = out["report"]
    summary = next(x for x in lines if x.startswith(f"config {WORKER_UNIT}:"))
    assert summary.startswith(f"config {WORKER_UNIT}: 4 hosts agree (hmac-sha256:")
    assert summary.endswith("); af-worker1 differs on celery.worker_concurrency")
    detail = lines[lines.index(summary) + 1]
    assert detail == (
        f"  config {WORKER_UNIT} celery.worker_concurrency: "
        "A = 4 hosts (af-worker2, af-worker3, af-worker4, af-worker5); B = af-worker1"
    )
    # The masters' units and the host-wide configuration agree: the drop-in is the worker's.
    assert any(x.startswith("config airflow-scheduler.service: hmac-sha256:") for x in lines)
    assert lines[0].startswith("config: hmac-sha256:") and lines[0].endswith(" on 7 hosts")
    assert out["scopes"][f"config:{WORKER_UNIT}"]["differing_keys"] == {
        "celery.worker_concurrency": {
            "A": ["af-worker2", "af-worker3", "af-worker4", "af-worker5"],
            "B": ["af-worker1"],
        }
    }
    assert_no_secret(out, results)


def test_a_drop_in_the_running_worker_lacks_makes_it_stale(cluster: dict[str, Host]) -> None:
    cluster["af-worker1"].drop_in(
        WORKER_UNIT, restart=False, AIRFLOW__CELERY__WORKER_CONCURRENCY="1"
    )
    out = compare(results_of(cluster))
    assert out["consistent"] is False
    assert any(x.endswith("af-worker1 differs on celery.worker_concurrency") for x in out["report"])
    assert (
        f"af-worker1: {WORKER_UNIT} runs with stale settings (runs with another environment "
        "than its unit sets: AIRFLOW__CELERY__WORKER_CONCURRENCY)"
    ) in out["report"]
    assert out["stale"] == {
        "af-worker1": {
            WORKER_UNIT: [
                "runs with another environment than its unit sets: "
                "AIRFLOW__CELERY__WORKER_CONCURRENCY"
            ]
        }
    }


def test_a_stale_unit_alone_makes_the_cluster_inconsistent(cluster: dict[str, Host]) -> None:
    # The lock changed after af-master2's scheduler started, and it was not restarted.
    host = cluster["af-master2"]
    host.write("af-master2/requirements.lock", "apache-airflow==3.1.0\n")
    out = compare(results_of(cluster))
    assert out["consistent"] is False
    assert not any("differs on" in x for x in out["report"])
    stale = [x for x in out["report"] if "stale" in x]
    assert stale == [
        f"af-master2: {unit} runs with stale settings (started before its configuration or "
        "packages changed (inputs fingerprint differs))"
        for unit in MASTER_UNITS
    ]
    assert out["msg"] == "\n".join(out["report"])


def test_a_different_secret_is_named_never_shown(cluster: dict[str, Host]) -> None:
    other = SECRETS_ENV.replace(SECRET_VALUES[0], "AnotherFernetKeyNeverShown0123456789ab=")
    cluster["af-master2"] = Host(cluster["af-master1"].write, "af-master2", secrets=other)
    results = results_of(cluster)
    out = compare(results)
    lines = out["report"]
    assert any(
        x.startswith("config airflow-scheduler.service: 1 host agrees")
        and x.endswith("af-master2 differs on core.fernet_key")
        for x in lines
    )
    assert (
        "  config airflow-scheduler.service core.fernet_key (secret): A = af-master1; "
        "B = af-master2"
    ) in lines
    assert_no_secret(out, results)
    assert "AnotherFernetKeyNeverShown" not in json.dumps(results) + json.dumps(out)


def test_a_unit_whose_configuration_cannot_be_read_is_reported(
    cluster: dict[str, Host], tmp_path
) -> None:
    missing = str(tmp_path / "gone.env")
    api = "airflow-api-server.service"
    cluster["af-master2"].unit(api).files.append(missing)
    out = compare(results_of(cluster))
    assert out["consistent"] is False
    assert out["report"][-1] == f"af-master2: could not be read ({api}: {missing}: missing)"
    assert out["unreadable_units"] == {"af-master2": {api: f"{missing}: missing"}}
    # Its scheduler and the other api-server still compare (and agree).
    assert any(x.startswith(f"config {api}: hmac-sha256:") for x in out["report"])
    assert out["scopes"][f"config:{api}"]["hosts"] == 1
    assert out["scopes"]["config:airflow-scheduler.service"]["hosts"] == 2
    assert out["unreadable"] == {}


def test_a_host_with_no_readable_unit_is_still_compared_host_wide(
    cluster: dict[str, Host], tmp_path
) -> None:
    missing = str(tmp_path / "gone.env")
    cluster["af-worker3"].unit(WORKER_UNIT).files.append(missing)
    results = results_of(cluster)
    assert list(results["af-worker3"]["scopes"]) == ["config"]
    out = compare(results)
    assert out["consistent"] is False
    assert out["unreadable"] == {}
    assert out["unreadable_units"] == {"af-worker3": {WORKER_UNIT: f"{missing}: missing"}}
    assert out["report"][-1] == f"af-worker3: could not be read ({WORKER_UNIT}: {missing}: missing)"
    assert out["scopes"]["config"]["hosts"] == 7
    assert out["scopes"][f"config:{WORKER_UNIT}"]["hosts"] == 4


def test_a_host_without_units_is_not_compared_with_the_units(
    cluster: dict[str, Host], write: Callable[..., str]
) -> None:
    results = results_of(cluster)
    cfg = write("bare/airflow.cfg", CFG)
    results["af-worker9"] = collect(
        ["config"],
        cfg,
        [write("bare/airflow.env", COMMON_ENV)],
        digest_key=KEY,
        unit_pattern=PATTERN,
        run=FakeSystemd({}),
    )
    out = compare(results)
    assert out["consistent"] is False
    # Its host-wide configuration is the others': compared, and it agrees.
    assert out["report"][0] == f"config: {results['af-worker1']['hashes']['config']} on 8 hosts"
    assert out["report"][-1] == (
        "af-worker9 has no loaded unit: only the host-wide configuration was compared there, "
        "none of the units of af-master1, af-master2, af-worker1, af-worker2, af-worker3, "
        "af-worker4, af-worker5"
    )
    # Its units' scopes are simply absent: they compare among the hosts that have them.
    assert out["scopes"][f"config:{WORKER_UNIT}"]["missing"] == []


def test_host_wide_differences_are_named_across_masters_and_workers(
    cluster: dict[str, Host],
) -> None:
    cluster["af-worker2"].write("af-worker2/airflow.cfg", CFG.replace("= 32", "= 8"))
    out = compare(results_of(cluster))
    assert out["consistent"] is False
    lines = out["report"]
    assert lines[0].startswith("config: 6 hosts agree (hmac-sha256:")
    assert lines[0].endswith("); af-worker2 differs on core.parallelism")
    assert lines[1] == (
        "  config core.parallelism: A = 6 hosts (af-master1, af-master2, af-worker1, af-worker3, "
        "af-worker4, af-worker5); B = af-worker2"
    )
    # The unit reads that airflow.cfg too, so its scope names the same key; the masters' agree.
    assert any(
        x.startswith(f"config {WORKER_UNIT}: 4 hosts agree")
        and x.endswith("af-worker2 differs on core.parallelism")
        for x in lines
    )
    assert any(x.startswith("config airflow-scheduler.service: hmac-sha256:") for x in lines)


# --- the fingerprint key -----------------------------------------------------------------------


def test_a_host_without_the_fingerprint_key_judges_staleness_without_fingerprints(
    cluster: dict[str, Host], tmp_path
) -> None:
    host = cluster["af-master2"]
    host.write("af-master2/requirements.lock", "apache-airflow==3.1.0\n")
    missing = str(tmp_path / "none" / "fingerprint.key")
    result = host.hash(fingerprint_key_file=missing)
    assert all(not state["stale"] for state in result["units"].values()), result["units"]
    warned = [w for w in result["warnings"] if w.startswith("no fingerprint key on this host")]
    assert len(warned) == 1
    assert missing in warned[0]
    assert "staleness judged from the environment only" in warned[0]
    assert not (tmp_path / "none").exists()
    # The other hosts, without the warning, are compared as before (plain fingerprints).
    assert host.hash()["units"][MASTER_UNITS[0]]["stale"] is True


def test_units_written_with_the_hosts_key_are_judged_with_it(
    write: Callable[..., str], tmp_path
) -> None:
    key_file = str(tmp_path / "keys" / "fingerprint.key")
    key = load_fingerprint_key(key_file, create=True)
    host = Host(write, "af-worker1")
    host.unit(WORKER_UNIT).key = key
    host.systemd.start(WORKER_UNIT)
    fresh = host.hash(fingerprint_key_file=key_file)
    assert fresh["units"][WORKER_UNIT]["stale"] is False
    assert not any("fingerprint key" in w for w in fresh["warnings"])
    # Unkeyed, the same unit does not match (what the key is for).
    assert host.hash()["units"][WORKER_UNIT]["stale"] is True
    host.write("af-worker1/requirements.lock", "apache-airflow==3.1.0\n")
    stale = host.hash(fingerprint_key_file=key_file)["units"][WORKER_UNIT]
    assert stale["stale_reasons"] == [
        "started before its configuration or packages changed (inputs fingerprint differs)"
    ]


def test_no_fingerprint_key_warning_when_no_unit_carries_a_fingerprint(
    write: Callable[..., str], tmp_path
) -> None:
    cfg = write("airflow.cfg", CFG)
    systemd = FakeSystemd({WORKER_UNIT: Unit()})
    result = collect(
        ["config"],
        cfg,
        [],
        digest_key=KEY,
        units=[WORKER_UNIT, "airflow-scheduler.service"],
        run=systemd,
        read_environ=systemd.read_environ,
        start_time=systemd.start_time,
        fingerprint_key_file=str(tmp_path / "none"),
    )
    assert list(result["units"]) == [WORKER_UNIT]
    assert not any("fingerprint key" in w for w in result["warnings"])
