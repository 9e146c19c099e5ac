"""Reading what the service emits for its operators: log lines and Prometheus metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.logging import log_formatter

# Any 32+ random characters: WECARE_METRICS=bearer refuses a shorter or predictable token.
METRICS_TOKEN = "Vb7Qm2Xr9LpT4kZs8NwE3yHd6JcF1uGa"
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(exposition: str) -> Samples:
    """Every sample of a text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(
    before: Samples, after: Samples, prefix: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The series named ``prefix...`` whose value changed, with the change."""
    keys = {key for key in (*before, *after) if key[0].startswith(prefix)}
    changes = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in keys}
    return {key: change for key, change in changes.items() if change}


async def scrape(
    client: httpx.AsyncClient, headers: Mapping[str, str] = METRICS_HEADERS
) -> Samples:
    response = await client.get("/metrics", headers=dict(headers))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse_samples(response.text)


def records_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


def rendered(record: logging.LogRecord, log_format: str) -> str:
    """The line the service's handler writes for ``record`` in ``log_format``."""
    return log_formatter(log_format).format(record)


def json_lines(records: Iterable[logging.LogRecord]) -> list[dict[str, Any]]:
    lines = []
    for record in records:
        line = rendered(record, "json")
        assert "\n" not in line, line
        parsed: dict[str, Any] = json.loads(line)
        lines.append(parsed)
    return lines
