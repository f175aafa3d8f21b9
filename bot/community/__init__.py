"""Volunteers and the family members they bring in: invitations, help at a stuck step, boards.

The engine teaches one learner; this package connects two people, so it lives beside the
service, with the store, and never inside the engine.
"""

from bot.community.invitations import REF_PAYLOAD, Links
from bot.community.service import Community, Context, Intercepted

__all__ = ["REF_PAYLOAD", "Community", "Context", "Intercepted", "Links"]
