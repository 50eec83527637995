"""An Apache Kafka that checks who connects and what they may do, for the security tests.

One broker, two client listeners: SASL (SASL_PLAINTEXT, with SCRAM-SHA-512 and PLAIN) and TLS (SSL, client
certificates required, signed by a CA generated here with the openssl CLI). The KRaft standard authorizer refuses
everything no ACL allows (`allow.everyone.if.no.acl.found=false`); `admin` is the one super user, and the
controller listener authenticates as `admin` too, so no principal gets rights for connecting without credentials.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import apache_kafka
from apache_kafka import Listener
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

ADMIN = ("admin", "admin-secret")
SCRAM_USER = ("scram-user", "scram-secret-512")
PLAIN_USER = ("plain-user", "plain-secret")
LIMITED_USER = ("limited", "limited-secret")  # a principal with only the ACLs a test grants
CLIENT_CN = "zig-client"  # the TLS client certificate's subject: principal User:CN=zig-client


@dataclass(frozen=True)
class Certificates:
    """PEM files: the CA that signed the broker's and the client's certificates, and a CA that signed nothing."""

    ca: Path
    other_ca: Path
    broker: Path  # the broker's private key and certificate, for Kafka's PEM keystore
    client_certificate: Path
    client_key: Path


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)


def _new_ca(folder: Path, name: str) -> None:
    _openssl(
        folder,
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}"),
    )


def _signed(folder: Path, name: str, subject: str, extensions: str) -> None:
    """A key and a certificate signed by `ca`: {name}.key (PKCS#8, unencrypted) and {name}.pem."""
    (folder / f"{name}.ext").write_text(extensions, encoding="utf-8")
    _openssl(
        folder,
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject),
    )
    _openssl(
        folder,
        *("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"),
        *("-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext"),
    )


def certificates(folder: Path) -> Certificates:
    folder.mkdir(parents=True, exist_ok=True)
    _new_ca(folder, "ca")
    _new_ca(folder, "other-ca")
    _signed(folder, "broker", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _signed(folder, "client", f"/CN={CLIENT_CN}", "extendedKeyUsage=clientAuth\n")
    keystore = folder / "broker-keystore.pem"
    keystore.write_text((folder / "broker.key").read_text() + (folder / "broker.pem").read_text(), encoding="utf-8")
    return Certificates(
        folder / "ca.pem", folder / "other-ca.pem", keystore, folder / "client.pem", folder / "client.key"
    )


def _plain_jaas(*users: tuple[str, str]) -> str:
    """PLAIN's server side: the broker's own login (admin) and every user's password."""
    accounts = " ".join(f'user_{name}="{password}"' for name, password in users)
    return (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{ADMIN[0]}" password="{ADMIN[1]}" {accounts};'
    )


def _scram_jaas() -> str:
    return (
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN[0]}" password="{ADMIN[1]}";'
    )


def server_properties(certs: Certificates) -> dict[str, str]:
    plain = _plain_jaas(ADMIN, PLAIN_USER, LIMITED_USER)
    return {
        # The controller listener authenticates too: the broker part logs in to it as admin (PLAIN).
        "listener.security.protocol.map": "SASL:SASL_PLAINTEXT,TLS:SSL,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.sasl.plain.sasl.jaas.config": plain,
        "listener.name.sasl.scram-sha-512.sasl.jaas.config": _scram_jaas(),
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
        "listener.name.tls.ssl.keystore.type": "PEM",
        "listener.name.tls.ssl.keystore.location": str(certs.broker),
        "listener.name.tls.ssl.truststore.type": "PEM",
        "listener.name.tls.ssl.truststore.location": str(certs.ca),
        "listener.name.tls.ssl.client.auth": "required",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN[0]}",
        "allow.everyone.if.no.acl.found": "false",
    }


def sasl_config(user: tuple[str, str], mechanism: str) -> dict[str, str]:
    """librdkafka's settings for the SASL listener."""
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user[0],
        "sasl.password": user[1],
    }


@dataclass
class SecureKafka:
    broker: apache_kafka.Broker
    certs: Certificates

    @property
    def sasl(self) -> str:
        return self.broker.addresses["SASL"]

    @property
    def tls(self) -> str:
        return self.broker.addresses["TLS"]

    def admin_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.sasl, **sasl_config(ADMIN, "PLAIN")}

    def admin(self) -> AdminClient:
        return AdminClient(self.admin_config())

    def grant(self, principal: str, *grants: tuple[ResourceType, str, AclOperation]) -> None:
        """ACLs allowing `principal` each (resource type, literal name or "*", operation)."""
        bindings = [
            AclBinding(kind, name, ResourcePatternType.LITERAL, principal, "*", operation, AclPermissionType.ALLOW)
            for kind, name, operation in grants
        ]
        admin = self.admin()  # kept until the futures are done: a client that is gone fails them
        for future in admin.create_acls(bindings, request_timeout=30).values():
            future.result(30)

    def revoke(self, principal: str, kind: ResourceType, name: str, operation: AclOperation) -> None:
        """Delete the ACL that `grant` made for this (resource type, name, operation)."""
        pattern = AclBindingFilter(
            kind, name, ResourcePatternType.LITERAL, principal, "*", operation, AclPermissionType.ALLOW
        )
        admin = self.admin()
        for future in admin.delete_acls([pattern], request_timeout=30).values():
            assert future.result(30), f"no ACL to revoke: {pattern}"

    def create_topics(self, *names: str, partitions: int = 1) -> None:
        admin = self.admin()
        for future in admin.create_topics([NewTopic(name, partitions) for name in names], request_timeout=30).values():
            future.result(30)

    def committed(self, group: str, topic: str) -> int | None:
        """The offset `group` has committed for `topic`'s partition 0, None when it has committed none."""
        request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
        admin = self.admin()
        [found] = admin.list_consumer_group_offsets(request)[group].result(30).topic_partitions
        return found.offset if found.offset >= 0 else None

    def produce(self, topic: str, count: int) -> None:
        """`count` messages on partition 0 of `topic`, written as the super user."""
        producer = Producer(self.admin_config())
        for number in range(count):
            producer.produce(topic, str(number).encode(), partition=0)
        assert producer.flush(30) == 0


@contextlib.contextmanager
def start(folder: Path) -> Iterator[SecureKafka]:
    certs = certificates(folder / "certs")
    scram = [f"SCRAM-SHA-512=[name={name},password={password}]" for name, password in (ADMIN, SCRAM_USER)]
    with apache_kafka.start(
        folder,
        listeners=[Listener("SASL", "SASL_PLAINTEXT"), Listener("TLS", "SSL")],
        extra=server_properties(certs),
        format_args=[arg for user in scram for arg in ("--add-scram", user)],
        admin_config=sasl_config(ADMIN, "PLAIN"),
    ) as broker:
        kafka = SecureKafka(broker, certs)
        everything = [(ResourceType.TOPIC, "*", AclOperation.ALL), (ResourceType.GROUP, "*", AclOperation.ALL)]
        for principal in (f"User:{SCRAM_USER[0]}", f"User:{PLAIN_USER[0]}", f"User:CN={CLIENT_CN}"):
            kafka.grant(principal, *everything)
        yield kafka
