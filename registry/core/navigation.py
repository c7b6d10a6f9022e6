"""Counts shown in the navigation (e.g. open worklist items). Apps register a counter here."""

from collections.abc import Callable

_counters: dict[str, Callable] = {}


def register_counter(name: str, counter: Callable) -> None:
    _counters[name] = counter


def nav_counts(user) -> dict[str, int]:
    return {name: counter(user) for name, counter in _counters.items()}
