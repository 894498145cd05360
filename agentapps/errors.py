"""Agent-app errors on the Django-free base (pixell/errors.py); the API maps them to the envelope."""

from pixell.errors import Conflict, NotFound, PermissionDenied, PixellError

__all__ = [
    "AppBeingDeployed",
    "AppNameTaken",
    "AppNotFound",
    "DownloadLinkInvalid",
    "PackageBeingDeployed",
    "PackageValidationFailed",
    "PublicAppReadOnly",
    "SigningKeyExists",
    "VersionExists",
]

SIGNATURE_INVALID = "Invalid package signature"
SIGNATURE_REQUIRED = "Package signature required"


class VersionExists(PixellError):
    status_code = 409
    code = "VERSION_EXISTS"
    default_message = "Version already exists"


class PackageValidationFailed(PixellError):
    status_code = 400
    code = "PACKAGE_VALIDATION_FAILED"
    default_message = "Package validation failed"


class AppNotFound(NotFound):
    default_message = "Agent app not found"


class PublicAppReadOnly(PermissionDenied):
    # Another organization's public app is visible (docs/CONTRACT.md §4), so refusing a change to it is a
    # 403, not the 404 that hides private objects.
    default_message = "Only the organization that owns this agent app can change it"


class AppNameTaken(Conflict):
    default_message = "An agent app with this name already exists in the organization"


class AppBeingDeployed(Conflict):
    default_message = (
        "A deployment of this agent app is running; delete the app once it has finished"
    )


class PackageBeingDeployed(Conflict):
    default_message = "This package is being deployed; delete it once its deployment has finished"


class SigningKeyExists(Conflict):
    default_message = "This public key is already registered"


class DownloadLinkInvalid(PermissionDenied):
    default_message = "Invalid or expired download link"
