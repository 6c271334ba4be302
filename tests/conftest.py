from tests.kafka_broker import kafka_broker  # noqa: F401
