"""The locks that make the gatekeeper race-free, and the one order in which they are taken.

Three kinds of lock guard the gatekeeper's promises (PRODUCT.md §4). A transaction that needs more
than one takes them in this order, never the other way round, so two transactions can only ever
wait for each other in one direction, and never deadlock:

0. A capped department's row of the day's triggers (surveys/gatekeeper/trigger_caps.py), taken
   first by a trigger and by nothing else. Race: two triggers both taking the cap's last one.
1. Identity advisory locks (contacts/locks.py, `identities_lock`), in lock-id order. Race: two
   writers (an import and an API upsert, a trigger naming a new email) both find no contact for an
   identity and both create one. Taken before the look-up that may create the contact. A merge
   (surveys/merges.py) takes those of both records' identities, then both rows (2), then both
   records' stripes (4): no writer adds to a record while it moves, no decider counts it half-moved.
2. Row locks on contacts (`select_for_update`: contact_upsert, contact_erase; an import chunk's
   persons whose department view it writes, in id order, FOR NO KEY UPDATE). Race: two writers
   through different identities of one person merging a view's attributes from stale copies; an
   identity added while the contact is erased.
3. The send request's row (`select_for_update(of=("self",))`: send_request_screen, the audience
   upload). Race: a request screened twice, or its audience replaced while it is screened. Only
   the request's own row: locking its survey here too would invert 4 and 5 against a trigger.
   A screening batch and a cancel first take the request's advisory lock (`lock_send_request`),
   shared and exclusive. Race: a cancel waiting on the row while a batch runs. A row lock keeps no
   queue once its holder commits, and the screening, awake already, locked the row again for its
   next batch before the cancel did: batch after batch, a cancel could wait out the whole
   screening. An advisory lock is handed to the one waiting, so the next batch waits for the cancel.
4. Contact stripes (`lock_contacts` below), ascending. Race: two deciders (screenings, triggers)
   both count a contact's touches, both see room under a rule, and both add one. A decider for a
   few contacts takes the stripes of every contact of their accounts too, in the same ascending
   order: a rule per account counts those contacts' touches, and two triggers for two people of
   one account must not both see room under it. A screening batch takes the stripes of its range of
   contact ids and of its contacts' account mates (`lock_contact_range`); its last step, all of them.
5. The survey's row (the conditional UPDATE that freezes it at submit or trigger; an edit's
   `select_for_update` in surveys/design/surveys.py). Race: an edit of a survey while it is
   frozen by a send, or two editors both making "the next version".

Invitation rows are claimed with SKIP LOCKED (surveys/delivery/sending.py, reminders.py) or moved by
single conditional UPDATEs (surveys/delivery/invitation_status.py): no one waits on them while
holding any lock above, so they need no place in the order.

Every lock here is transaction-level: released at commit or rollback, never by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from cxfeedback.db import prepared_fetch

# Contacts are guarded by LOCK_STRIPES transaction-level advisory locks. Locking one row per contact
# made a 100,000-contact screening spend most of its time taking row locks; a fixed set of stripes
# costs the same for any audience, and a trigger for one contact takes one stripe, so triggers on
# different contacts rarely wait for each other. A contact's stripe is that of its run of STRIPE_RUN
# consecutive ids, (contact_id / STRIPE_RUN) % LOCK_STRIPES: a screening batch, a range of ids, takes
# the few stripes of its range (10,000 ids: 157 of the 1,024) and a trigger for anyone outside it goes
# on; with contact_id % LOCK_STRIPES every batch of more than a few hundred contacts took them all.
LOCK_STRIPES = 1024
STRIPE_RUN = 64


LOCK_NAMESPACE = 0x6378  # "cx": the first key of the two-key advisory lock, to stay apart from others
SEND_REQUEST_NAMESPACE = 0x7372  # "sr": a send request's lock, keyed by its id (order 3)


def lock_send_request(send_request_id: int, *, exclusive: bool) -> None:
    """Take the request's advisory lock (order 3, before its row): shared by a screening batch,
    exclusive by a cancel, which then goes before the next batch (see the order above)."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [SEND_REQUEST_NAMESPACE, send_request_id])


