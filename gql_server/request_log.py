"""Log lines as JSON objects (production) or text (development), each with its request's id.

`logging_config(settings)` is a `logging.config.dictConfig` dictionary: the CLI applies it, and
uvicorn applies it again in every worker process it starts. Fields passed as `extra=` become keys
of the JSON object (or `key=value` pairs after a text line).
"""

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

import orjson

from gql_server.observability import current_request_id
from gql_server.settings import Settings

# Everything a LogRecord carries by itself; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's colored copy of its message
}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}


class RequestIdFilter(logging.Filter):
    """Stamps the current request's id on every line logged while it is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = current_request_id()
            if request_id is not None:
                record.request_id = request_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{key}={value}" for key, value in extra_fields(record).items() if value is not None
        )
        line = super().formatMessage(record)
        return f"{line} {fields}" if fields else line


def logging_config(settings: Settings) -> dict[str, Any]:
    """Our own messages at `GQL_LOG_LEVEL`, uvicorn's at info, other libraries' from warning."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": {"()": JsonFormatter if settings.json_logs else TextFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "gql_server": {"level": settings.log_level.upper()},
            "uvicorn": {"level": "INFO"},
        },
    }


def configure(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
