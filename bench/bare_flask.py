"""The baseline of bench_wecom_ingest.py: a Flask app whose endpoint only answers 200 (served by gunicorn)."""

from flask import Flask, Response

app = Flask("bare")
app.add_url_rule("/", "bare", lambda: Response(status=200), methods=["POST"])
app.add_url_rule("/healthz", "healthz", lambda: Response(status=200))