def lock_contacts(contact_ids: Sequence[int] | None) -> None:
    """Take the stripe locks of these contacts (all stripes for None), in ascending order.

    Prevents the check-then-act race of two deciders that both count a contact's touches, both
    see room under a rule, and both add one. Every writer of counted touches (screening, triggers)
    holds the stripes of its contacts until its transaction ends; the fixed order means two
    deciders never wait on each other in a cycle. Under READ COMMITTED the statement that counts
    touches runs after the lock is granted, so it sees everything the previous holder committed.
    """
    with connection.cursor() as cursor:
        if contact_ids is None or len(contact_ids) > LOCK_STRIPES // 4:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(%s, s)) FROM generate_series(0, %s) AS s",
                [LOCK_NAMESPACE, LOCK_STRIPES - 1],
            )
            return
        # The contacts' stripes and those of the other contacts of their accounts (rules per account
        # count them together), in one round trip. The sorted rows are locked one by one in order.
        params = {"namespace": LOCK_NAMESPACE, "stripes": LOCK_STRIPES, "run": STRIPE_RUN}
        if len(contact_ids) == 1:  # a trigger's: planned once per connection, see _ONE_CONTACT_SQL
            prepared_fetch(_ONE_CONTACT_SQL, {**params, "id": contact_ids[0]})
        else:
            cursor.execute(
                _CONTACTS_SQL.format(ids="unnest(%(ids)s::bigint[])"), {**params, "ids": list(contact_ids)}
            )


def lock_contact_range(*, after: int, last: int) -> None:
    """Take the stripes of every id in (after, last] and of the other contacts of the accounts of the
    contacts there, in ascending order, as lock_contacts does: a screening batch's, which then holds a
    few stripes rather than all of them. Ids of no contact are covered too: a contact that joins the
    batch's audience meanwhile with an id in the range is decided under its stripe like the others."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RANGE_SQL,
            {
                "namespace": LOCK_NAMESPACE,
                "stripes": LOCK_STRIPES,
                "run": STRIPE_RUN,
                "after": after,
                "last": last,
            },
        )


_STRIPE = "mod({id} / %(run)s, %(stripes)s)::int"
_CONTACTS_SQL = f"""SELECT count(pg_advisory_xact_lock(%(namespace)s, s)) FROM (
    SELECT DISTINCT s FROM (
        SELECT {_STRIPE.format(id="c")} AS s FROM {{ids}} AS c(c)
        UNION ALL
        SELECT {_STRIPE.format(id="m.id")} FROM contacts_contact c
        JOIN contacts_contact m ON m.account_id = c.account_id
        WHERE c.id IN (SELECT * FROM {{ids}} AS c(c))) AS wanted
    ORDER BY s) AS ordered"""  # noqa: S608 -- constants, no input
# One contact by a plain parameter rather than an array of one: PostgreSQL then plans the statement
# once (a generic plan as good as a custom one), where an array had it planned anew on every call.
_ONE_CONTACT_SQL = _CONTACTS_SQL.format(ids="(VALUES (%(id)s::bigint))")
# The stripes of the runs of ids in the range, at most LOCK_STRIPES runs (more would wrap round to the
# same stripes); the account mates' only if those runs leave some stripe out.
_RANGE_SQL = f"""WITH runs AS (
        SELECT first, least(%(last)s / %(run)s, first + %(stripes)s - 1) AS final
        FROM (SELECT (%(after)s + 1) / %(run)s AS first) AS range_start)
    SELECT count(pg_advisory_xact_lock(%(namespace)s, s)) FROM (
    SELECT DISTINCT s FROM (
        SELECT mod(run, %(stripes)s)::int AS s FROM runs, generate_series(runs.first, runs.final) AS run
        UNION ALL
        SELECT {_STRIPE.format(id="m.id")} FROM contacts_contact c
        JOIN contacts_contact m ON m.account_id = c.account_id
        WHERE c.id > %(after)s AND c.id <= %(last)s
          AND (SELECT final - first FROM runs) < %(stripes)s - 1) AS wanted
    ORDER BY s) AS ordered"""  # noqa: S608 -- constants, no input
