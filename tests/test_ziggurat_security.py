"""Ziggurat's :ssl and :sasl shapes (config.clj's build-ssl-properties and build-sasl-properties) and its route keys
that are Kafka properties mean the same in zig: the librdkafka properties each shape becomes, the protocol resolved
first-set-wins with :ssl before :sasl, and what librdkafka cannot do said up front. Ziggurat's own
resources/config.test.edn and doc/configuration.md example (tests/fixtures/ziggurat) validate with that meaning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import FIXTURES, batch_route, flat_config
from typer.testing import CliRunner

from zig_cli import config, kafka, loader, preflight
from zig_cli.cli import app

PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
OAUTH_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
ZIGGURAT = FIXTURES / "ziggurat"


def checked(**sections: Any) -> config.Report:
    return config.check(flat_config(**sections), "c.edn", {})


def security(**sections: Any) -> dict[str, str]:
    report = checked(**sections)
    assert report.config is not None, [str(p) for p in report.problems]
    return kafka.security_properties(report.config)


def jaas(module: str | None = None, **more: str) -> dict[str, str]:
    return {"username": "svc", "password": "pw", **({"login-module": module} if module else {}), **more}


# --- item 1: every shape Ziggurat's code reads, and zig's own spellings ---

SHAPES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (
        ":ssl as SASL_SSL with :mechanism and a ScramLoginModule :jaas",
        {"ssl": {"enabled": True, "protocol": "SASL_SSL", "mechanism": "SCRAM-SHA-512", "jaas": jaas(SCRAM_MODULE)}},
        {
            "security.protocol": "SASL_SSL",
            "ssl.endpoint.identification.algorithm": "https",
            "sasl.username": "svc",
            "sasl.password": "pw",
            "sasl.mechanism": "SCRAM-SHA-512",
        },
    ),
    (
        ":sasl as SASL_PLAINTEXT with SCRAM-SHA-256",
        {
            "sasl": {
                "enabled": True,
                "protocol": "SASL_PLAINTEXT",
                "mechanism": "SCRAM-SHA-256",
                "jaas": jaas(SCRAM_MODULE),
            }
        },
        {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.username": "svc",
            "sasl.password": "pw",
            "sasl.mechanism": "SCRAM-SHA-256",
        },
    ),
    (
        "a PlainLoginModule says PLAIN",
        {"sasl": {"enabled": True, "protocol": "SASL_SSL", "jaas": jaas(PLAIN_MODULE)}},
        {"security.protocol": "SASL_SSL", "sasl.username": "svc", "sasl.password": "pw", "sasl.mechanism": "PLAIN"},
    ),
    (
        "zig's spelling: :mechanism inside :jaas, :security-protocol under :ssl",
        {"ssl": {"enabled": True, "security-protocol": "SASL_SSL", "jaas": jaas(mechanism="SCRAM-SHA-512")}},
        {
            "security.protocol": "SASL_SSL",
            "ssl.endpoint.identification.algorithm": "https",
            "sasl.username": "svc",
            "sasl.password": "pw",
            "sasl.mechanism": "SCRAM-SHA-512",
        },
    ),
    (
        "kebab-case keys passed through, a PKCS12 keystore",
        {
            "ssl": {
                "enabled": True,
                "ssl-keystore-location": "/etc/ks.p12",
                "ssl-keystore-password": "ks",
                "ssl-keystore-type": "PKCS12",
                "ssl-endpoint-identification-algorithm": "none",
                "ssl-cipher-suites": "ECDHE-ECDSA-AES256-GCM-SHA384",
            }
        },
        {
            "security.protocol": "SSL",
            "ssl.keystore.location": "/etc/ks.p12",
            "ssl.keystore.password": "ks",
            "ssl.endpoint.identification.algorithm": "none",
            "ssl.cipher.suites": "ECDHE-ECDSA-AES256-GCM-SHA384",
        },
    ),
    (
        "OAUTHBEARER with librdkafka's own OIDC token fetching",
        {
            "sasl": {
                "enabled": True,
                "protocol": "SASL_SSL",
                "mechanism": "OAUTHBEARER",
                "sasl-oauthbearer-method": "oidc",
                "sasl-oauthbearer-client-id": "zig",
                "sasl-oauthbearer-client-secret": "s3",
                "sasl-oauthbearer-token-endpoint-url": "https://idp/token",
                "sasl-oauthbearer-scope": "kafka",
            }
        },
        {
            "security.protocol": "SASL_SSL",
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.client.id": "zig",
            "sasl.oauthbearer.client.secret": "s3",
            "sasl.oauthbearer.token.endpoint.url": "https://idp/token",
            "sasl.oauthbearer.scope": "kafka",
            "sasl.mechanism": "OAUTHBEARER",
        },
    ),
    (
        "GSSAPI through librdkafka's sasl.kerberos settings",
        {
            "sasl": {
                "enabled": True,
                "protocol": "SASL_SSL",
                "mechanism": "GSSAPI",
                "sasl-kerberos-service-name": "kafka",
                "sasl-kerberos-principal": "zig@EXAMPLE.COM",
                "sasl-kerberos-keytab": "/etc/zig.keytab",
            }
        },
        {
            "security.protocol": "SASL_SSL",
            "sasl.kerberos.service.name": "kafka",
            "sasl.kerberos.principal": "zig@EXAMPLE.COM",
            "sasl.kerberos.keytab": "/etc/zig.keytab",
            "sasl.mechanism": "GSSAPI",
        },
    ),
    (
        "an OAuthBearerLoginModule says OAUTHBEARER",
        {
            "sasl": {
                "enabled": True,
                "protocol": "SASL_SSL",
                "jaas": {"login-module": OAUTH_MODULE},
                "sasl-oauthbearer-method": "oidc",
            }
        },
        {"security.protocol": "SASL_SSL", "sasl.oauthbearer.method": "oidc", "sasl.mechanism": "OAUTHBEARER"},
    ),
    (
        "a disabled section is not applied",
        {"ssl": {"enabled": False, "protocol": "SASL_SSL", "ssl-ca-location": "/ca.pem"}},
        {},
    ),
]


@pytest.mark.parametrize(("sections", "expected"), [c[1:] for c in SHAPES], ids=[c[0] for c in SHAPES])
def test_each_ziggurat_shape_becomes_its_librdkafka_properties(sections: dict[str, Any], expected: dict[str, str]):
    report = checked(**sections)
    assert [str(p) for p in report.problems] == []
    assert report.config is not None
    assert kafka.security_properties(report.config) == expected


def test_librdkafka_itself_takes_the_oidc_shape():
    """The OAUTHBEARER shape above, as librdkafka judges it (the keystore and GSSAPI shapes need files, and a
    librdkafka built with Kerberos: validation passes on librdkafka's own refusal of those)."""
    oidc = next(sections for name, sections, _ in SHAPES if name.startswith("OAUTHBEARER"))
    report = checked(**oidc)
    assert report.config is not None
    assert kafka.property_problems(report.config) == ([], [])


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (
        "OAUTHBEARER with only a Java callback handler to fetch tokens",
        {"sasl": {"enabled": True, "mechanism": "OAUTHBEARER", "login-callback-handler": "com.acme.TokenHandler"}},
        "sasl.login-callback-handler: Java class that fetched OAUTHBEARER tokens for Ziggurat; librdkafka cannot "
        'load it: set sasl-oauthbearer-method "oidc" with sasl-oauthbearer-client-id, sasl-oauthbearer-client-secret '
        "and sasl-oauthbearer-token-endpoint-url instead",
    ),
    (
        "a JKS keystore",
        {"ssl": {"enabled": True, "ssl-keystore-location": "/ks.jks", "ssl-keystore-type": "JKS"}},
        "ssl.ssl-keystore-type: librdkafka reads PKCS12 keystores only, not 'JKS': convert it with keytool "
        "-importkeystore -deststoretype PKCS12 and point ssl-keystore-location at the result (or use PEM files: "
        "ssl-certificate-location and ssl-key-location)",
    ),
    (
        "a ScramLoginModule without a mechanism",
        {"sasl": {"enabled": True, "jaas": jaas(SCRAM_MODULE)}},
        "sasl.jaas.login-module: ScramLoginModule serves SCRAM-SHA-256 and SCRAM-SHA-512: set :mechanism",
    ),
    (
        "a login module of the application's own, without a mechanism",
        {"sasl": {"enabled": True, "jaas": jaas("com.acme.LoginModule")}},
        "sasl.jaas.login-module: librdkafka cannot load a Java login module: name the SASL mechanism with :mechanism",
    ),
    (
        "a JAAS config string",
        {"sasl": {"enabled": True, "sasl-jaas-config": f'{PLAIN_MODULE} required username="u" password="p";'}},
        "sasl.sasl-jaas-config: a Java client property librdkafka does not have: librdkafka has no JAAS; write :jaas "
        "{:username :password :login-module} (or sasl-username and sasl-password)",
    ),
    (
        "a key neither zig nor librdkafka knows",
        {"ssl": {"enabled": True, "ssl-keystore-locaton": "/ks.p12"}},
        "ssl.ssl-keystore-locaton: unknown key 'ssl-keystore-locaton'; did you mean 'ssl-keystore-location'?",
    ),
]


