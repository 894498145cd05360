import factory
from django.utils import timezone

from accounts.models import User
from organizations.models import Membership, Organization, Role
from organizations.services import api_key_create

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    email_verified_at = factory.LazyFunction(timezone.now)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


def api_key_for(org, name="CI key"):
    """(ApiKey, raw key) for an organization."""
    return api_key_create(organization=org, name=name)


# --- objects of the other apps, made through their services (real rows, real stored files) -------
# Plain functions named like factories, taking the organization and returning the object, so the
# tenancy walker (tests/api/test_tenancy.py) and any test can make a real object of any route.
_counter = iter(range(1, 10**9))


def AgentAppFactory(*, organization, is_public: bool = False, name: str | None = None):
    from agentapps.services import agent_app_create

    return agent_app_create(
        organization=organization,
        actor=None,
        name=name or f"app-{next(_counter)}",
        is_public=is_public,
    )


def PackageFactory(*, organization, agent_app, version: str | None = None):
    from agentapps.services import package_upload
    from tests.agentapps.packages import apkg_bytes, upload

    version = version or f"1.0.{next(_counter)}"
    return package_upload(
        organization=organization,
        agent_app=agent_app,
        actor=None,
        upload=upload(apkg_bytes(version)),
    )


def AppSecretFactory(
    *, organization, agent_app, key: str = "API_TOKEN", value: str = "s3cret-value"
):
    from agentapps.models import AppSecret
    from agentapps.services import app_secret_set

    app_secret_set(agent_app=agent_app, key=key, value=value)
    return AppSecret.objects.for_org(organization).get(agent_app=agent_app, key=key)


def SigningKeyFactory(*, organization, name: str | None = None):
    from agentapps.services import signing_key_create
    from tests.agentapps.packages import ed25519_keypair

    _, pem, _ = ed25519_keypair()
    return signing_key_create(
        organization=organization, actor=None, name=name or f"key-{next(_counter)}", public_key=pem
    )


# A public address literal: the SSRF guard accepts it without a DNS lookup (no network in tests).
def WebhookFactory(*, organization, agent_app, url: str = "https://93.184.216.34/pixell"):
    from deployments.services import webhook_create

    webhook, _secret = webhook_create(
        organization=organization, agent_app=agent_app, url=url, events=["deployment.completed"]
    )
    return webhook


def DeploymentFactory(*, organization, agent_app=None, status: str = "queued"):
    """A deployment row of a real package (the queue is not run)."""
    from django.utils import timezone

    from deployments.models import Deployment

    agent_app = agent_app or AgentAppFactory(organization=organization)
    package = PackageFactory(organization=organization, agent_app=agent_app)
    return Deployment.objects.for_org(organization).create(
        organization=organization,
        agent_app=agent_app,
        package=package,
        version=package.version,
        status=status,
        cost=1,
        queued_at=timezone.now(),
    )


def WebhookDeliveryFactory(*, organization, webhook):
    from deployments.models import WebhookDelivery

    return WebhookDelivery.objects.for_org(organization).create(
        organization=organization,
        webhook=webhook,
        event="ping",
        message_id=f"msg_{next(_counter)}",
        body="{}",
    )
