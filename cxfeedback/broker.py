"""The embedded broker's transport: kombu's filesystem transport, with each message written whole
before any worker can see it.

Kombu writes a message straight into the queue folder under its final name. A worker polling the
folder can take the file while it is still empty or half written, fail to decode it and stop with
"Unrecoverable error: JSONDecodeError", and the message is gone; `make reliability` hit it under
load (web processes publishing while the worker polls). Here the message is written under a name
no worker looks at and then renamed into the queue: a rename within a folder is atomic, so a
worker sees a whole message or none. The exchange tables in the control folder are written the
same way.

Callers: `cxfeedback.embedded.embedded_broker_url` (the `cxfilesystem://` URL, registered below).
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

SCHEME = "cxfilesystem"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: written as `….msg.partial` (workers take only `<queue>.msg`
        names), then renamed."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        partial = f"{path}.partial"
        try:
            with open(partial, "wb", buffering=0) as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        """Bind `queue` in the exchange's table. Kombu creates the table by truncating the file before
        it locks it, so a connection declaring the same queue at that moment reads an empty file and
        fails; here writers take turns on a lock file and the table is renamed into place whole."""
        table = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with open(table.with_name(f"{table.name}.lock"), "wb") as turn:
            filesystem.lock(turn, filesystem.LOCK_EX)
            try:
                queues = self.get_table(exchange)
                if entry in queues:
                    return
                partial = table.with_name(f"{table.name}.partial")
                partial.write_bytes(str_to_bytes(dumps([entry, *queues])))
                os.replace(partial, table)
            finally:
                filesystem.unlock(turn)


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault(SCHEME, "cxfeedback.broker:Transport")
