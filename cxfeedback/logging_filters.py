"""Keep personal-link tokens, API keys, email addresses and phone numbers out of the logs (and out of
error reports: cxfeedback/sentry.py applies the same `redact`).

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


# A department's API key (departments/authentication.py: "cxf_" and the secret).
API_KEY = re.compile(r"cxf_[A-Za-z0-9_-]{8,}")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number: international (+49 151 23456789, +4915123456789) or national with a separator
# after the area code (0151 2345678, 030/1234567). Not a bare number: ids, counts and durations.
PHONE = re.compile(r"(?<![\w+])\+\d(?:[ ./()-]{0,2}\d){6,14}|(?<![\w.:/])0\d{1,4}[ /-]\d(?:[ -]?\d){3,}")


def redact_tokens(text: str) -> str:
    return TOKEN_IN_LINK.sub(REDACTED, text)


def redact(text: str) -> str:
    """`text` without tokens in links, API keys, email addresses or phone numbers."""
    text = API_KEY.sub("cxf_[redacted]", redact_tokens(text))
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


class RedactTokens(logging.Filter):
    """Rewrites a record's message (with its arguments merged in) without tokens, API keys, email
    addresses and phone numbers (`redact`); never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: log it as written, still redacted
            message = str(record.msg)
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is formatted once, here.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_TRACEBACKS = logging.Formatter()
