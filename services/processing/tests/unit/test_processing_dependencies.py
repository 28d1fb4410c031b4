"""Every dependency of processing's routes is a coroutine (or an async generator): FastAPI runs a plain ``def``
dependency in its thread pool, a thread hand-off per request that issue 7's profile found on the tracking path."""

import inspect

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from motcua_common import db
from processing import forms_routes, routes
from processing.measure import routes as measure_routes


def _sync_dependencies(dependant: Dependant) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        call = sub.call
        if call is not None and not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)):
            found.append(getattr(call, "__qualname__", repr(call)))
        found += _sync_dependencies(sub)
    return found


def test_no_route_depends_on_a_plain_function():
    api = [r for m in (routes, forms_routes, measure_routes) for r in m.router.routes if isinstance(r, APIRoute)]
    assert len(api) > 20
    offenders = {f"{sorted(r.methods or ())[0]} {r.path}": _sync_dependencies(r.dependant) for r in api}
    assert {k: v for k, v in offenders.items() if v} == {}


def _calls(dependant: Dependant) -> set[object]:
    return {sub.call for sub in dependant.dependencies} | {c for sub in dependant.dependencies for c in _calls(sub)}


def test_no_get_route_opens_a_transaction():
    """Every GET only reads: it takes ReadConn (no BEGIN/COMMIT, two round trips fewer), never Conn."""
    gets = [
        r
        for m in (routes, forms_routes, measure_routes)
        for r in m.router.routes
        if isinstance(r, APIRoute) and "GET" in (r.methods or ())
    ]
    assert len(gets) > 10
    assert [r.path for r in gets if db._request_transaction in _calls(r.dependant)] == []
    assert [r.path for r in gets if db._request_connection not in _calls(r.dependant)] == []
