"""What agent apps announce, for the apps above to act on (docs/ARCHITECTURE.md, "Announce, listen").

Sent inside the writing transaction; listeners connect in their ``AppConfig.ready()``.
"""

from django.dispatch import Signal

# agent_app: sent with the app row locked, before anything is deleted. deployments cancels the app's
# queued deployments (refunding their reserved credits) and raises AppBeingDeployed (409, the
# delete rolls back) while one is running.
agent_app_deleting = Signal()
