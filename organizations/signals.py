"""What organizations announce, for the apps above to act on (docs/ARCHITECTURE.md, "Announce,
listen"). Each is sent inside the writing transaction, so a listener's failure rolls the write back
and a listener's own writes commit with it. Listeners connect in their ``AppConfig.ready()``.
"""

from django.dispatch import Signal

# organization, owner, signup_credits: billing grants the signup bonus.
organization_created = Signal()

# organization: sent before the rows go, so listeners can collect the stored files of what the
# cascade removes and delete them after commit (agentapps: packages; usage: exports).
organization_deleting = Signal()

# organization, kind ("member" or "api_key"), description, metadata: an audited change of
# membership, invitations or API keys; usage records it in the activity feed.
organization_activity = Signal()