@pytest.mark.parametrize(("sections", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_what_librdkafka_cannot_do_is_an_error_saying_what_it_needs(sections: dict[str, Any], message: str):
    assert [str(p) for p in checked(**sections).problems] == [f"c.edn: {message}"]


ACCEPTED_WITH_A_WARNING: list[tuple[str, dict[str, Any], str]] = [
    (
        "a Java callback handler beside librdkafka's OIDC settings",
        {
            "sasl": {
                "enabled": True,
                "protocol": "SASL_SSL",
                "mechanism": "OAUTHBEARER",
                "login-callback-handler": "com.acme.TokenHandler",
                "sasl-oauthbearer-method": "oidc",
            }
        },
        "sasl.login-callback-handler: ignored: librdkafka fetches the tokens itself (sasl.oauthbearer.method oidc)",
    ),
    (
        "a Java callback handler with SCRAM",
        {
            "ssl": {
                "enabled": True,
                "login-callback-handler": "com.acme.H",
                "mechanism": "SCRAM-SHA-512",
                "jaas": jaas(),
            }
        },
        "ssl.login-callback-handler: ignored: a Java class librdkafka cannot load, and only OAUTHBEARER used it",
    ),
    (
        "a Java truststore",
        {"ssl": {"enabled": True, "ssl-truststore-location": "/ts.jks", "ssl-ca-location": "/ca.pem"}},
        "ssl.ssl-truststore-location: ignored, a Java client property: librdkafka cannot read a Java truststore; "
        "convert it to PEM and set ssl-ca-location",
    ),
    (
        "a login module that says another mechanism than the one named",
        {"ssl": {"enabled": True, "protocol": "SASL_SSL", "mechanism": "SCRAM-SHA-512", "jaas": jaas(PLAIN_MODULE)}},
        "ssl.jaas.login-module: PlainLoginModule means mechanism PLAIN, but ssl.mechanism is used",
    ),
]


@pytest.mark.parametrize(
    ("sections", "message"), [c[1:] for c in ACCEPTED_WITH_A_WARNING], ids=[c[0] for c in ACCEPTED_WITH_A_WARNING]
)
def test_what_librdkafka_does_without_is_a_warning(sections: dict[str, Any], message: str):
    report = checked(**sections)
    assert [str(p) for p in report.problems] == []
    assert [str(w) for w in report.warnings] == [f"c.edn: {message}"]


# --- item 2: no silent downgrade ---


def test_ssl_as_sasl_ssl_beside_sasl_without_a_protocol_stays_sasl_ssl():
    props = security(
        ssl={"enabled": True, "protocol": "SASL_SSL", "ssl-ca-location": "/ca.pem"},
        sasl={"enabled": True, "mechanism": "PLAIN", "jaas": jaas()},
    )
    assert props["security.protocol"] == "SASL_SSL"
    assert props["ssl.ca.location"] == "/ca.pem"


@pytest.mark.parametrize(
    ("sections", "protocol", "explained"),
    [
        (
            {"ssl": {"enabled": True, "protocol": "SASL_SSL"}, "sasl": {"enabled": True, "protocol": "SASL_PLAINTEXT"}},
            "SASL_SSL",
            "security.protocol SASL_SSL from ssl.protocol (over sasl.protocol: the first set wins, :ssl's before "
            ":sasl's)",
        ),
        (
            {"ssl": {"enabled": True}, "sasl": {"enabled": True, "jaas": jaas()}},
            "SASL_SSL",
            "security.protocol SASL_SSL: :ssl is enabled and names no protocol",
        ),
        (
            {"ssl": {"enabled": True, "jaas": jaas(mechanism="SCRAM-SHA-256")}},
            "SASL_SSL",
            "security.protocol SASL_SSL: :ssl is enabled and names no protocol",
        ),
        ({"ssl": {"enabled": True}}, "SSL", "security.protocol SSL: :ssl is enabled and names no protocol"),
        (
            {"ssl": {"enabled": False, "protocol": "SSL"}, "sasl": {"enabled": True, "protocol": "SASL_SSL"}},
            "SASL_SSL",
            "security.protocol SASL_SSL from sasl.protocol",
        ),
    ],
    ids=["ssl's protocol before sasl's", "ssl with sasl", "ssl with credentials", "ssl alone", "ssl disabled"],
)
def test_the_protocol_is_resolved_as_ziggurat_does_and_said_why(
    sections: dict[str, Any], protocol: str, explained: str
):
    report = checked(**sections)
    assert report.config is not None
    assert kafka.security_properties(report.config)["security.protocol"] == protocol
    assert explained in kafka.security_explained(report.config)


def test_plain_over_a_plaintext_listener_is_warned_of():
    report = checked(sasl={"enabled": True, "protocol": "SASL_PLAINTEXT", "jaas": jaas(PLAIN_MODULE)})
    assert [str(w) for w in report.warnings] == [
        "c.edn: sasl.protocol: SASL PLAIN over SASL_PLAINTEXT sends the password in clear text: use SASL_SSL, or a "
        "SCRAM mechanism"
    ]
    scram = checked(sasl={"enabled": True, "protocol": "SASL_PLAINTEXT", "mechanism": "SCRAM-SHA-512", "jaas": jaas()})
    assert scram.warnings == ()


def test_validate_shows_the_resolved_protocol_and_masks_the_credentials(tmp_path: Path):
    credentials = {"username": "svc-user-qz", "password": "s3cr3t-qz", "login-module": SCRAM_MODULE}
    raw = flat_config(
        ssl={"enabled": True, "protocol": "SASL_SSL", "mechanism": "SCRAM-SHA-512", "ssl-cipher-suites": "HIGH"},
        sasl={"enabled": True, "jaas": credentials},
    )
    path = tmp_path / "config.edn"
    path.write_text(loader.dumps(raw, "edn"), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)], env={"PYTHONPATH": str(FIXTURES)})
    assert result.exit_code == 0, result.stderr
    assert "security (every client): security.protocol=SASL_SSL, " in result.stdout
    assert "  security.protocol SASL_SSL from ssl.protocol\n" in result.stdout
    assert "sasl.username=***, sasl.password=***, sasl.mechanism=SCRAM-SHA-512" in result.stdout
    assert "ssl.cipher.suites=HIGH" in result.stdout
    assert "-qz" not in result.stdout  # not "77": pytest's temporary directory, in the output, may have it


