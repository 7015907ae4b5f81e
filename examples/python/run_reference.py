"""Run sdk_example.py (the API reference's example, unchanged) against a
real server.

The example hard-codes http://localhost:9090 and the token
'your-jwt-token'. This runner leaves the file as it is and, for the length
of the run, points requests at PROVISIONING_SERVER and replaces the
placeholder token with PROVISIONING_TOKEN:

    PROVISIONING_SERVER=http://127.0.0.1:9090 PROVISIONING_TOKEN=... \
        python3 run_reference.py
"""

import os
import runpy

import requests

REFERENCE_BASE = "http://localhost:9090"
REFERENCE_TOKEN = "your-jwt-token"

server = os.environ.get("PROVISIONING_SERVER", REFERENCE_BASE).rstrip("/")
token = os.environ.get("PROVISIONING_TOKEN", REFERENCE_TOKEN)
_request = requests.sessions.Session.request


def request(self, method, url, *args, **kwargs):
    if isinstance(url, str) and url.startswith(REFERENCE_BASE):
        url = server + url[len(REFERENCE_BASE):]
    headers = kwargs.get("headers") or {}
    if headers.get("Authorization") == "Bearer " + REFERENCE_TOKEN:
        kwargs["headers"] = {**headers, "Authorization": "Bearer " + token}
    return _request(self, method, url, *args, **kwargs)


requests.sessions.Session.request = request
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sdk_example.py"), run_name="__main__")
