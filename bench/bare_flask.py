"""The baseline of bench_wecom_ingest.py: a Flask app whose endpoint only answers 200 (served by gunicorn).
It answers on salesbot's own callback path too, so both receive byte-identical requests."""

from flask import Flask, Response

app = Flask("bare")
app.add_url_rule("/", "bare", lambda: Response(status=200), methods=["POST"])
app.add_url_rule("/wecom/callback", "callback", lambda: Response(status=200), methods=["POST"])
app.add_url_rule("/healthz", "healthz", lambda: Response(status=200))
