"""The Temporal connection as the ecosystem configures it (issue 11 item 6): ``temporalio.envconfig``
profiles and the standard TEMPORAL_* variables, with a clear error for each bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from temporalio.service import TLSConfig

from service.config import ConfigError, Settings, workflow_cache
from switchboard.cli import main

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_defaults_are_the_contracts():
    settings = Settings.from_env({})
    assert (settings.temporal_address, settings.namespace, dict(settings.temporal)) == ("localhost:7233", "default", {})


def test_standard_variables_give_address_namespace_and_api_key_with_tls():
    settings = Settings.from_env({"TEMPORAL_ADDRESS": "acme.a1b2c.tmprl.cloud:7233",
                                  "TEMPORAL_NAMESPACE": "acme.a1b2c", "TEMPORAL_API_KEY": "key-1"})
    assert settings.temporal_address == "acme.a1b2c.tmprl.cloud:7233"
    assert settings.namespace == "acme.a1b2c"
    assert settings.temporal == {"api_key": "key-1", "tls": True}


def test_mtls_certificates_are_read_from_their_paths(tmp_path: Path):
    cert, key, ca = tmp_path / "client.pem", tmp_path / "client.key", tmp_path / "ca.pem"
    for path in (cert, key, ca):
        path.write_text(PEM)
    settings = Settings.from_env({"TEMPORAL_ADDRESS": "temporal.internal:7233",
                                  "TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert), "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key),
                                  "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca),
                                  "TEMPORAL_TLS_SERVER_NAME": "temporal.internal"})
    tls = settings.temporal["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert, tls.domain) == (
        PEM.encode(), PEM.encode(), PEM.encode(), "temporal.internal")


def test_an_ipv6_and_a_cloud_address_are_host_port() -> None:
    assert Settings.from_env({"TEMPORAL_ADDRESS": "[::1]:7233"}).temporal_address == "[::1]:7233"
    cloud = "payments.a1b2c.tmprl.cloud:7233"
    assert Settings.from_env({"TEMPORAL_ADDRESS": cloud}).temporal_address == cloud


def test_a_profile_file_and_its_profile(tmp_path: Path):
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.prod]\naddress = "prod.example:7233"\nnamespace = "routing"\n'
                      'api_key = "k"\n[profile.prod.grpc_meta]\nx-team = "switchboard"\n')
    settings = Settings.from_env({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod"})
    assert (settings.temporal_address, settings.namespace) == ("prod.example:7233", "routing")
    assert settings.temporal == {"api_key": "k", "tls": True, "rpc_metadata": {"x-team": "switchboard"}}
    # The variables override the file, as everywhere in the ecosystem.
    assert Settings.from_env({"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod",
                              "TEMPORAL_NAMESPACE": "staging"}).namespace == "staging"


@pytest.mark.parametrize(("env", "named"), [
    ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nowhere/client.pem", "TEMPORAL_TLS_CLIENT_KEY_PATH": "/nowhere/k"},
     "TEMPORAL_TLS_CLIENT_CERT_PATH: no file '/nowhere/client.pem'"),
    ({"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/nowhere/ca.pem"}, "TEMPORAL_TLS_SERVER_CA_CERT_PATH: no file"),
    ({"TEMPORAL_TLS": "maybe"}, "TEMPORAL_TLS: 'maybe' is not true or false"),
    ({"TEMPORAL_CONFIG_FILE": "/nowhere/temporal.toml"}, "TEMPORAL_CONFIG_FILE: no file"),
    ({"TEMPORAL_PROFILE": "nope"}, "Profile 'nope' not found"),
    ({"TEMPORAL_ADDRESS": "::bad"}, "TEMPORAL_ADDRESS (or the profile's address): '::bad' is not host:port"),
    ({"TEMPORAL_ADDRESS": "localhost"}, "'localhost' is not host:port"),
    ({"TEMPORAL_ADDRESS": "localhost:99999"}, "'localhost:99999' is not host:port"),
    ({"TEMPORAL_ADDRESS": "http://localhost:7233"}, "is not host:port"),
])
def test_bad_values_are_named(env: dict[str, str], named: str):
    with pytest.raises(ConfigError, match=re.escape(named)):
        Settings.from_env(env)


def test_a_certificate_without_its_key_is_refused(tmp_path: Path):
    cert = tmp_path / "client.pem"
    cert.write_text(PEM)
    with pytest.raises(ConfigError, match="a client certificate and its key go together"):
        Settings.from_env({"TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert)})


def test_a_bad_toml_file_is_named(tmp_path: Path):
    config = tmp_path / "temporal.toml"
    config.write_text("[profile.default\naddress =")
    with pytest.raises(ConfigError, match="temporal.toml.*TOML parse error"):
        Settings.from_env({"TEMPORAL_CONFIG_FILE": str(config)})


def test_the_cli_says_which_variable_is_wrong_in_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "/nowhere/client.pem")
    result = CliRunner().invoke(main, ["conversation", "list"])
    assert result.exit_code == 1
    assert "Error: TEMPORAL_TLS_CLIENT_CERT_PATH: no file '/nowhere/client.pem'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["lots", "-5", "0", "2000000", "1e4", "10 000"])
def test_a_bad_workflow_cache_size_is_refused_naming_the_variable(value):
    """Issue 14: the worker's cache is sized to its memory (about 100 kB a conversation)."""
    with pytest.raises(ConfigError, match=r"SWITCHBOARD_WORKFLOW_CACHE: .* is not a whole number"):
        workflow_cache({"SWITCHBOARD_WORKFLOW_CACHE": value})


def test_the_workflow_cache_defaults_to_what_a_1_gib_worker_holds_and_the_worker_refuses_a_bad_one():
    assert workflow_cache({}) == 8_000 and workflow_cache({"SWITCHBOARD_WORKFLOW_CACHE": "12000"}) == 12_000
    result = CliRunner().invoke(main, ["worker"], env={"SWITCHBOARD_WORKFLOW_CACHE": "lots"})
    assert result.exit_code == 1 and "SWITCHBOARD_WORKFLOW_CACHE: 'lots' is not a whole number" in result.output
    assert "Traceback" not in result.output