# --- item 4: route keys that are librdkafka properties ---


def test_route_keys_librdkafka_knows_are_passed_on_and_marked():
    route = batch_route(**{"isolation-level": "read_committed", "fetch-max-bytes": 1_048_576, "check-crcs": True})
    report = checked(**{"batch-routes": {"orders": route}})
    assert report.config is not None
    orders = report.config.route("orders")
    assert {k: (v.value, v.passed) for k, v in orders.values.items() if v.passed} == {
        "isolation-level": ("read_committed", "isolation.level"),
        "fetch-max-bytes": ("1048576", "fetch.max.bytes"),
        "check-crcs": ("true", "check.crcs"),
    }
    props = kafka.consumer_properties(report.config, orders)
    assert (props["isolation.level"], props["fetch.max.bytes"], props["check.crcs"]) == (
        "read_committed",
        "1048576",
        "true",
    )


def test_a_route_key_that_is_a_property_zig_sets_means_zigs_setting():
    report = checked(**{"batch-routes": {"orders": batch_route(**{"auto-offset-reset": "earliest"})}})
    assert report.config is not None
    assert report.config.route("orders")["auto-offset-reset-config"] == "earliest"
    both = batch_route(**{"auto-offset-reset": "earliest", "auto-offset-reset-config": "latest"})
    assert any("set twice" in p.message for p in checked(**{"batch-routes": {"orders": both}}).problems)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (
            {"fetch-max-byte": 10},
            "batch-routes.orders.fetch-max-byte: unknown key 'fetch-max-byte': neither a setting of Batch route "
            "(:batch-routes {name {...}}) nor a librdkafka property ('fetch.max.byte'); did you mean "
            "'fetch-max-bytes' (librdkafka's fetch.max.bytes)?",
        ),
        (
            {"max-poll-record": 10},
            "batch-routes.orders.max-poll-record: unknown key 'max-poll-record'; did you mean 'max-poll-records'?",
        ),
        (
            {"isolation-level": "read_committed", "kafka-properties": {"isolation.level": "read_uncommitted"}},
            "batch-routes.orders.kafka-properties.isolation.level: set twice, also as 'isolation-level'",
        ),
        (
            {"enable-auto-commit": False},
            "batch-routes.orders.enable-auto-commit: zig sets it to commit only what has been handled (at-least-once)",
        ),
    ],
    ids=["not a property", "a zig key misspelled", "also in kafka-properties", "a property zig fixes"],
)
def test_a_route_key_that_is_neither_stays_an_error(route: dict[str, Any], message: str):
    cfg_raw = flat_config(**{"batch-routes": {"orders": batch_route(**route)}})
    report = config.check(cfg_raw, "c.edn", {})
    problems = list(report.problems)
    if report.config is not None:
        problems += kafka.property_problems(report.config)[0]
    assert [str(p) for p in problems] == [f"c.edn: {message}"]


