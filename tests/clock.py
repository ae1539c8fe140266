"""A clock the tests move by hand, for code that takes its clock as an argument."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeClock:
    """Wall clock, monotonic clock and sleep in one: sleeping records the delay and moves
    time on, as does `advance`. Both clocks read the same number (what matters to the code
    under test is how far time moved, not which clock it is)."""

    now: float = 1_750_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
