"""Moved to app.db.guards (the API's problem rendering reads it, below every layer).

Kept for tests/api/v1/test_caps.py until its split imports app.db.guards.
"""

from app.db.guards import violated_constraint

__all__ = ["violated_constraint"]
