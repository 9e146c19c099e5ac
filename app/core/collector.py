"""The garbage collector of a server worker, settled once the worker has started.

A worker holds a few hundred thousand long-lived objects (the app, its routes and OpenAPI
models, SQLAlchemy's mappers and compiled statements, pydantic's validators), all of them
tracked by the cyclic collector. CPython's full collection walks every one: every few
seconds under load it stopped the event loop for 40-100 ms on the benchmark machine, and
every request in flight on the worker waited that long. That was most of the p99 at 10
connections (bench/TAILS.md).

Moved to the permanent generation once started (``gc.freeze``), they are no longer
walked; a full collection then walks only what requests left behind. The young
generation's threshold is raised, so that the collections a request's garbage triggers
come less often (each walks only young objects, so the total work is about the same).
Reference counting still frees nearly everything at once; only cycles wait for a
collection, and they still get one.
"""

from __future__ import annotations

import gc

# gen0 collections after this many net allocations of tracked objects (CPython's 700: one
# per third of a request here); gen1 and gen2 after this many of the younger one.
THRESHOLDS = (7_000, 10, 10)


def settle() -> None:
    """Collect what startup left, then freeze the survivors out of every later collection
    and set the thresholds. Once per worker, after startup, before any request."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