def test_validate_marks_passed_through_keys(tmp_path: Path):
    route = batch_route(**{"isolation-level": "read_committed", "sasl-password": "hunter2"})
    path = tmp_path / "config.edn"
    path.write_text(loader.dumps(flat_config(**{"batch-routes": {"orders": route}}), "edn"), encoding="utf-8")
    runner = CliRunner()
    text = runner.invoke(app, ["validate", str(path)], env={"PYTHONPATH": str(FIXTURES), "COLUMNS": "250"})
    assert text.exit_code == 0, text.stderr
    assert "passed to librdkafka as isolation.level" in text.stdout
    assert "hunter2" not in text.stdout
    json_out = runner.invoke(app, ["validate", str(path), "--format", "json"], env={"PYTHONPATH": str(FIXTURES)})
    assert '"librdkafka": "isolation.level"' in json_out.stdout.replace("\n", "").replace("  ", "")
    assert "hunter2" not in json_out.stdout


# --- Ziggurat's own configs ---


def test_zigggurat_config_test_edn_validates_with_no_security(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(FIXTURES)  # where its handler module is
    found = preflight.check_file(ZIGGURAT / "config.test.edn", {})
    assert [str(p) for p in found.problems] == []
    assert found.config is not None
    assert kafka.security_properties(found.config) == {}
    consumer = kafka.consumer_properties(found.config, found.config.route("consumer-1"))
    assert consumer["max.poll.interval.ms"] == "300000"
    assert consumer["auto.commit.interval.ms"] == "5000"
    assert not any(key.startswith(("ssl.", "sasl.", "security.")) for key in consumer)


def test_configuration_md_example_means_sasl_ssl_with_its_keystore_and_scram():
    report = config.check(loader.load(ZIGGURAT / "configuration-md.edn"), "c.edn", {})
    assert [str(p) for p in report.problems] == []
    assert report.config is not None
    assert kafka.security_properties(report.config) == {
        "security.protocol": "SASL_SSL",
        "ssl.keystore.location": "/location/to/keystore",
        "ssl.keystore.password": "some-password",
        "ssl.endpoint.identification.algorithm": "https",
        "sasl.username": "username",
        "sasl.password": "password",
        "sasl.mechanism": "SCRAM-SHA-512",
    }
    assert kafka.security_explained(report.config) == (
        ":ssl :jaas: username and password become sasl.username and sasl.password (librdkafka has no sasl.jaas.config)",
        "sasl.mechanism from ssl.jaas.mechanism",
        "security.protocol SASL_SSL: :ssl is enabled and names no protocol",
    )
    for route in report.config.routes:
        assert kafka.admin_properties(report.config, route)["security.protocol"] == "SASL_SSL"


# --- a property librdkafka knows by two names is one setting ---


def test_sasl_mechanisms_is_another_spelling_of_mechanism():
    report = checked(
        sasl={"enabled": True, "protocol": "SASL_SSL", "sasl-mechanisms": "SCRAM-SHA-256", "jaas": jaas()},
        ssl={"enabled": False},
    )
    assert report.config is not None, [str(p) for p in report.problems]
    assert kafka.security_properties(report.config) == {
        "security.protocol": "SASL_SSL",
        "sasl.username": "svc",
        "sasl.password": "pw",
        "sasl.mechanism": "SCRAM-SHA-256",
    }
    assert "sasl.mechanism from sasl.sasl-mechanisms" in kafka.security_explained(report.config)
    both = checked(sasl={"enabled": True, "mechanism": "PLAIN", "sasl-mechanisms": "SCRAM-SHA-256", "jaas": jaas()})
    assert [str(p) for p in both.problems] == ["c.edn: sasl.sasl-mechanisms: set twice, also as 'mechanism'"]


def test_a_routes_sasl_mechanisms_is_its_sasl_mechanism_and_wins_over_the_global_one():
    route = batch_route(**{"kafka-properties": {"sasl.mechanisms": "SCRAM-SHA-512"}})
    report = checked(sasl={"enabled": True, "protocol": "SASL_SSL", "jaas": jaas()}, **{"batch-routes": {"o": route}})
    assert report.config is not None, [str(p) for p in report.problems]
    consumer = kafka.consumer_properties(report.config, report.config.route("o"))
    assert consumer["sasl.mechanism"] == "SCRAM-SHA-512"
    assert "sasl.mechanisms" not in consumer
    twice = batch_route(**{"sasl-mechanism": "PLAIN", "kafka-properties": {"sasl.mechanisms": "SCRAM-SHA-512"}})
    assert [str(p) for p in checked(**{"batch-routes": {"o": twice}}).problems] == [
        "c.edn: batch-routes.o.kafka-properties.sasl.mechanisms: set twice, also as 'sasl-mechanism'"
    ]


def test_a_username_with_no_mechanism_is_said_to_mean_plain():
    report = checked(sasl={"enabled": True, "protocol": "SASL_SSL", "jaas": jaas()})
    assert report.config is not None
    assert kafka.security_properties(report.config)["sasl.mechanism"] == "PLAIN"
    assert (
        "sasl.mechanism PLAIN: :sasl :jaas has a username and neither :mechanism nor :login-module names a mechanism "
        "(Ziggurat's Java client used GSSAPI here: set :mechanism if PLAIN is not meant)"
    ) in kafka.security_explained(report.config)


# --- what librdkafka refuses in :ssl or :sasl is said once, at the section ---

OIDC_WITHOUT_SECRET = {
    "enabled": True,
    "protocol": "SASL_SSL",
    "mechanism": "OAUTHBEARER",
    "sasl-oauthbearer-method": "oidc",
    "sasl-oauthbearer-client-id": "zig",
    "sasl-oauthbearer-token-endpoint-url": "https://idp/token",
}
TWO_ROUTES = {"orders": batch_route(producer={"acks": "all"}), "more": batch_route(**{"origin-topic": "more"})}


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"sasl": OIDC_WITHOUT_SECRET},
            "sasl: librdkafka refuses these settings: `sasl.oauthbearer.client.secret` is mandatory when "
            "`sasl.oauthbearer.method=***` is set",
        ),
        (
            {"sasl": {**OIDC_WITHOUT_SECRET, "sasl-oauthbearer-method": "bogus"}},
            'sasl: librdkafka refuses these settings: Invalid value "***" for configuration property '
            '"sasl.oauthbearer.method"',
        ),
        (
            {"ssl": {"enabled": True, "ssl-keystore-location": "/nonexistent/ks.p12", "ssl-keystore-password": "k"}},
            "ssl: librdkafka refuses these settings: Failed to open ssl.keystore.location: ***: ",
        ),
    ],
    ids=["a missing OIDC secret", "a bad sasl-oauthbearer-method", "a missing keystore"],
)
def test_a_refused_security_setting_is_reported_once_at_its_section(sections: dict[str, Any], message: str):
    report = checked(**sections, **{"batch-routes": TWO_ROUTES})
    assert report.config is not None
    problems, _ = kafka.property_problems(report.config)
    assert len(problems) == 1, [str(p) for p in problems]
    assert str(problems[0]).startswith(f"c.edn: {message}")


