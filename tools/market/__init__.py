"""Market data: providers (Yahoo Finance live, the offline snapshot), the cache, the calendar."""
