"""The embedded broker (cxfeedback/broker.py): a worker polling the folder while other processes
(web workers) declare the queue and publish never takes a message, or a queue table, before it is
whole."""

import multiprocessing

import pytest
from kombu import Connection

from cxfeedback.broker import SCHEME


def publish(options: dict, number: int, each: int, body: dict) -> None:
    with Connection(f"{SCHEME}://", transport_options=options) as connection:
        queue = connection.SimpleQueue("race")
        for n in range(each):
            queue.put({**body, "from": number, "n": n})
        queue.close()


def test_a_consumer_racing_publishers_gets_every_message_whole(tmp_path):
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path),
    }
    publishers, each = 4, 300
    body = {"payload": "x" * 20_000}

    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(target=publish, args=(options, number, each, body)) for number in range(publishers)
    ]
    for process in processes:
        process.start()
    received = set()
    with Connection(f"{SCHEME}://", transport_options=options) as connection:
        queue = connection.SimpleQueue("race")
        while len(received) < publishers * each:
            message = queue.get(timeout=30)  # a half-written file would fail to decode here
            received.add((message.payload["from"], message.payload["n"]))
            assert message.payload["payload"] == body["payload"]
            message.ack()
        queue.close()
    for process in processes:
        process.join()
        assert process.exitcode == 0
    assert len(received) == publishers * each


def test_a_message_still_being_written_is_not_taken(tmp_path):
    """What a worker polling the folder sees while a web process writes: the file under its
    in-progress name, half written. Kombu's own transport writes under the final name, and a
    worker taking such a file fails to decode it, stops and loses it."""
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path),
    }
    with Connection(f"{SCHEME}://", transport_options=options) as connection:
        queue = connection.SimpleQueue("invitations")
        (tmp_path / "1_half.invitations.msg.partial").write_bytes(b'{"body": "eyJhIjog')
        queue.put({"whole": True})

        assert queue.get(timeout=5).payload == {"whole": True}
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.5)
        queue.close()