def test_in_the_root_form_the_section_is_under_ziggurat():
    report = config.check({"ziggurat": flat_config(sasl=OIDC_WITHOUT_SECRET)}, "c.edn", {})
    assert report.config is not None
    assert [p.path for p in kafka.property_problems(report.config)[0]] == ["ziggurat.sasl"]


def test_a_route_that_mends_the_sections_refusal_has_no_problem():
    route = batch_route(**{"sasl-oauthbearer-client-secret": "s3"})
    report = checked(sasl=OIDC_WITHOUT_SECRET, **{"batch-routes": {"orders": route}})
    assert report.config is not None
    assert kafka.property_problems(report.config)[0] == []


def test_the_mechanism_is_shown_and_oauthbearer_settings_are_not():
    report = checked(sasl={**OIDC_WITHOUT_SECRET, "sasl-oauthbearer-client-secret": "s3"})
    assert report.config is not None
    shown = kafka.mask(kafka.security_properties(report.config))
    assert shown["sasl.mechanism"] == "OAUTHBEARER"
    assert {shown[k] for k in shown if k.startswith("sasl.oauthbearer.")} == {"***"}
    assert [str(p) for p in checked(sasl={"jaas": {"mechanism": "SCRAM"}}).problems] == [
        "c.edn: sasl.jaas.mechanism: must be one of 'GSSAPI', 'PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', "
        "'OAUTHBEARER', got 'SCRAM'"
    ]


