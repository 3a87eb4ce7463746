"""Quix Streams running the filter and the count of bench/on_kafka.py, for its comparison.

It imports nothing of this project, so any Python with quixstreams installed can run
it (quixstreams pins an older confluent-kafka: `pip install '.[bench]'`, or a venv of
its own passed to on_kafka.py as --quix-python).

    python bench/quix_counterpart.py {filter,count} BOOTSTRAP TOPIC RECORDS

reads the JSON records of TOPIC from the earliest offset, as our queries do:

- filter: keep QTY > 2, write {"ID", "TOTAL": QTY * PRICE} under the same key
- count:  count per message key in a state store (RocksDB, with its changelog
  topic), write {"N": count} under the key

and prints {"records_per_second": ...}: RECORDS over the time from the first record
processed until the application stopped after the last one, its final checkpoint
(output flushed, offsets committed) included. Joining the group is not timed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid

from quixstreams import Application
from quixstreams.state import State


def main() -> None:
    name, bootstrap, topic, records = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with tempfile.TemporaryDirectory() as state_dir:
        app = Application(broker_address=bootstrap, consumer_group=f"quix-{uuid.uuid4().hex[:8]}",
                          auto_offset_reset="earliest", state_dir=state_dir, loglevel="WARNING")
        source = app.topic(topic, value_deserializer="json")
        sink = app.topic(f"{topic}-quix-{name}", value_serializer="json")
        first: list[float] = []
        seen = 0

        def tick(value: dict) -> None:
            nonlocal seen
            if not seen:
                first.append(time.perf_counter())
            seen += 1
            if seen == records:
                app.stop()  # after this record: the application then commits its last checkpoint

        sdf = app.dataframe(source).update(tick)
        if name == "filter":
            sdf = sdf.filter(lambda v: v["QTY"] > 2).apply(lambda v: {"ID": v["ID"], "TOTAL": v["QTY"] * v["PRICE"]})
        else:
            def count(value: dict, state: State) -> dict:
                n = state.get("n", 0) + 1
                state.set("n", n)
                return {"N": n}

            sdf = sdf.apply(count, stateful=True)
        sdf.to_topic(sink)
        app.run()
        elapsed = time.perf_counter() - first[0]
    print(json.dumps({"records_per_second": records / elapsed, "records": seen}))


if __name__ == "__main__":
    main()
