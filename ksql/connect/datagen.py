"""The datagen source connector (io.confluent.kafka.connect.datagen.DatagenConnector) with ksqlDB's
quickstart schemas: users, pageviews, orders, ratings, clickstream, stock_trades.

Properties (Confluent's names): `quickstart`, `kafka.topic`, `max.interval` (the most milliseconds
between two records, each wait drawn at random as datagen does; default 500), `iterations` (records per
task; < 1 for no end), `schema.keyfield` (the field that becomes the string key), `random.seed`, and
`messages.per.second`, a rate limit that spaces records evenly (it wins over max.interval).

Each record is a struct value with its Connect schema, so the value converter decides the format
(JSON without schemas by default). The source offset counts iterations (`current.iteration` of
source partition `{"task.id": n}`): a restarted task goes on with the next iteration.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ksql.connect import data
from ksql.connect.api import ConfigDef, SourceConnector, SourceRecord, SourceTask
from ksql.connect.data import Schema

MAX_BATCH = 1000
MAX_WAIT_SECONDS = 0.5

_S, _I32, _I64, _F64 = data.primitive("string"), data.primitive("int32"), data.primitive("int64"), \
    data.primitive("float64")


@dataclass(frozen=True)
class Quickstart:
    """One quickstart: its key field, value schema and a generator of the value of iteration n."""

    keyfield: str
    schema: Schema
    generate: Callable[[int, random.Random], dict[str, Any]]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _users(n: int, rng: random.Random) -> dict[str, Any]:
    return {"registertime": rng.randint(1487715775521, 1519273364600), "userid": f"User_{rng.randint(1, 9)}",
            "regionid": f"Region_{rng.randint(1, 9)}", "gender": rng.choice(("MALE", "FEMALE", "OTHER"))}


def _pageviews(n: int, rng: random.Random) -> dict[str, Any]:
    return {"viewtime": n * 10 + 1, "userid": f"User_{rng.randint(1, 9)}", "pageid": f"Page_{rng.randint(1, 99)}"}


_CITIES = (("City_1", "State_1"), ("City_2", "State_2"), ("City_3", "State_3"), ("City_4", "State_4"))


def _orders(n: int, rng: random.Random) -> dict[str, Any]:
    city, state = rng.choice(_CITIES)
    return {"ordertime": rng.randint(1487715775521, 1519273364600), "orderid": n,
            "itemid": f"Item_{rng.randint(1, 999)}", "orderunits": round(rng.uniform(0.1, 10.0), 10),
            "address": {"city": city, "state": state, "zipcode": rng.randint(10000, 99999)}}


_CHANNELS = ("iOS", "android", "web", "ios-test", "iOS-test")
_MESSAGES = ("meh", "Exceeded all my expectations. Thank you !", "more peanuts please",
             "airport refurb looks great, will fly outta here more!", "thank you for the most friendly, helpful "
             "experience today at your new lounge", "your team here rocks!", "why is it so difficult to keep the "
             "bathrooms clean ?", "Surprisingly good, maybe you are getting your mojo back at long last!",
             "is this as good as it gets? really ?")


def _ratings(n: int, rng: random.Random) -> dict[str, Any]:
    return {"rating_id": n, "user_id": rng.randint(1, 20), "stars": rng.randint(1, 5),
            "route_id": rng.randint(1000, 9999), "rating_time": _now_ms(), "channel": rng.choice(_CHANNELS),
            "message": rng.choice(_MESSAGES)}


_REQUESTS = ("GET /index.html HTTP/1.1", "GET /site/user_status.html HTTP/1.1", "GET /site/login.html HTTP/1.1",
             "GET /site/user_status.html HTTP/1.1", "GET /images/track.png HTTP/1.1", "GET /images/logo-small.png "
             "HTTP/1.1")
_AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/59.0.3071.115 "
           "Safari/537.36", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_12_6) AppleWebKit/603.3.8 (KHTML, like "
           "Gecko) Version/10.1.2 Safari/603.3.8")


def _clickstream(n: int, rng: random.Random) -> dict[str, Any]:
    ms = _now_ms()
    return {"ip": f"{rng.choice((111, 222, 233))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "userid": rng.randint(1, 40), "remote_user": "-",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ms / 1000)), "_time": ms,
            "request": rng.choice(_REQUESTS), "status": rng.choice(("200", "302", "404", "405", "406", "407")),
            "bytes": rng.choice(("278", "1289", "2048", "4096", "4006", "4196", "14096")),
            "referrer": "-", "agent": rng.choice(_AGENTS)}


_SYMBOLS = ("ZBZX", "ZJZZT", "ZTEST", "ZVV", "ZVZZT", "ZWZZT", "ZXZZT")


def _stock_trades(n: int, rng: random.Random) -> dict[str, Any]:
    return {"side": rng.choice(("BUY", "SELL")), "quantity": rng.randint(1, 5000), "symbol": rng.choice(_SYMBOLS),
            "price": rng.randint(5, 1000), "account": rng.choice(("ABC123", "LMN456", "XYZ789")),
            "userid": f"User_{rng.randint(1, 9)}"}


def _struct(name: str, *fields: tuple[str, Schema]) -> Schema:
    return data.struct(list(fields), name=name)


QUICKSTARTS: dict[str, Quickstart] = {
    "users": Quickstart("userid", _struct("ksql.users", ("registertime", _I64), ("userid", _S), ("regionid", _S),
                                          ("gender", _S)), _users),
    "pageviews": Quickstart("viewtime", _struct("ksql.pageviews", ("viewtime", _I64), ("userid", _S),
                                                ("pageid", _S)), _pageviews),
    "orders": Quickstart("orderid", _struct(
        "ksql.orders", ("ordertime", _I64), ("orderid", _I32), ("itemid", _S), ("orderunits", _F64),
        ("address", _struct("ksql.address", ("city", _S), ("state", _S), ("zipcode", _I64)))), _orders),
    "ratings": Quickstart("rating_id", _struct(
        "ksql.ratings", ("rating_id", _I64), ("user_id", _I32), ("stars", _I32), ("route_id", _I32),
        ("rating_time", _I64), ("channel", _S), ("message", _S)), _ratings),
    "clickstream": Quickstart("ip", _struct(
        "ksql.clickstream", ("ip", _S), ("userid", _I32), ("remote_user", _S), ("time", _S), ("_time", _I64),
        ("request", _S), ("status", _S), ("bytes", _S), ("referrer", _S), ("agent", _S)), _clickstream),
    "stock_trades": Quickstart("symbol", _struct(
        "ksql.StockTrade", ("side", _S), ("quantity", _I32), ("symbol", _S), ("price", _I32), ("account", _S),
        ("userid", _S)), _stock_trades),
}


def _config_def() -> ConfigDef:
    return (ConfigDef()
            .define("kafka.topic", documentation="Topic to write to", importance="HIGH", required=True)
            .define("quickstart", documentation="Name of the quickstart schema: " + ", ".join(QUICKSTARTS),
                    importance="HIGH", required=True)
            .define("max.interval", "LONG", 500, documentation="Max interval between messages (ms)")
            .define("iterations", "INT", -1, documentation="Number of messages to send from each task, or less "
                                                            "than 1 for unlimited")
            .define("schema.keyfield", documentation="Name of the field to use as the message key")
            .define("random.seed", "LONG", None, documentation="Seed of the random values")
            .define("messages.per.second", "DOUBLE", None, documentation="Rate limit: records per second per task"))


class DatagenConnector(SourceConnector):
    """Generates mock records of a quickstart schema, `tasks.max` tasks each with its own iterations."""

    version = "0.6.0"

    def config(self) -> ConfigDef:
        return _config_def()

    def validate(self, config: Mapping[str, str]) -> dict[str, list[str]]:
        errors = super().validate(config)
        quickstart = (config.get("quickstart") or "").strip().lower()
        if quickstart and quickstart not in QUICKSTARTS:
            errors.setdefault("quickstart", []).append(
                f"Invalid value {config['quickstart']} for configuration quickstart: String must be one of: "
                f"{', '.join(QUICKSTARTS)}")
        return errors

    def start(self, config: Mapping[str, str]) -> None:
        self.props = dict(config)

    def task_class(self) -> type[DatagenTask]:
        return DatagenTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{**self.props, "task.id": str(i)} for i in range(max_tasks)]


class DatagenTask(SourceTask):
    def start(self, config: Mapping[str, str]) -> None:
        settings = _config_def()
        self.topic = settings.get(config, "kafka.topic")
        self.quickstart = QUICKSTARTS[settings.get(config, "quickstart").strip().lower()]
        self.keyfield = settings.get(config, "schema.keyfield") or self.quickstart.keyfield
        self.iterations = settings.get(config, "iterations")
        self.max_interval = settings.get(config, "max.interval") / 1000
        rate = settings.get(config, "messages.per.second")
        self.spacing = 1 / rate if rate else None
        seed = settings.get(config, "random.seed")
        self.partition = {"task.id": int(config.get("task.id", "0"))}
        offset = self.context.offset(self.partition) if self.context is not None else None
        self.count = int((offset or {}).get("current.iteration", 0))
        self.rng = random.Random(None if seed is None else seed + self.count)
        self.next_at = time.monotonic()

    def _wait(self) -> float:
        """Seconds until the record after this one is due."""
        if self.spacing is not None:
            return self.spacing
        return self.rng.uniform(0, self.max_interval) if self.max_interval > 0 else 0.0

    def poll(self) -> list[SourceRecord]:
        if 0 < self.iterations <= self.count:
            time.sleep(MAX_WAIT_SECONDS)
            return []
        delay = self.next_at - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, MAX_WAIT_SECONDS))
            if delay > MAX_WAIT_SECONDS:
                return []
        records = []
        now = time.monotonic()
        while self.next_at <= now and len(records) < MAX_BATCH and not 0 < self.iterations <= self.count:
            value = self.quickstart.generate(self.count, self.rng)
            self.count += 1
            key = value.get(self.keyfield)
            records.append(SourceRecord(self.topic, None, data.OPTIONAL_STRING, None if key is None else str(key),
                                        self.quickstart.schema, value, source_partition=self.partition,
                                        source_offset={"current.iteration": self.count}))
            self.next_at += self._wait()
        if self.next_at < now - 1:  # behind by more than a second (a slow log): do not burst to catch up
            self.next_at = now
        return records

    def stop(self) -> None:
        """Nothing to release."""
