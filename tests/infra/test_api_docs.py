"""/api/schema/ and /api/docs/ (docs/CONTRACT.md §9): a valid OpenAPI 3 document generated without
warnings, covering every /api route, and a docs page that needs nothing from the internet."""

import re

import pytest
from django.contrib.admindocs.views import simplify_regex
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

_NOT_DOCUMENTED = {"/api/schema/", "/api/docs/"}


def _generate():
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    problems = [f"warning: {m}" for m in GENERATOR_STATS._warn_cache] + [
        f"error: {m}" for m in GENERATOR_STATS._error_cache
    ]
    GENERATOR_STATS.reset()
    return schema, problems


@pytest.fixture(scope="module")
def generated():
    return _generate()


def test_schema_generates_without_warnings_or_errors(generated):
    _, problems = generated
    # Each message names the view that needs an @extend_schema (or a typed serializer field).
    assert problems == [], "drf-spectacular reported:\n" + "\n".join(problems)


def test_schema_is_valid_openapi_3(generated):
    schema, _ = generated
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Pixell Agent Cloud API"


def _api_routes(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            path = simplify_regex(route)
            if path.startswith("/api/"):
                yield re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)


def test_every_api_route_is_documented(generated):
    schema, _ = generated
    routes = set(_api_routes(get_resolver().url_patterns)) - _NOT_DOCUMENTED
    missing = sorted(routes - set(schema["paths"]))
    assert missing == [], (
        "routed under /api but absent from the schema (not a DRF view?): " + ", ".join(missing)
    )


def test_authenticated_routes_document_both_credentials(generated):
    schema, _ = generated
    schemes = schema.get("components", {}).get("securitySchemes", {})
    if not schemes:
        pytest.skip("no authenticated API view is routed yet")
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from POST /api/auth/login, or an API key (pac_…).",
    }
    assert (
        schemes["cookieAuth"]["in"] == "cookie"
        and schemes["cookieAuth"]["name"] == "pixell-auth-token"
    )


@pytest.mark.django_db
def test_schema_endpoint_serves_yaml_and_json(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")

    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@pytest.mark.django_db
def test_docs_page_uses_only_our_own_static_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()

    # No CDN, no absolute URL of any kind: the page must work with no internet access.
    assert not re.search(r"https?://|\"//|'//", html), re.findall(r"\S*(?:https?:)?//\S*", html)
    assets = _ASSET.findall(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    # Swagger UI's start-up script is ours too (/api/docs/?script=, not inline: the CSP).
    (script,) = [a for a in assets if not a.startswith("/static/")]
    assert script.startswith("/api/docs/?") and "script=" in script
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert len(body) > 0, asset
        assert not re.search(rb"https?://", body) or asset.startswith("/static/"), asset
    # The UI loads its document from us, too.
    assert 'url: "/api/schema/"' in client.get(script).content.decode()
