"""Logging: structlog renders every line, ours and the standard library's (uvicorn,
SQLAlchemy, the app's ``logging.getLogger`` loggers), as one JSON object or one readable
line, each with the time (ISO 8601, UTC), level, logger and the request's id."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# Marks the root handler installed here, so that configuring again replaces its renderer
# instead of adding a second handler (tests build many apps in one process).
_HANDLER_MARK = "_wecare"


def _add_request_id(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """The id of the request being served ("-" outside a request: startup, the CLI); for a
    standard record, the id it was logged under (RequestIdFilter), whenever it is rendered."""
    record = event_dict.get("_record")
    logged_under = getattr(record, "request_id", None) if record is not None else None
    event_dict.setdefault("request_id", logged_under or request_id_var.get())
    return event_dict


def _drop_copies(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Copies of the event among a record's extras: uvicorn's message again with terminal
    colours, and the message another handler's formatter stored on the record."""
    event_dict.pop("color_message", None)
    event_dict.pop("message", None)
    return event_dict


class RequestIdFilter(logging.Filter):
    """Also on the record itself, for other handlers of the same records (tests' caplog)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# Run on every event, whether it came from structlog or from a standard logging record.
_SHARED: list[Processor] = [
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
    _add_request_id,
]


def log_formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    renderer: list[Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if log_format == "json"
        else [
            # Plain tracebacks: never the locals (a password or a token may be one of them).
            structlog.dev.ConsoleRenderer(
                colors=False,
                exception_formatter=structlog.dev.plain_traceback,
                timestamp_key="time",
            )
        ]
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder(), _drop_copies],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


def configure_logging(level: str, log_format: str = "text") -> None:
    """Install one stderr handler on the root logger rendering ``json`` or ``text``
    (idempotent: a second call only changes the level and the renderer)."""
    structlog.configure(
        processors=[
            # First: an event below the level costs one isEnabledFor, no processing.
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.setLevel(level)
    formatter = log_formatter(log_format)
    for handler in root.handlers:
        if getattr(handler, _HANDLER_MARK, False):
            handler.setFormatter(formatter)
            return
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger whose events go through the standard library (so tests' caplog,
    levels and the root handler apply to them as to every other record)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
