"""The service's Prometheus metrics (README "Logs and metrics" lists each one).

Counted where things happen: requests by the API's middleware, grants, tokens and failed
logins by the services, the connection pool by app.db.pool. Figures of the database itself
(the audit chain) are read at scrape time instead (app.services.checkpoints.audit_figures).

With several worker processes prometheus-client's multiprocess mode applies
(PROMETHEUS_MULTIPROC_DIR, set by ``wecare serve``): each worker writes its values to files
there and a scrape sums them, whichever worker answers it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route label of a request no route matched (404s of made-up paths): one value, so that
# a scanner cannot create a series per path it tries.
UNMATCHED_ROUTE = "unmatched"

# prometheus-client opens its files in the directory as the metrics below are created.
if os.environ.get(MULTIPROC_ENV):
    Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)

REQUESTS = Counter(
    "wecare_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
REQUEST_DURATION = Histogram(
    "wecare_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
)
POOL_IN_USE = Gauge(
    "wecare_db_pool_in_use",
    "Database connections checked out of the pool (summed over live workers).",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "wecare_db_pool_waiting",
    "Requests waiting for a pooled database connection (summed over live workers).",
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "wecare_db_pool_overflow",
    "Connections open beyond the pool size, up to WECARE_DB_MAX_OVERFLOW (summed over live "
    "workers).",
    multiprocess_mode="livesum",
)
GRANTS = Counter(
    "wecare_grants",
    "Grant requests that reached the rules: accepted, or refused by the named rule.",
    ["outcome", "rule"],
)
GRANT_CRITICAL_SECTION = Histogram(
    "wecare_grant_critical_section_seconds",
    "Time a grant holds its first budget counter row's lock: from the moment its statement "
    "locks the row (the database's clock: time queued for the lock excluded) to the COMMIT "
    "that releases it.",
    buckets=(0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
TOKENS_ISSUED = Counter(
    "wecare_tokens_issued",
    "Access tokens issued, by grant (password, refresh_token, client_credentials).",
    ["grant"],
)
LOGIN_FAILURES = Counter(
    "wecare_login_failures",
    "Refused user logins, by rule (invalid_credentials, too_many_login_attempts).",
    ["rule"],
)


def route_label(template: str | None) -> str:
    return template if template is not None else UNMATCHED_ROUTE


def method_label(method: str) -> str:
    """Any method outside HTTP's usual few is one label value, as routes are."""
    return method if method in HTTP_METHODS else "other"


def record_grant_refused(rule: str) -> None:
    GRANTS.labels(outcome="refused", rule=rule).inc()


def record_grant_accepted() -> None:
    GRANTS.labels(outcome="accepted", rule="").inc()


def record_grant_critical_section(seconds: float) -> None:
    GRANT_CRITICAL_SECTION.observe(seconds)


def prepare_multiprocess_directory(path: Path) -> None:
    """Empty the directory the workers will write to: values of a previous run must not be
    summed into this one's."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.glob("*.db"):
        entry.unlink()


def remove_multiprocess_directory(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def forget_dead_workers(directory: Path) -> list[int]:
    """Drop the gauges of worker processes that are gone (uvicorn replaces a worker that
    stops answering): a live-summed gauge would otherwise keep their last values for ever.
    Their counters stay, as counts that happened."""
    dead = set()
    for path in directory.glob("gauge_live*_*.db"):
        suffix = path.stem.rsplit("_", 1)[-1]
        if suffix.isdigit() and not _alive(int(suffix)):
            dead.add(int(suffix))
    for pid in dead:
        mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return sorted(dead)


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of every metric: this process's, or with PROMETHEUS_MULTIPROC_DIR
    set, every worker's summed; then the ``extra`` collectors (figures read at scrape
    time, which no worker stores)."""
    if os.environ.get(MULTIPROC_ENV):
        forget_dead_workers(Path(os.environ[MULTIPROC_ENV]))
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        output = generate_latest(registry)
    else:
        output = generate_latest(REGISTRY)
    snapshot = CollectorRegistry(auto_describe=True)
    for collector in extra:
        snapshot.register(collector)
    return output + generate_latest(snapshot)


class AuditSnapshot(Collector):
    """The audit trail's figures, read from the database at scrape time (not stored by any
    worker: every worker would read the same)."""

    def __init__(
        self, *, chain_length: int, checkpoint_seq: int | None, checkpoint_age: float | None
    ) -> None:
        self.chain_length = chain_length
        self.checkpoint_seq = checkpoint_seq
        self.checkpoint_age = checkpoint_age

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "wecare_audit_chain_length",
            "Events in the audit trail (the head's sequence number).",
            value=self.chain_length,
        )
        yield GaugeMetricFamily(
            "wecare_audit_events_since_checkpoint",
            "Events after the newest signed checkpoint (all of them when there is none).",
            value=self.chain_length - (self.checkpoint_seq or 0),
        )
        if self.checkpoint_age is not None:
            # Absent while there is no checkpoint: alert on absent() or on the events above.
            yield GaugeMetricFamily(
                "wecare_audit_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint of the audit trail was made.",
                value=self.checkpoint_age,
            )
