"""The broker's SASL authentication and ACLs, tried with real users against real ACLs.

Self-contained: the test creates its own topics (``acltest.<run>.…``, outside the ``test.`` prefix that the
services are granted for the other tests) and LITERAL ACLs that mirror scripts/infra/kafka/acls.txt for them,
through the admin user, and deletes both at the end. Users and passwords are those scripts/infra/kafka.sh
creates (``<user>-kafka-secret`` unless ``MOTCUA_KAFKA_PASSWORD_<USER>`` says otherwise).
"""

import asyncio
import json
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest
from pydantic import SecretStr

from motcua_common.consumer import EventConsumer
from motcua_common.db import migrate
from motcua_common.kafka import client_options, make_admin, make_producer
from motcua_common.settings import ServiceSettings
from motcua_common.testing import (
    RUN_ID,
    create_database,
    create_topics,
    delete_topics,
    drop_database,
    kafka_admin_settings,
)

pytestmark = pytest.mark.integration

DOSSIER = f"acltest.{RUN_ID}.dossier.events"
PERSONAL = f"acltest.{RUN_ID}.personal.events"
TOPICS = (DOSSIER, f"{DOSSIER}.dlq", PERSONAL, f"{PERSONAL}.dlq")
GROUP = f"acltest-{RUN_ID}"  # LITERAL group names below: f"{GROUP}-<user>"

# Kafka protocol enums (org.apache.kafka.common.resource / acl).
ANY = 1
TOPIC, GROUP_RESOURCE = 2, 3
LITERAL = 3
READ, WRITE, DESCRIBE = 3, 4, 8
ALLOW = 3

# (user, operations, resource type, resource name): the production grants of acls.txt, on this test's topics.
GRANTS = [
    ("intake", (WRITE, DESCRIBE), TOPIC, DOSSIER),
    ("processing", (WRITE, DESCRIBE), TOPIC, DOSSIER),
    ("provincial-system", (READ, DESCRIBE), TOPIC, DOSSIER),
    ("processing", (READ, DESCRIBE), TOPIC, DOSSIER),
    ("notify", (READ, DESCRIBE), TOPIC, DOSSIER),
    ("intake", (WRITE, DESCRIBE), TOPIC, PERSONAL),
    ("notify", (READ, DESCRIBE), TOPIC, PERSONAL),
    ("citizen-id", (READ, DESCRIBE), TOPIC, PERSONAL),
    ("notify", (WRITE, DESCRIBE), TOPIC, f"{PERSONAL}.dlq"),
    ("notify", (WRITE, DESCRIBE), TOPIC, f"{DOSSIER}.dlq"),
    ("provincial-system", (READ,), GROUP_RESOURCE, f"{GROUP}-provincial-system"),
    ("vietnam-post", (READ, DESCRIBE), TOPIC, DOSSIER),
    ("vietnam-post", (READ,), GROUP_RESOURCE, f"{GROUP}-vietnam-post"),
    ("notify", (READ,), GROUP_RESOURCE, f"{GROUP}-notify"),
]


def as_user(user: str, password: str | None = None) -> ServiceSettings:
    """Settings logging in as ``user`` (its dev password unless ``password`` is given)."""
    settings = ServiceSettings(service_name=user)
    if password is not None:
        settings = settings.model_copy(update={"kafka_password": SecretStr(password)})
    return settings


async def _acl_requests(requests) -> None:
    admin = make_admin(kafka_admin_settings())
    await admin.start()
    try:
        for request in requests:
            response = await admin._send_request(request)  # aiokafka has no public ACL API (0.14)
            results = getattr(response, "creation_responses", None) or getattr(response, "filter_responses", [])
            for result in results:
                assert result[0] == 0, f"ACL request failed: {result}"
    finally:
        await admin.close()


