"""Hostile input: schemathesis generates requests for every operation in /openapi.json (valid and
invalid ones) and each is sent twice, without a key and with an admin key. No answer may be a 5xx or
break the documented schema (status code and body). Deterministic: derandomized, bounded examples.

Nothing is excluded: the defects fuzzing used to hit (rule id overflow, extreme experiment weights,
timestamps overflowing UTC) are fixed, and these cases now run like any other.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from api.app import create_app
from api.service_provider import BundleServiceProvider
from content_catalog.store import Store
from tests.test_api_support import ADMIN, api_settings, shared_trained_db

FUZZ_EXAMPLES = 10
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The real app over a copy of the trained store; public reads and events so unkeyed calls reach the
    handlers, rate limits off (tested in test_api_rate_limit)."""
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copyfile(shared_trained_db(), folder / "kepu.db")
    settings_ = api_settings(
        folder, public_reads=True, public_events=True, public_reads_per_minute=0, public_events_per_minute=0
    )
    store = Store(settings_.store_url)
    app = create_app(settings_, store=store, service_provider=BundleServiceProvider(store, settings_))
    yield app
    store.close()


FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def fuzz_operation(operation: Any, mode: GenerationMode, tally: dict[str, int]) -> None:
    """Send FUZZ_EXAMPLES generated cases of one operation, each unkeyed and with the admin key."""

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)
        case.call_and_validate(headers=ADMIN, checks=CHECKS)
        tally["cases"] = tally.get("cases", 0) + 1

    run()


def test_no_5xx_and_no_schema_break(fuzz_app: FastAPI) -> None:
    """Every operation, valid (positive) and invalid (negative) inputs; all failures listed at once."""
    api = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    tally: dict[str, int] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 20, "the schema lost operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, tally)
            except Unsatisfiable:  # no parameters and no body: nothing invalid to send
                continue
            except (Exception, BaseExceptionGroup) as exc:  # a check failed: collect, go on
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    print(f"fuzz cases sent (each twice): {tally}")
    assert tally.get("cases", 0) >= len(operations) * 4
    assert not failures, "\n\n".join(failures)
