"""schemathesis against the OpenAPI schema: requests the schema allows, and ones it forbids."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from app.main import create_app
from app.settings import Settings

app = create_app(Settings(max_sessions=30, max_rooms=10))
# Positive and negative data, explicit examples and random fuzzing; the coverage phase (every
# boundary of every field, hundreds of cases per operation) is left to the hand-written fuzzers
# in test_hardening_rest.py: it would take minutes on a shared 2-core machine.
CONFIG = schemathesis.Config.from_dict(
    {"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_its_schema(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
    # Every default check (no 5xx, documented status codes and content types, answers that
    # match their schema, schema-invalid input refused) but one: schema-valid input may still
    # be over a configurable server limit (neurons, samples, batch size), which is a 422.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
