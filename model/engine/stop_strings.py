"""Stop strings over a growing decoded text, across token boundaries.

A stop string can be split over several tokens ("</a" + "nswer>") or be merged into one token with
text before it. So we match on the decoded text, not on token ids: every step the caller decodes
the completion so far and asks whether a stop string has appeared, searching only the tail that
can contain a new match. For streaming, `holdback` says how many trailing characters might still
turn into a stop string and must not be shown yet.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopStringMatcher:
    """Finds the earliest stop string in a text; cheap to call once per generated token."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(s for s in stop if s)
        self.max_len = max((len(s) for s in self.stop), default=0)

    def __bool__(self) -> bool:
        return bool(self.stop)

    def find(self, text: str, checked_len: int = 0) -> int | None:
        """Index in `text` where the earliest stop string begins, or None.

        `checked_len` is how much of `text` an earlier call already searched without a match;
        a new match must end after it, so we start `max_len - 1` characters before it.
        """
        if not self.stop:
            return None
        start = max(0, checked_len - self.max_len + 1)
        found = [i for s in self.stop if (i := text.find(s, start)) >= 0]
        return min(found) if found else None

    def holdback(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
        longest = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(text)), longest, -1):
                if text.endswith(s[:n]):
                    longest = n
                    break
        return longest
