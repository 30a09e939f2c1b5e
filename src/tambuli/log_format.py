"""How a process writes its log: plain text lines (the default) or one JSON object per line
(`TAMBULI_LOG_FORMAT=json`) for log collectors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Where a log call's `extra=` names something, the JSON line names it the way the API does.
_EXTRA_KEYS = {
    "org_id": "orgId",
    "message_id": "messageId",
    "topup_id": "topupId",
    "push_id": "pushId",
    "ignored_fields": "ignoredFields",
}
# Attributes every LogRecord has; anything else came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: timestamp (UTC, RFC 3339), level, logger, message, what
    the call passed in `extra=` (orgId, messageId, ...), and the traceback if there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES:
                line[_EXTRA_KEYS.get(key, key)] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(log_format: str, tambuli_level: str = "info") -> None:
    """Send the process's log to stderr in the given format ("text" or "json"); Tambuli's own
    records from `tambuli_level` up, everyone else's from info up."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # Only Tambuli's loggers: at debug, the database drivers would log every statement.
    logging.getLogger("tambuli").setLevel(tambuli_level.upper())
