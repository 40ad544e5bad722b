"""Log lines as JSON objects, one a line, for a log collector to index (LOG_FORMAT=json, the
default outside DEBUG). Each carries the request id and, in a worker, the task (cxfeedback/
request_id.py). The redacting filter (cxfeedback/logging_filters.py) runs on the handler before
this formatter, so message and traceback arrive here redacted."""

from __future__ import annotations

import datetime as dt
import json
import logging

from cxfeedback.request_id import REQUEST_ID, TASK


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := REQUEST_ID.get():
            entry["request_id"] = request_id
        if task := TASK.get():
            entry["task"] = task
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)
