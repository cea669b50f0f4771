"""user-service consumes no events yet: it is where accounts start."""

from __future__ import annotations
