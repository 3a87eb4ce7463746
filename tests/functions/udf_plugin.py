"""A plugin module as a user's package publishes it: functions declared with the module-level decorators."""

from __future__ import annotations

from ksql.functions.registry import aggregate, scalar
from ksql.types import BIGINT, STRING


@scalar("SHOUT", [STRING], STRING, description="Upper-cases and adds an exclamation mark.")
def shout(text):
    return text.upper() + "!"


@aggregate("LONGEST", [STRING], BIGINT, intermediate=BIGINT, description="The length of the longest string.")
class Longest:
    def initialize(self):
        return 0

    def aggregate(self, current, agg):
        return max(agg, len(current or ""))

    def merge(self, a, b):
        return max(a, b)

    def map(self, agg):
        return agg
