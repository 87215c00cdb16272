"""What the next generation is expected to cost: the last price the API quoted."""

from __future__ import annotations


class Pricing:
    def __init__(self, expected_cents: int = 1) -> None:
        self.expected_cents = expected_cents

    def quoted(self, cost_cents: int | None) -> None:
        """The API said what a job cost; the next reservation uses that price."""
        if cost_cents is not None:
            self.expected_cents = cost_cents
