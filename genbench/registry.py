"""Name -> object registries that fail loudly: a duplicate name is a bug, an unknown one lists the valid ones."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from genbench.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator adding what it decorates under ``name``."""
        return lambda obj: self.add(name, obj)

    def add(self, name: str, obj: T) -> T:
        if name in self._entries:
            raise RuntimeError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = obj
        return obj

    def get(self, name: str, *, source: str = "") -> T:
        try:
            return self._entries[name]
        except KeyError:
            where = f"{source}: " if source else ""
            raise ConfigError(f"{where}unknown {self.kind} '{name}' (known: {', '.join(sorted(self._entries))})") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
