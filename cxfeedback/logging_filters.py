"""Keep personal-link tokens out of the logs.

A token in /t/, /s/ (survey), /u/ (unsubscribe) or /p/ (preference centre) links is a password to
one customer's invitation; a log line such as django.request's "Not Found: /t/<token>" or a
request line from runserver would hand it to whoever reads the logs. Wired into
settings.LOGGING on the console handler, so it sees every record whichever logger wrote it.
"""

import logging
import re

# The path segment after a public prefix, wherever it appears: a path, a full URL, a quoted request
# line. Anything up to the next /, ?, #, quote or space is the token (or an attempt at one).
TOKEN_IN_LINK = re.compile(r"(/[tsup]/)[^/?#\s\"']+")
REDACTED = r"\1[redacted]"


def redact_tokens(text: str) -> str:
    return TOKEN_IN_LINK.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites a record's message (with its arguments merged in) without tokens; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: log it as written, still redacted
            message = str(record.msg)
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is formatted once, here.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_tokens(record.exc_text)
        return True


_TRACEBACKS = logging.Formatter()