async def _acls_in_force() -> set[tuple[str, int, int, str]]:
    """Every ALLOW ACL the broker's authorizer holds, as ``(user, operation, resource type, name)``."""
    admin = make_admin(kafka_admin_settings())
    await admin.start()
    try:
        response = await admin._send_request(DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ANY))
        assert response.error_code == 0, response
        return {
            (principal.removeprefix("User:"), operation, rtype, name)
            for rtype, name, _pattern, acls in response.resources
            for principal, _host, operation, permission in acls
            if permission == ALLOW
        }
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def secured_topics():
    bootstrap = kafka_admin_settings().kafka_bootstrap
    await create_topics(bootstrap, *TOPICS, partitions=1)
    grants = [(user, op, rtype, name) for user, ops, rtype, name in GRANTS for op in ops]
    await _acl_requests(
        CreateAclsRequest(rtype, name, LITERAL, f"User:{user}", "*", op, ALLOW) for user, op, rtype, name in grants
    )
    # the authorizer applies new ACLs when the metadata log reaches the broker: on a loaded machine, not always
    # within the second the test used to wait
    async with asyncio.timeout(60):
        while not set(grants) <= await _acls_in_force():  # noqa: ASYNC110 - polls the broker
            await asyncio.sleep(0.2)
    yield
    await _acl_requests(
        DeleteAclsRequest(rtype, name, LITERAL, f"User:{user}", "*", op, ALLOW) for user, op, rtype, name in grants
    )
    await delete_topics(bootstrap, *TOPICS)


async def produce(settings: ServiceSettings, topic: str, value: bytes, **options) -> None:
    producer = AIOKafkaProducer(**client_options(settings), request_timeout_ms=10_000, **options)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def read_all(
    settings: ServiceSettings, topic: str, group: str, expect: int = 1, until: bytes | None = None
) -> list[bytes]:
    """Read ``topic`` from the start in consumer group ``group`` until ``expect`` records arrived, or the record
    ``until`` (a minute at most: joining the group takes seconds on a loaded machine)."""
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    values: list[bytes] = []
    try:
        await consumer.start()  # joining a group the user may not read fails here
        async with asyncio.timeout(60):
            while len(values) < expect if until is None else until not in values:
                batches = await consumer.getmany(timeout_ms=500)
                values += [r.value for records in batches.values() for r in records]
        await consumer.commit()  # needs READ on the group too
    finally:
        await consumer.stop()
    return values


# The partners that follow dossiers over Kafka: the provincial system, and the post (Decision 45/2016: the agency
# tells the post as well as the applicant when a result goes by post: `result_returned` with `notify_post`).
PARTNERS = ("provincial-system", "vietnam-post")


@pytest.mark.parametrize("partner", PARTNERS)
async def test_partner_reads_the_dossier_topic(secured_topics, partner):
    marker = f"dossier-{uuid.uuid4()}".encode()
    await produce(as_user("processing"), DOSSIER, marker)
    seen = await read_all(as_user(partner), DOSSIER, f"{GROUP}-{partner}", until=marker)
    assert marker in seen


