"""Configuration from the environment (CONTRACT "Configuration"), read the same by every process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.envconfig import ClientConfigProfile

from routing.durations import parse_duration
from routing.limits import quote

RECONCILE_EVERY = "SWITCHBOARD_RECONCILE_EVERY"
WORKFLOW_CACHE = "SWITCHBOARD_WORKFLOW_CACHE"
WORKFLOW_CACHE_DEFAULT = 8_000  # conversations kept in the worker's memory: a 1 GiB worker's (about 100 kB each)
RECONCILE_BOUNDS = (timedelta(seconds=1), timedelta(hours=1))


DEFAULT_ADDRESS = "localhost:7233"  # CONTRACT "Configuration"
DEFAULT_NAMESPACE = "default"
# The standard variables of Temporal's environment configuration that name a file, and the flag.
TLS_FILES = ("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH")
BOOLEANS = {"1": True, "true": True, "0": False, "false": False}


class ConfigError(RuntimeError):
    """A setting that cannot be used; the message names the variable (or file) and the problem."""


@dataclass(frozen=True)
class Settings:
    temporal_address: str
    namespace: str
    task_queue: str
    database_url: str | None
    directory: str | None
    # Client.connect options from the Temporal profile beyond address and namespace: tls, api_key,
    # rpc_metadata (``temporal_profile``).
    temporal: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        profile = temporal_profile(env)
        return cls(
            temporal_address=address(profile.pop("target_host", None) or DEFAULT_ADDRESS),
            namespace=profile.pop("namespace", None) or DEFAULT_NAMESPACE,
            task_queue=env.get("SWITCHBOARD_TASK_QUEUE", "switchboard"),
            database_url=env.get("SWITCHBOARD_DATABASE_URL") or None,
            directory=env.get("SWITCHBOARD_DIRECTORY") or None,
            temporal=profile,
        )


def address(value: str) -> str:
    """A Temporal frontend's ``host:port`` (a bracketed IPv6 host too); anything else would fail
    deep inside the client's connect, so it is named here."""
    host, sep, port = value.rpartition(":")
    if (not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536
            or any(c.isspace() or c in "/@" for c in value) or (":" in host and not host.startswith("["))):
        raise ConfigError(f"TEMPORAL_ADDRESS (or the profile's address): {quote(value)} is not host:port "
                          "(e.g. localhost:7233, or <namespace>.<account>.tmprl.cloud:7233)")
    return value


def temporal_profile(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The Temporal connection as the ecosystem configures it (``temporalio.envconfig``): the
    profile ``TEMPORAL_PROFILE`` (default ``default``) of the TOML file ``TEMPORAL_CONFIG_FILE``
    (default: the user's ``temporal.toml``, if any), overridden by the standard variables
    (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS``,
    ``TEMPORAL_TLS_*``, ``TEMPORAL_GRPC_META_*``). Returns ``Client.connect`` keyword arguments,
    with the certificates read; anything unusable is a ``ConfigError`` naming it."""
    config_file = env.get("TEMPORAL_CONFIG_FILE")
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"TEMPORAL_CONFIG_FILE: no file {quote(config_file)}")
    if "TEMPORAL_TLS" in env and env["TEMPORAL_TLS"].strip().lower() not in BOOLEANS:
        raise ConfigError(f"TEMPORAL_TLS: {quote(env['TEMPORAL_TLS'])} is not true or false")
    for name in TLS_FILES:
        if env.get(name) and not Path(env[name]).is_file():
            raise ConfigError(f"{name}: no file {quote(env[name])}")
    try:
        profile = ClientConfigProfile.load(override_env_vars=dict(env))
        tls = profile.tls
        if tls and bool(tls.client_cert) != bool(tls.client_private_key):
            raise ConfigError("Temporal TLS: a client certificate and its key go together (mTLS: "
                              "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or the profile's "
                              "client_cert and client_key): give both or neither")
        return dict(profile.to_client_connect_config())
    except ConfigError:
        raise
    except OSError as exc:  # a certificate the profile file names
        raise ConfigError(f"Temporal profile: cannot read {quote(str(exc.filename))}: {exc.strerror}") from None
    except Exception as exc:  # the SDK's own ConfigError: a bad TOML file, an unknown profile
        raise ConfigError(f"Temporal configuration ({config_file or 'temporal.toml'}): {exc}") from None


def reconcile_every(env: Mapping[str, str] = os.environ) -> timedelta:
    """How often the reconciler sweeps (SPEC R8.1): ``SWITCHBOARD_RECONCILE_EVERY``, default 60s.

    Read by the processes that schedule it (worker, ``dev``) only, so a bad value stops them at
    start with the variable named, and leaves the gateway and the CLI alone."""
    value = env.get(RECONCILE_EVERY) or "60s"
    low, high = RECONCILE_BOUNDS
    try:
        every = timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise RuntimeError(f"{RECONCILE_EVERY}: {exc}") from None
    if not low <= every <= high:
        raise RuntimeError(f"{RECONCILE_EVERY}: {quote(value)} is outside 1s to 1h "
                           "(how long a slot may stay stranded after its conversation ends)")
    return every


def workflow_cache(env: Mapping[str, str] = os.environ) -> int:
    """How many conversations a worker keeps cached: ``SWITCHBOARD_WORKFLOW_CACHE``, default
    8,000, what a worker of 1 GiB holds. A cached conversation costs about 80 kB of RSS, an open
    one about 20 kB more in the store and the SDK; one that is not cached (the least recently
    used go first: those queued the longest) replays its run, at most about 90 events and some
    0.1 s of CPU, on its next task. Size it to the worker's memory: (memory - 200 MB) / 100 kB."""
    raw = (env.get(WORKFLOW_CACHE) or "").strip()
    if not raw:
        return WORKFLOW_CACHE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise ConfigError(f"{WORKFLOW_CACHE}: {quote(raw)} is not a whole number of conversations from 1 to "
                          "1,000,000")
    return int(raw)
