"""`Tracked`: a test service class that remembers its instances.

Tests drive services through the control protocol, which hands out records, never
service objects; a test that checks what a service did (its setups, teardowns) reads it
from the instance its class remembers.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self


class Tracked:
    """Mixin for test services: `Cls.latest()` is the last instance made of `Cls`."""

    _instances: ClassVar[list[Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._instances = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type(self)._instances.append(self)

    @classmethod
    def latest(cls) -> Self:
        """The last instance made of this class.

        Raises:
            LookupError: none was made.
        """
        if not cls._instances:
            raise LookupError(f"no instance of {cls.__name__} was made")
        instance: Self = cls._instances[-1]
        return instance
