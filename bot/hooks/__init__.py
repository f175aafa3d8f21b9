"""Event webhooks: learners' progress and referrals, signed and sent to organisations' systems.

`publisher` writes deliveries in the transaction of what they tell; `delivery` sends them after
commit, in order per learner, with retries; `signing` and `guard` sign requests and keep them
away from private addresses. The public payloads are in `events`.
"""
