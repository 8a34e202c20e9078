"""The web edge: health, body limit, JSON errors without tracebacks."""

from __future__ import annotations

from bot.app import create_app


def test_healthz_answers_when_the_database_does(runtime):
    client = create_app(runtime=runtime).test_client()
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json == {"status": "ok"}


def test_healthz_reports_an_unreachable_database(runtime, tmp_path):
    from bot.runtime import Runtime
    from storage.db import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{tmp_path}/missing-dir/x.db")
    broken = Runtime(runtime.holder, engine, make_session_factory(engine))
    resp = create_app(runtime=broken).test_client().get("/healthz")
    assert resp.status_code == 503


def test_oversized_body_is_413_as_json(runtime):
    client = create_app(runtime=runtime).test_client()
    limit = runtime.settings.server.max_body_bytes
    resp = client.post("/healthz", data=b"x" * (limit + 1))
    assert resp.status_code == 413
    assert resp.json["error"] == "request_entity_too_large"


def test_unknown_path_is_json_404(runtime):
    resp = create_app(runtime=runtime).test_client().get("/nope")
    assert resp.status_code == 404 and resp.is_json


def test_unexpected_error_is_500_without_traceback(runtime):
    app = create_app(runtime=runtime)

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    resp = app.test_client().get("/boom")
    assert resp.status_code == 500
    assert b"secret internals" not in resp.data and b"Traceback" not in resp.data
