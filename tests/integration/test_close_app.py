"""``close_app``: what a served worker runs on its way out (node/app.py).

Pushes already handed over are finished and no more are taken, refetches are stopped, the
scheduler (when the app started one) is shut down and the database pool is closed; a second
call does nothing.
"""

from __future__ import annotations

from flask import Flask

from node.app import SERVICES, close_app, create_app
from node.wiring import NodeServices


def test_close_app_stops_background_work_and_closes_the_pool(
    node: tuple[NodeServices, str],
) -> None:
    services = node[0]
    app: Flask = create_app(services, testing=True)
    assert app.extensions[SERVICES] is services
    with services.db.read():
        pass  # a pooled connection to close
    close_app(app, drain_seconds=1.0)
    assert SERVICES not in app.extensions
    # No more refetches are queued, and the pool holds no connection.
    assert services.refetch.request(["https://127.0.0.1:1/status-lists/x"], urgent=True) == 0
    assert services.db.engine.pool.checkedin() == 0
    close_app(app)  # idempotent: nothing left to close
