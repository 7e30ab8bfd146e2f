"""The app as deployed (tests/deployment.py): gunicorn with config/gunicorn.py, production
settings, DEBUG off, static files from collectstatic served by WhiteNoise, /api/docs/ from
local files. Over HTTP, as a browser or a client would see it."""

import gzip
import json
import re
import time
from typing import Any

import pytest
import requests

from tests.deployment import ROOT, Deployment

pytestmark = [pytest.mark.postgresql_only]

HASHED_CSS = re.compile(r'href="(/static/web/celltrace\.[0-9a-f]{12}\.css)"')


def test_gunicorn_runs_with_its_settings_file_on_the_bind_given(deployment: Deployment) -> None:
    assert requests.get(deployment.url + "/api/health/", timeout=10).status_code == 200
    # gunicorn writes the access line after the answer has gone out: wait for it a little.
    deadline = time.monotonic() + 10
    log = deployment.log.read_text()
    while '"GET /api/health/' not in log and time.monotonic() < deadline:
        time.sleep(0.1)
        log = deployment.log.read_text()
    assert f"Listening at: {deployment.url}" in log  # --bind wins over the file's 127.0.0.1:8000
    assert "Using worker: gthread" in log  # the file's threads (the default worker is sync)
    assert '"GET /api/health/ HTTP/1.1" 200' in log  # access log on stdout


def test_the_pages_link_hashed_css_served_compressed_and_cached_for_good(deployment: Deployment) -> None:
    login = requests.get(deployment.url + "/accounts/login/", timeout=10)
    assert login.status_code == 200
    match = HASHED_CSS.search(login.text)
    assert match, login.text[:2000]
    css = requests.get(deployment.url + match[1], headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.headers["Content-Encoding"] == "gzip"
    assert "immutable" in css.headers["Cache-Control"]
    raw = css.raw.read()
    source = (ROOT / "web/static/web/celltrace.css").read_bytes()
    assert gzip.decompress(raw) == source
    assert len(raw) < len(source) / 2
    # The compressed copy was written by collectstatic, next to the hashed file.
    assert (deployment.static_root / (match[1].removeprefix("/static/") + ".gz")).is_file()
    # A client that does not take gzip gets the plain file.
    plain = requests.get(deployment.url + match[1], headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in plain.headers and plain.content == source


def test_the_genealogy_scripts_are_in_the_manifest_and_served(deployment: Deployment) -> None:
    manifest = json.loads((deployment.static_root / "staticfiles.json").read_text())["paths"]
    for name in ("web/genealogy.js", "vendor/cytoscape-3.30.4/cytoscape.min.js", "web/plots.js"):
        hashed = manifest[name]
        assert re.fullmatch(r".+\.[0-9a-f]{12}\.js", hashed), hashed
        answer = requests.get(f"{deployment.url}/static/{hashed}", timeout=10)
        assert answer.status_code == 200 and "javascript" in answer.headers["Content-Type"]


def test_a_missing_page_or_file_is_a_404_page_without_debug_details(deployment: Deployment) -> None:
    missing = requests.get(deployment.url + "/no/such/page/", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("text/html")
    assert "<html" in missing.text.lower()
    assert "Using the URLconf" not in missing.text and "DEBUG = True" not in missing.text
    assert requests.get(deployment.url + "/static/web/nothing.css", timeout=10).status_code == 404
    api = requests.get(deployment.url + "/api/no-such-endpoint/", timeout=10)
    assert api.status_code == 404 and api.headers["Content-Type"].startswith("application/json")


def _docs(deployment: Deployment) -> Any:
    _, token = deployment.users["demo-operator"]
    return requests.get(deployment.url + "/api/docs/", headers={"Authorization": f"Token {token}"}, timeout=10)


def test_the_api_docs_load_swagger_ui_from_the_app_not_a_cdn(deployment: Deployment) -> None:
    docs = _docs(deployment)
    assert docs.status_code == 200 and docs.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert any("swagger-ui-bundle" in asset for asset in assets), assets
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    assert "cdn" not in docs.text.lower()
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/swagger-ui-dist/"), asset
        assert requests.get(deployment.url + asset, timeout=10).status_code == 200, asset
    # Still behind sign-in, as every endpoint.
    assert requests.get(deployment.url + "/api/docs/", timeout=10).status_code == 401


def test_the_api_answers_in_iso_8601_with_the_plant_offset(deployment: Deployment) -> None:
    _, token = deployment.users["demo-operator"]
    answer = requests.get(deployment.url + "/api/items/", headers={"Authorization": f"Token {token}"}, timeout=10)
    assert answer.status_code == 200
    created = answer.json()["results"][0]["created_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+0[12]:00", created), created
