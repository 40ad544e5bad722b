"""The embedded broker (cxfeedback/broker.py): a worker polling the folder while others publish
never takes a message before it is whole."""

import threading

from kombu import Connection

from cxfeedback.broker import SCHEME


def test_a_consumer_racing_publishers_gets_every_message_whole(tmp_path):
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path),
    }
    publishers, each = 4, 300
    body = {"payload": "x" * 20_000}  # large enough that writing it takes a while

    def publish(number: int) -> None:
        with Connection(f"{SCHEME}://", transport_options=options) as connection:
            queue = connection.SimpleQueue("race")
            for n in range(each):
                queue.put({**body, "from": number, "n": n})
            queue.close()

    threads = [threading.Thread(target=publish, args=(number,)) for number in range(publishers)]
    for thread in threads:
        thread.start()
    received = set()
    with Connection(f"{SCHEME}://", transport_options=options) as connection:
        queue = connection.SimpleQueue("race")
        while len(received) < publishers * each:
            message = queue.get(timeout=30)  # a half-written file would fail to decode here
            received.add((message.payload["from"], message.payload["n"]))
            assert message.payload["payload"] == body["payload"]
            message.ack()
        queue.close()
    for thread in threads:
        thread.join()
    assert len(received) == publishers * each