@pytest.mark.parametrize("partner", PARTNERS)
async def test_partner_is_refused_the_personal_topic(secured_topics, partner):
    await produce(as_user("intake"), PERSONAL, b'{"full_name": "Tr\\u1ea7n Th\\u1ecb B\\u00ecnh"}')
    consumer = AIOKafkaConsumer(
        **client_options(as_user(partner)), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        # The broker answers the partner's metadata request for the topic with TOPIC_AUTHORIZATION_FAILED
        # (aiokafka's consumer has no public call that surfaces it; its producer does, through the same code).
        with pytest.raises(TopicAuthorizationFailedError):
            await consumer._client._wait_on_metadata(PERSONAL)
        consumer.assign([TopicPartition(PERSONAL, 0)])
        assert not await consumer.getmany(timeout_ms=2_000), "the partner read the personal topic"
    finally:
        await consumer.stop()


async def test_partner_is_refused_a_group_that_is_not_its_own(secured_topics):
    with pytest.raises(GroupAuthorizationFailedError):
        await read_all(as_user("provincial-system"), DOSSIER, f"{GROUP}-notify")


async def test_partner_may_not_produce_to_the_dossier_topic(secured_topics):
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(as_user("provincial-system"), DOSSIER, b"forged event")


async def test_partner_cannot_start_an_idempotent_producer(secured_topics):
    # InitProducerId needs WRITE on some topic (or IDEMPOTENT_WRITE on the cluster): the partner has neither.
    with pytest.raises(KafkaError):
        await produce(as_user("provincial-system"), DOSSIER, b"forged event", enable_idempotence=True)


async def test_idempotent_producer_needs_only_write_on_its_topic(secured_topics):
    producer = make_producer(as_user("intake"))  # acks=all, enable_idempotence=True, as every service
    await producer.start()
    try:
        await producer.send_and_wait(DOSSIER, b"from intake")
    finally:
        await producer.stop()


async def test_notify_reads_the_personal_topic(secured_topics):
    marker = f"contact-{uuid.uuid4()}".encode()
    await produce(as_user("intake"), PERSONAL, marker)
    assert marker in await read_all(as_user("notify"), PERSONAL, f"{GROUP}-notify", expect=2)


async def test_wrong_password_cannot_connect(secured_topics):
    producer = AIOKafkaProducer(**client_options(as_user("provincial-system", "not-the-password")))
    with pytest.raises(KafkaError):
        async with asyncio.timeout(30):
            await producer.start()
    await producer.stop()


async def test_unauthenticated_plaintext_connection_is_refused(secured_topics):
    settings = as_user("provincial-system").model_copy(update={"kafka_security_protocol": "PLAINTEXT"})
    assert "sasl_mechanism" not in client_options(settings)
    producer = AIOKafkaProducer(**client_options(settings), request_timeout_ms=5_000)
    with pytest.raises((KafkaConnectionError, KafkaError, TimeoutError)):
        async with asyncio.timeout(30):
            await producer.start()
            await producer.send_and_wait(DOSSIER, b"anonymous")
    await producer.stop()


async def test_poison_message_of_the_personal_topic_goes_to_its_own_dead_letter_topic(secured_topics):
    """The consumer dead-letters to ``<source topic>.dlq``: personal data never lands in the dossier DLQ."""
    settings = as_user("notify").model_copy(update={"database": f"test_{RUN_ID}_kafka_security"})
    await create_database(settings)
    await migrate(settings.dsn)  # the common inbox table
    pool = await asyncpg.create_pool(settings.dsn, min_size=1, max_size=2)
    producer = make_producer(settings)
    await producer.start()
    stop = asyncio.Event()
    poison = json.dumps({"not": "a CloudEvent", "email": "binh.tran@example.vn"}).encode()
    try:
        consumer = EventConsumer(
            f"{GROUP}-notify", pool, settings=settings, topics=[PERSONAL], handlers={}, producer=producer
        )
        await produce(as_user("intake"), PERSONAL, poison)
        task = asyncio.create_task(consumer.run(stop))
        admin = kafka_admin_settings()
        dead = await _wait_for(admin, f"{PERSONAL}.dlq", poison)
        assert dict(dead.headers)["dlq-original-topic"] == PERSONAL.encode()
        assert not await _records(admin, f"{DOSSIER}.dlq"), "a personal message reached the dossier DLQ"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await producer.stop()
        await pool.close()
        await drop_database(settings)


async def _records(settings: ServiceSettings, topic: str):
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        while await consumer.position(tp) < end:
            batches = await consumer.getmany(tp, timeout_ms=500)
            records += batches.get(tp, [])
        return records
    finally:
        await consumer.stop()


async def _wait_for(settings: ServiceSettings, topic: str, value: bytes):
    async with asyncio.timeout(60):
        while True:
            for record in await _records(settings, topic):
                if record.value == value:
                    return record
            await asyncio.sleep(0.3)
