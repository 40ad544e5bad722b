"""Delivery: turning queued invitations into messages, exactly once in effect over a broker that
delivers tasks at least once (PRODUCT.md §5).

The life of an invitation here:
1. Dispatch (beat, every DISPATCH_INTERVAL): for each request being delivered, the queued
   invitations whose time has come and that no task holds yet get `dispatched_at` and are handed
   to the broker in batches, one `send_invitations_task` each. A trigger hands its one invitation
   over right after it commits; the few of those not sent at once (deferred, or their message lost)
   are handed over by one statement for all triggers, and a trigger's request goes from screened
   to completed when its invitation is done.
2. Claim (the task): one transaction locks the batch's still-queued rows, re-checks each one —
   consent and snooze now, the request's send window, an address the department may use, quiet
   hours in the time zone its view of the contact gives (deferred, not blocked) — and moves the
   rest from queued to sending with a fresh token each. The conditional move is the claim: a
   second task with the same ids finds nothing queued and sends nothing.
3. Send over one connection per batch, then mark each invitation sent (its own commit) the moment
   the server accepted it; a permanent failure marks it failed with the reason (no longer a touch);
   a transient one puts it back to queued for the task's retry with backoff, up to
   DELIVERY_MAX_ATTEMPTS claims in all.
4. The sweeper (beat) re-queues what a dead worker left in sending — after DELIVERY_STUCK_AFTER,
   longer than any task may run (CELERY_TASK_TIME_LIMIT kills it), so no live task still holds
   it — and hands over again what was handed to the broker long ago and never claimed (the broker
   or the worker lost the task).
5. Reservations (beat, every RESERVATION_RELEASE_INTERVAL): a queued invitation not sent by its
   request's latest send time, or RESERVATION_HOLD after its planned time when the request has none,
   is released — cancelled, no longer a touch — so an abandoned request holds no one's place
   (surveys/delivery/reservations.py). One in sending is left to its task.

Exactly once: an invitation is sent only by the task that claimed it, and claimed again only
after it was put back (transient failure: the server did not take it) or its worker is certainly
dead. It is marked sent (its own commit) at the channel's point of no return — for SMTP when the
server has the whole message and only the final "." is left (surveys/delivery/channels/email.py) — so a
worker that dies while the server takes the message leaves it sent, and the sweeper finds nothing
to send again; a refusal after that point undoes the mark. For an SMS or a provider's API the
mark follows the provider's answer, and a crash in between sends it twice (an email then carries
the same Message-ID, which mail providers fold into one).

Reminders (beat) are at most once: the reminder count is raised before sending and lowered again
only if the server refused for now, so a crash mid-send loses a reminder rather than repeating one.
They never create invitations and so never count as touches.
"""
