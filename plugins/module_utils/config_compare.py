"""Compare ``airflow_config_hash`` results across hosts and describe any difference.

Used by the ``airflow_config_compare`` action plugin on the controller. Works on digests only:
a report names hosts, scopes, keys and variant labels (A, B, ...), never values.

Hosts hashed per systemd unit (``airflow_config_hash`` with ``units`` or ``unit_pattern``) have
one ``config:<unit>`` scope per unit beside the host-wide ``config`` scope (airflow.cfg and the
environment files every node shares). ``config`` is compared across all hosts, as without
units; each ``config:<unit>`` scope among the hosts that have that unit (masters have a
scheduler, workers a Celery worker; a unit on one host only is fine) and is reported as
``config <unit>``. The hosts' ``units`` states add stale processes and units whose
configuration could not be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ansible_collections.dataops.airflow.plugins.module_utils.config_digest import (
    UNIT_SCOPE_PREFIX,
)

SCOPE_ORDER = ("config", "packages", "dags")
NOT_SET = "not set"
_MAX_REASON = 300


class HostResult(NamedTuple):
    host: str
    scopes: Mapping[str, Any] | None  # None when the host could not be read
    reason: str  # why it could not be read ("" when it could)
    keying: tuple[str, str]  # (digest algorithm, key id)
    units: Mapping[str, Any] | None = None  # unit -> state, when hashed per unit


def _clip(text: str, limit: int = _MAX_REASON) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _units(value: Any) -> dict[str, Mapping[str, Any]]:
    """The ``units`` of a result, unit -> state; empty when it has none."""
    if not isinstance(value, Mapping):
        return {}
    return {str(unit): state for unit, state in value.items() if isinstance(state, Mapping)}


def read_result(host: str, result: Any) -> HostResult:
    """Turn one host's registered result (or its absence) into a HostResult."""
    if not isinstance(result, Mapping):
        return HostResult(
            host, None, "no result: the host was unreachable or did not run", ("", "")
        )
    msg = _clip(result.get("msg") or "")
    if result.get("unreachable"):
        return HostResult(host, None, f"unreachable: {msg}" if msg else "unreachable", ("", ""))
    if result.get("skipped"):
        return HostResult(host, None, "the hash task was skipped", ("", ""))
    if result.get("failed"):
        return HostResult(host, None, msg or "the hash task failed", ("", ""))
    units = _units(result.get("units"))
    scopes = result.get("scopes")
    if not isinstance(scopes, Mapping) or not scopes:
        # A failed hash task registered with failed_when: false lands here, with its msg; a host
        # whose every unit's environment was unreadable, with those reasons.
        errors = "; ".join(f"{u}: {_clip(s['error'])}" for u, s in units.items() if s.get("error"))
        reason = errors or msg or "the result holds no scope hashes"
        return HostResult(host, None, reason, ("", ""), units)
    keying = (str(result.get("digest_algorithm") or ""), str(result.get("digest_key_id") or ""))
    return HostResult(host, scopes, "", keying, units)


def is_unit_scope(scope: str) -> bool:
    return scope.startswith(UNIT_SCOPE_PREFIX)


def scope_label(scope: str) -> str:
    """How reports name a scope: ``config:airflow-scheduler.service`` -> ``config airflow-...``."""
    if is_unit_scope(scope):
        return f"config {scope[len(UNIT_SCOPE_PREFIX) :]}"
    return scope


def order_scopes(names: Iterable[str]) -> list[str]:
    """config, its per-unit scopes by unit name, packages, dags, then anything else by name."""

    def key(scope: str) -> tuple[int, str]:
        base = "config" if is_unit_scope(scope) else scope
        rank = SCOPE_ORDER.index(base) if base in SCOPE_ORDER else len(SCOPE_ORDER)
        return rank, "" if scope == base else scope

    return sorted(set(names), key=key)


def short_hash(value: str, hex_chars: int = 12) -> str:
    algorithm, colon, digest = value.rpartition(":")
    return f"{algorithm}{colon}{digest[:hex_chars]}…" if len(digest) > hex_chars else value


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def host_list(hosts: Sequence[str], limit: int) -> str:
    """``worker-4`` or ``3 hosts (a, b, c)``, cut to ``limit`` names."""
    if len(hosts) == 1:
        return hosts[0]
    names = ", ".join(hosts[:limit])
    if len(hosts) > limit:
        names += f", +{len(hosts) - limit} more"
    return f"{len(hosts)} hosts ({names})"


