"""One log line for a burst of the same trouble: a thousand slow clients refused together,
or every answer's end during a store outage, are logged once, then counted."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter


class BurstLog:
    """Log the first of a burst of refusals (or of what `verb` says), then how many more
    came, once per `every` s."""

    def __init__(self, logger: logging.Logger, every: float = 10.0, verb: str = "refused") -> None:
        self._logger = logger
        self.every = every
        self._verb = verb
        self._since: Counter[str] = Counter()
        self._quiet: asyncio.TimerHandle | None = None

    def note(self, kind: str, detail: str) -> None:
        """One refusal of `kind` (a short phrase); `detail` goes into the log if it is the first."""
        if self._quiet is None:
            self._logger.warning("%s %s: %s", self._verb, kind, detail)
            self._quiet = asyncio.get_running_loop().call_later(self.every, self._report)
        else:
            self._since[kind] += 1

    def _report(self) -> None:
        self._quiet = None
        if self._since:
            counts = ", ".join(f"{n} {kind}" for kind, n in self._since.most_common())
            self._logger.warning("%s %s more in the last %g s", self._verb, counts, self.every)
            self._since.clear()
            self._quiet = asyncio.get_running_loop().call_later(self.every, self._report)
