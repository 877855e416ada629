"""Logging set-up: sd-daemon priority prefixes under systemd, a plain format for people.

Under systemd a service's stderr goes to the journal, which reads a leading `<N>` on each
line as that line's priority (sd-daemon(3): 3 err, 4 warning, 6 info, 7 debug), so
`journalctl -p warning` works with no journal library. systemd sets JOURNAL_STREAM for
services whose output is connected to the journal.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Mapping, TextIO

# logging level -> syslog priority, as sd-daemon's <N> prefixes
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
DEBUG_PRIORITY = 7
JOURNAL_FORMAT = "<%(priority)d>%(name)s: %(message)s"
HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def priority_of(levelno: int) -> int:
    for level, priority in PRIORITIES:
        if levelno >= level:
            return priority
    return DEBUG_PRIORITY


class JournalFormatter(logging.Formatter):
    """`<N>name: message`; a traceback's extra lines get the same prefix, so the journal keeps
    them at the record's priority instead of the default (info)."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.priority = priority_of(record.levelno)
        text = super().format(record)
        prefix = f"<{record.priority}>"
        return "\n".join(line if line.startswith(prefix) else prefix + line for line in text.split("\n"))


def under_journal(environ: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if environ is None else environ).get("JOURNAL_STREAM"))


def configure_logging(service: bool, verbose: bool = False, stream: TextIO | None = None,
                      environ: Mapping[str, str] | None = None) -> logging.Handler:
    """One stderr handler on the root logger (replacing earlier ones: safe to call again).
    service=True or running under systemd: journal format; else the plain human format.
    verbose: debug and up, else info and up (service) / warnings and up (interactive)."""
    journal = service or under_journal(environ)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JournalFormatter() if journal else logging.Formatter(HUMAN_FORMAT, "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if verbose:
        root.setLevel(logging.DEBUG)
    else:
        # a service's info lines are its record of what happened; at a terminal they are noise
        root.setLevel(logging.INFO if journal else logging.WARNING)
    return handler