def name_list(names: Sequence[str], limit: int) -> str:
    text = ", ".join(names[:limit])
    if len(names) > limit:
        text += f", +{len(names) - limit} more"
    return text


def _reference_group(groups: Mapping[str, list[str]], order: Mapping[str, int]) -> str:
    """The hash most hosts share; a tie goes to the group holding the earliest host."""
    return max(groups, key=lambda h: (len(groups[h]), -min(order[x] for x in groups[h])))


def _variant_labels(variants: Mapping[str | None, list[str]], reference: str | None) -> dict:
    """Label digests A, B, C...; the reference hosts' variant first, absence as 'not set'."""
    ordered = sorted(variants, key=lambda d: (d != reference, -len(variants[d])))
    labels: dict[str | None, str] = {}
    letter = 0
    for digest in ordered:
        if digest is None:
            labels[digest] = NOT_SET
        else:
            labels[digest] = chr(ord("A") + letter) if letter < 26 else f"V{letter + 1}"
            letter += 1
    return labels


def compare_scope(
    scope: str,
    readable: Sequence[HostResult],
    max_hosts: int = 8,
    max_keys: int = 10,
) -> tuple[bool, list[str], dict[str, Any]]:
    """Compare one scope across the hosts that could be read: (agree, report lines, details)."""
    title = scope_label(scope)
    order = {r.host: i for i, r in enumerate(readable)}
    have = [r for r in readable if scope in r.scopes]
    missing = [r.host for r in readable if scope not in r.scopes]
    groups: dict[str, list[str]] = {}
    for r in have:
        groups.setdefault(str(r.scopes[scope].get("hash")), []).append(r.host)
    details: dict[str, Any] = {
        "hosts": len(have),
        "groups": [{"hash": h, "hosts": hosts} for h, hosts in groups.items()],
        "differing_keys": {},
        "missing": missing,
    }
    if len(groups) == 1 and not missing:
        only = next(iter(groups))
        details["hash"] = only
        return True, [f"{title}: {only} on {plural(len(have), 'host')}"], details
    if not groups:
        return False, [f"{title}: no host hashed this scope"], details

    reference = _reference_group(groups, order)
    ref_host = next(r for r in have if r.host == groups[reference][0])
    ref_digests = dict(ref_host.scopes[scope].get("digests") or {})
    by_keys: dict[tuple[str, ...], list[str]] = {}
    variants: dict[str, dict[str | None, list[str]]] = {}
    for r in have:
        if str(r.scopes[scope].get("hash")) == reference:
            continue  # same hash, same digests
        digests = r.scopes[scope].get("digests") or {}
        differing = sorted(
            k for k in set(ref_digests) | set(digests) if ref_digests.get(k) != digests.get(k)
        )
        by_keys.setdefault(tuple(differing), []).append(r.host)
        for key in differing:
            variants.setdefault(key, {})
    for key, seen in variants.items():
        for r in have:
            seen.setdefault((r.scopes[scope].get("digests") or {}).get(key), []).append(r.host)

    ref_hosts = groups[reference]
    parts = []
    for keys, hosts in by_keys.items():
        verb = "differs" if len(hosts) == 1 else "differ"
        what = f"on {name_list(keys, max_keys)}" if keys else "(same digests, different hash)"
        parts.append(f"{name_list(hosts, max_hosts)} {verb} {what}")
    if missing:
        parts.append(f"{name_list(missing, max_hosts)} did not hash this scope")
    agree = "host agrees" if len(ref_hosts) == 1 else "hosts agree"
    lines = [f"{title}: {len(ref_hosts)} {agree} ({short_hash(reference)}); " + "; ".join(parts)]

    sensitive = set()
    for r in have:
        sensitive.update(r.scopes[scope].get("sensitive") or ())
    for count, key in enumerate(sorted(variants)):
        labels = _variant_labels(variants[key], ref_digests.get(key))
        grouped = {labels[d]: hosts for d, hosts in variants[key].items()}
        details["differing_keys"][key] = grouped
        if count < max_keys:
            mark = " (secret)" if key in sensitive else ""
            shown = "; ".join(
                f"{label} = {host_list(hosts, max_hosts)}"
                for label, hosts in sorted(grouped.items(), key=lambda i: (i[0] == NOT_SET, i[0]))
            )
            lines.append(f"  {title} {key}{mark}: {shown}")
    hidden = len(variants) - max_keys
    if hidden > 0:
        lines.append(f"  {title}: {plural(hidden, 'more differing key')} not listed")
    return False, lines, details


