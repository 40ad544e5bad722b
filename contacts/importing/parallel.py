"""Reading a large file's rows on several cores.

Checking a row is mostly normalising its identities (email-validator, phonenumbers: tens of
microseconds each), which alone would hold a 100,000-row import under 10,000 rows/s on one core.
So for a large file, worker processes check chunks of records while this process plans and writes
the chunks before them. At most `2 × workers` chunks are in flight, so memory stays flat.

Workers are forked: they inherit the loaded project and the header's columns, and they only
compute — they never touch the database, and a forked child leaves through os._exit, so the
parent's database connection it inherited is never closed from the child.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice

from contacts.importing.reading import Column, ImportFile, ImportRow, Record
from contacts.importing.rows import RowReader

# Below this size (about 10,000 rows) starting processes costs more than it saves.
PARALLEL_MIN_BYTES = 1_000_000
MAX_WORKERS = 4

_reader: RowReader | None = None


def row_chunks(
    import_file: ImportFile, *, size: int, file_bytes: int, phone_region: str = "", after_row: int = 0
) -> Iterator[list[ImportRow]]:
    """The file's rows after row `after_row` (a resumed import's last committed one), checked, in
    chunks of `size`, in file order; national phone numbers read in `phone_region` (see RowReader).
    Rows skipped are only parsed as CSV, not checked."""
    records = (record for record in import_file.records() if record[0] > after_row)
    workers = _worker_count(file_bytes)
    if workers < 2:
        reader = RowReader(import_file.columns, phone_region=phone_region)
        rows = (reader.read(*record) for record in records)
        while chunk := list(islice(rows, size)):
            yield chunk
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start, initargs=(import_file.columns, phone_region)
    ) as pool:
        pending: deque[Future] = deque()
        while True:
            while len(pending) < 2 * workers and (batch := list(islice(records, size))):
                pending.append(pool.submit(_read, batch))
            if not pending:
                return
            yield pending.popleft().result()


def _worker_count(file_bytes: int) -> int:
    if file_bytes < PARALLEL_MIN_BYTES or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if multiprocessing.current_process().daemon:
        return 1  # a daemonic process (a Celery prefork child) may not start processes
    if threading.active_count() > 1:
        return 1  # forking a threaded process (a threaded web server) can deadlock the child
    return min(os.cpu_count() or 1, MAX_WORKERS)


def _start(columns: list[Column], phone_region: str) -> None:
    global _reader
    _reader = RowReader(columns, phone_region=phone_region)
    gc.freeze()  # the inherited project is not the worker's to collect (see services._older_objects_frozen)


def _read(records: list[Record]) -> list[ImportRow]:
    return [_reader.read(*record) for record in records]
