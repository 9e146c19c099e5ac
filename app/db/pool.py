"""The connection pool, counted: connections in use, requests waiting for one, overflow.

SQLAlchemy's pool keeps these figures per process (``checkedout()``, ``overflow()``); the
metrics must add up over every worker, so each change is reported as it happens, and
prometheus-client sums the workers' values (app.core.metrics).
"""

from __future__ import annotations

import logging

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from app.core.metrics import POOL_IN_USE, POOL_OVERFLOW, POOL_WAITING


class MeteredQueuePool(AsyncAdaptedQueuePool):
    """The default pool of async engines, reporting its figures on every checkout and
    checkin. ``_do_get`` and ``_do_return_conn`` are the two methods a Pool subclass
    implements; waiting is the time spent inside ``_do_get`` (a free connection is handed
    out at once, a full pool makes the caller wait up to WECARE_DB_POOL_TIMEOUT_SECONDS)."""

    _reported_in_use = 0
    _reported_overflow = 0

    def _do_get(self) -> ConnectionPoolEntry:
        POOL_WAITING.inc()
        try:
            return super()._do_get()
        finally:
            POOL_WAITING.dec()
            self._report()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self._report()

    def _report(self) -> None:
        # Deltas, not values: in one process (tests, the metrics port) several pools add
        # to one gauge. Both figures are read from the pool itself, so they cannot drift.
        in_use, overflow = self.checkedout(), max(0, self.overflow())
        POOL_IN_USE.inc(in_use - self._reported_in_use)
        POOL_OVERFLOW.inc(overflow - self._reported_overflow)
        self._reported_in_use, self._reported_overflow = in_use, overflow


# SQLAlchemy keeps its own loggers at WARNING unless asked (echo_pool); a pool logs under its
# class's module, which for this one is ours: "Pool disposed" would be an INFO line at exit.
logging.getLogger(f"{__name__}.{MeteredQueuePool.__name__}").setLevel(logging.WARNING)