def _participants(scope: str, readable: Sequence[HostResult]) -> list[HostResult]:
    """The hosts a scope is compared among.

    A unit's scope: the hosts that have it (a unit present on some hosts only is fine).
    Anything else, the host-wide ``config`` included: every host read, so that a host missing
    it is named.
    """
    if is_unit_scope(scope):
        return [h for h in readable if scope in h.scopes]
    return list(readable)


def _unit_findings(
    hosts: Sequence[HostResult],
) -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, str]]]:
    """Stale units (host -> unit -> reasons) and units whose configuration could not be read.

    The latter only for hosts that were read: for the others, the host's reason says it.
    """
    stale: dict[str, dict[str, list[str]]] = {}
    unreadable: dict[str, dict[str, str]] = {}
    for h in hosts:
        for unit, state in (h.units or {}).items():
            if state.get("stale"):
                reasons = [_clip(r) for r in state.get("stale_reasons") or ()]
                stale.setdefault(h.host, {})[unit] = reasons
            scope = state.get("scope")
            if h.scopes is None:
                continue
            if state.get("error"):
                unreadable.setdefault(h.host, {})[unit] = _clip(state["error"])
            elif scope and scope not in h.scopes:
                unreadable.setdefault(h.host, {})[unit] = "its configuration was not hashed"
    return stale, unreadable


def compare(
    results: Mapping[str, Any],
    max_hosts: int = 8,
    max_keys: int = 10,
) -> dict[str, Any]:
    """Compare every host's result. ``results`` maps host -> registered result, in play order."""
    hosts = [read_result(host, result) for host, result in results.items()]
    readable = [h for h in hosts if h.scopes is not None]
    unreadable = {h.host: h.reason for h in hosts if h.scopes is None}
    report: list[str] = []
    scopes: dict[str, Any] = {}
    consistent = bool(readable) and not unreadable

    keyings: dict[tuple[str, str], list[str]] = {}
    for h in readable:
        keyings.setdefault(h.keying, []).append(h.host)
    if len(keyings) > 1:
        consistent = False
        groups = "; ".join(
            f"{name_list(hosts, max_hosts)}: {algorithm or '?'} key {key_id or 'none'}"
            for (algorithm, key_id), hosts in keyings.items()
        )
        report.append(
            "hosts were hashed with different digest keys, so their digests cannot be compared "
            f"(pass one digest_key to every host of a run): {groups}"
        )
    elif readable:
        for scope in order_scopes(s for h in readable for s in h.scopes):
            participants = _participants(scope, readable)
            if not participants:
                continue
            agree, lines, details = compare_scope(scope, participants, max_hosts, max_keys)
            consistent = consistent and agree
            report.extend(lines)
            scopes[scope] = details
        # Hashed per unit on some hosts and found no unit on others (whose unit scopes then
        # are simply absent): those run none of the Airflow units the others run.
        per_unit = [h.host for h in readable if h.units]
        no_unit = [h.host for h in readable if not h.units]
        if no_unit and per_unit:
            consistent = False
            have = "has" if len(no_unit) == 1 else "have"
            report.append(
                f"{name_list(no_unit, max_hosts)} {have} no loaded unit: only the host-wide "
                "configuration was compared there, none of the units of "
                f"{name_list(per_unit, max_hosts)}"
            )

    stale, unreadable_units = _unit_findings(hosts)
    for host, units in stale.items():
        for unit, reasons in units.items():
            consistent = False
            why = "; ".join(reasons) or "no reason given"
            report.append(f"{host}: {unit} runs with stale settings ({why})")
    if not readable:
        report.append(f"no host could be read ({plural(len(hosts), 'host')} in the play)")
    report.extend(f"{host}: could not be read ({reason})" for host, reason in unreadable.items())
    for host, units in unreadable_units.items():
        for unit, reason in units.items():
            consistent = False
            report.append(f"{host}: could not be read ({unit}: {reason})")

    if consistent:
        verb = "agrees" if len(readable) == 1 else "agree"
        names = ", ".join(scope_label(s) for s in scopes)
        msg = f"{plural(len(readable), 'host')} {verb} on {names}"
    else:
        msg = "\n".join(report)
    return {
        "consistent": consistent,
        "report": report,
        "msg": msg,
        "scopes": scopes,
        "unreadable": unreadable,
        "unreadable_units": unreadable_units,
        "stale": stale,
        "hosts": len(hosts),
    }
