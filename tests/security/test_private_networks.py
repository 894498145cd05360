"""The runtime has its own private-network setting; customer webhooks stay public-only unless
PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS says otherwise."""

import pytest

from deployments.pipeline import runtime_config
from deployments.services import webhook_create
from pixell.errors import PixellError

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(org, owner):
    from agentapps.services import agent_app_create

    return agent_app_create(organization=org, actor=owner, name="net-agent", description="t")


def test_the_runtime_flag_does_not_open_webhooks(settings, org, app):
    settings.PIXELL_RUNTIME_URL = "http://127.0.0.1:8090"
    settings.PIXELL_RUNTIME_SECRET = "r" * 32
    settings.PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS = True
    settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert runtime_config().allow_private is True
    with pytest.raises(PixellError):
        webhook_create(
            organization=org,
            agent_app=app,
            url="http://127.0.0.1:9/x",
            events=["deployment.failed"],
        )


def test_the_webhook_flag_does_not_open_the_runtime(settings):
    settings.PIXELL_RUNTIME_URL = "http://127.0.0.1:8090"
    settings.PIXELL_RUNTIME_SECRET = "r" * 32
    settings.PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS = False
    settings.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert runtime_config().allow_private is False