# --- passed-through properties from the environment ---

OIDC_SECRET_ENV = "ZIGGURAT_SASL_SASL_OAUTHBEARER_CLIENT_SECRET"


def test_a_passed_through_secret_may_come_from_the_environment_alone():
    report = config.check(flat_config(sasl=OIDC_WITHOUT_SECRET), "c.edn", {OIDC_SECRET_ENV: "s3cr3t-env"})
    assert [str(p) for p in report.problems] == []
    assert report.warnings == ()
    assert report.config is not None
    assert kafka.security_properties(report.config)["sasl.oauthbearer.client.secret"] == "s3cr3t-env"
    assert kafka.property_problems(report.config) == ([], [])
    assert f"from the environment: sasl.sasl-oauthbearer-client-secret ({OIDC_SECRET_ENV})" in (
        kafka.security_explained(report.config)
    )


def test_a_routes_passed_through_key_from_the_environment_wins_and_stays_secret(tmp_path: Path):
    route = batch_route(**{"fetch-max-bytes": 1000, "kafka-properties": {"ssl.key.password": "in-file"}})
    environ = {
        "ZIGGURAT_BATCH_ROUTES_ORDERS_FETCH_MAX_BYTES": "2000000",
        "ZIGGURAT_BATCH_ROUTES_ORDERS_SSL_KEY_PASSWORD": "kpw-from-env-99",
    }
    report = config.check(flat_config(**{"batch-routes": {"orders": route}}), "c.edn", environ)
    assert [str(p) for p in report.problems] == []
    assert report.config is not None
    orders = report.config.route("orders")
    assert orders.values["fetch-max-bytes"] == config.Value("2000000", "env", passed="fetch.max.bytes")
    consumer = kafka.consumer_properties(report.config, orders)
    assert (consumer["fetch.max.bytes"], consumer["ssl.key.password"]) == ("2000000", "kpw-from-env-99")
    path = tmp_path / "config.edn"
    path.write_text(loader.dumps(flat_config(**{"batch-routes": {"orders": route}}), "edn"), encoding="utf-8")
    env = {"PYTHONPATH": str(FIXTURES), "COLUMNS": "250", **environ}
    for fmt in ("text", "json"):
        result = CliRunner().invoke(app, ["validate", str(path), "--format", fmt], env=env)
        assert result.exit_code == 0, result.stderr
        assert "kpw-from-env-99" not in result.stdout + result.stderr
    settings = json.loads(result.stdout)["routes"][0]["settings"]
    assert settings["ssl-key-password"] == {"value": "***", "origin": "env", "librdkafka": "ssl.key.password"}
    assert "ssl.key.password" not in settings["kafka-properties"]["value"]


@pytest.mark.parametrize(
    ("variable", "warning"),
    [
        ("ZIGGURAT_SASL_SASL_OAUTHBEARER_CLIENT_SECRE", "matches no setting"),
        ("ZIGGURAT_SSL_FOO_BAR", "matches no setting"),
        ("ZIGGURAT_SASL_SASL_MECHANISM", "matches no setting; did you mean ZIGGURAT_SASL_JAAS_MECHANISM?"),
    ],
    ids=["a misspelt property", "no property", "a property zig sets from its own key"],
)
def test_a_variable_that_names_no_passed_property_still_warns(variable: str, warning: str):
    report = config.check(flat_config(), "c.edn", {variable: "x"})
    assert [str(w) for w in report.warnings] == [f"c.edn: environment variable {variable} {warning}"]
