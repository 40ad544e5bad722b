"""The demo contacts of `manage.py load_demo_data`: a few thousand generated people, each on one to
three departments' lists, loaded as an import would load the lists, and a little consent among them.

The same person is on two or three lists written differently (case, Gmail dots, `+tags`, phone
formats), so they become ONE contact known to several departments. Running it again changes
nothing: contacts are found by their normalised identities, exactly as an import finds them. The
random generator is the caller's, seeded, so every machine gets the same people.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import phonenumbers
from django.conf import settings
from django.utils import timezone

from contacts.models import Contact, DepartmentContact, DepartmentIdentity, Identity
from contacts.normalise import normalise_email, normalise_phone
from departments.models import Department

FIRST_NAMES = {
    "de": "Anna Lena Marie Sophie Laura Julia Katharina Leon Lukas Jonas Felix Maximilian Paul Jan Tobias "
    "Sebastian Niklas Hannah Mia Emma Lea Sarah Johanna Moritz Florian Stefan Ute Klaus Jürgen Sabine",
    "en": "Olivia Emily Amelia Isla Ava Grace Sophie Chloe Jack Oliver Harry George Noah James William "
    "Thomas Daniel Samuel Emma Liam Ethan Mason Lucas Ella Ruby Megan Aoife Sean Niamh Connor",
}
LAST_NAMES = {
    "de": "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer "
    "Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange",
    "en": "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker "
    "White Roberts Green Hall Wood Jackson Clarke Murphy Kelly Byrne Walsh Miller",
}
# country: (weight, locale, time zones, phone country prefix and the shapes of a mobile number)
COUNTRIES = {
    "DE": (45, "de", ["Europe/Berlin"], "+49", ["151{8}", "152{8}", "157{8}", "160{7}", "170{7}", "176{8}"]),
    "AT": (10, "de", ["Europe/Vienna"], "+43", ["664{7}", "676{7}", "699{8}"]),
    "CH": (8, "de", ["Europe/Zurich"], "+41", ["79{7}", "78{7}", "76{7}"]),
    "GB": (17, "en", ["Europe/London"], "+44", ["7700{6}", "7911{6}", "7400{6}"]),
    "IE": (5, "en", ["Europe/Dublin"], "+353", ["85{7}", "86{7}", "87{7}"]),
    "US": (15, "en", ["America/New_York", "America/Chicago", "America/Los_Angeles"], "+1", ["212555{4}"]),
}
# Company domains use the reserved .example TLD and example.com/org/net (RFC 2606), so no demo
# invitation can reach a real company. The public providers are there because they ignore dots or
# +tags; their mailbox names carry "cxdemo" so they are not someone's real address.
COMPANY_DOMAINS = ["example.com", "example.org", "example.net", "nordwind.example", "acme.example"]
PROVIDER_DOMAINS = ["gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "icloud.com"]
# Who brought a person in first, and how likely a person is on one, two or three lists.
HOME_WEIGHTS = {"support": 30, "marketing": 35, "sales": 20, "billing": 15}
LISTS_PER_PERSON = ([1, 2, 3], [70, 22, 8])
TIERS = (["bronze", "silver", "gold", "platinum"], [50, 30, 15, 5])
PLANS = (["free", "starter", "pro", "enterprise"], [30, 35, 25, 10])


@dataclass
class Person:
    """One generated human, before any department has written them down."""

    name: str
    locale: str
    time_zone: str
    email_local: str
    email_domain: str
    phone: phonenumbers.PhoneNumber | None
    attributes: dict
    departments: list[str]


@dataclass
class ListRow:
    """One line of one department's list: the person as that department wrote them."""

    department: str
    name: str
    email: str
    phone: str | None
    person: Person


@dataclass(eq=False)
class ContactDraft:
    """A contact being assembled from list rows: a new one (from its first `row`) or one in the database."""

    contact_id: int | None = None
    row: ListRow | None = None  # None for a contact already in the database
    identities: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # new ones: (kind, value, normalised)
    departments: set[str] = field(default_factory=set)
    rows: list[ListRow] = field(default_factory=list)  # every department's lines naming the person
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class ContactsLoaded:
    """What demo_contacts added: the new contacts (their ids, for consent), identities and links."""

    new_contact_ids: list[int]
    new_contacts: int
    shared: int
    new_identities: int
    new_links: int


def demo_contacts(departments: dict[str, Department], *, count: int, rng: random.Random) -> ContactsLoaded:
    """Generate `count` people on the departments' lists and load the lists like an import would."""
    people = list(demo_people(rng, count))
    rows = [row for person in people for row in demo_list_rows(person, rng)]
    rng.shuffle(rows)  # lists arrive in any order; which variant comes first must not matter
    drafts = _contacts_resolve(rows)
    return _contacts_insert(drafts, departments, rng=rng)


def demo_people(rng: random.Random, count: int) -> Iterator[Person]:
    """`count` made-up people, each with an address of their own and most with a phone number."""
    used_emails: set[str] = set()
    used_phones: set[str] = set()
    countries = list(COUNTRIES)
    for number in range(count):
        country = rng.choices(countries, weights=[COUNTRIES[c][0] for c in countries])[0]
        _, locale, zones, _, _ = COUNTRIES[country]
        first, last = rng.choice(FIRST_NAMES[locale].split()), rng.choice(LAST_NAMES[locale].split())
        local, domain = _unique_email(rng, first, last, number, used_emails)
        yield Person(
            name=f"{first} {last}",
            locale=locale,
            time_zone=rng.choice(zones),
            email_local=local,
            email_domain=domain,
            phone=_unique_phone(rng, country, used_phones) if rng.random() < 0.7 else None,
            attributes={
                "tier": rng.choices(*TIERS)[0],
                "plan": rng.choices(*PLANS)[0],
                "country": country,
                "customer_since": 2015 + rng.randrange(11),
            },
            departments=_departments_of_person(rng),
        )


def _unique_email(rng: random.Random, first: str, last: str, number: int, used: set[str]) -> tuple[str, str]:
    ascii_name = f"{first}.{last}".lower().translate(
        str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
    )
    if rng.random() < 0.3:
        local, domain = f"{ascii_name}.cxdemo{number}", rng.choice(PROVIDER_DOMAINS)
    else:
        local, domain = ascii_name, rng.choice(COMPANY_DOMAINS)
        if normalise_email(f"{local}@{domain}") in used:
            local = f"{ascii_name}{number}"
    used.add(normalise_email(f"{local}@{domain}"))
    return local, domain


def _unique_phone(rng: random.Random, country: str, used: set[str]) -> phonenumbers.PhoneNumber:
    prefix, shapes = COUNTRIES[country][3], COUNTRIES[country][4]
    while True:
        shape = rng.choice(shapes)
        head, digits = shape.split("{")
        national = head + "".join(str(rng.randrange(10)) for _ in range(int(digits.rstrip("}"))))
        number = phonenumbers.parse(prefix + national)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(number) and e164 not in used:
            used.add(e164)
            return number


def _departments_of_person(rng: random.Random) -> list[str]:
    how_many = rng.choices(*LISTS_PER_PERSON)[0]
    slugs = list(HOME_WEIGHTS)
    home = rng.choices(slugs, weights=list(HOME_WEIGHTS.values()))[0]
    return [home, *rng.sample([slug for slug in slugs if slug != home], how_many - 1)]


def demo_list_rows(person: Person, rng: random.Random) -> Iterator[ListRow]:
    """The person on each of their departments' lists: written plainly on the first, as a variant
    that normalises alike on the others; now and then twice on one list."""
    for position, department in enumerate(person.departments):
        plain = position == 0
        yield ListRow(
            department=department,
            name=person.name if plain or rng.random() < 0.9 else person.name.upper(),
            email=_email_variant(person, rng, plain=plain),
            phone=_phone_variant(person.phone, rng, plain=plain)
            if person.phone and rng.random() < 0.8
            else None,
            person=person,
        )
    if rng.random() < 0.02:
        yield ListRow(
            person.departments[0], person.name, _email_variant(person, rng, plain=False), None, person
        )


def _email_variant(person: Person, rng: random.Random, *, plain: bool) -> str:
    local, domain = person.email_local, person.email_domain
    if plain:
        return f"{local}@{domain}"
    if domain in ("gmail.com", "googlemail.com"):
        local = rng.choice([local.replace(".", ""), f"{local}+{rng.choice(['news', 'shop', 'support'])}"])
        domain = rng.choice(["gmail.com", "googlemail.com", "GMail.com"])
    elif domain in PROVIDER_DOMAINS:
        local = f"{local}+{rng.choice(['orders', 'newsletter'])}"
    return rng.choice([f"{local}@{domain}", f"{local.title()}@{domain.upper()}", f" {local}@{domain} "])


def _phone_variant(number: phonenumbers.PhoneNumber, rng: random.Random, *, plain: bool) -> str:
    formats = [
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        "00" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:],
    ]
    # A national number is read in PHONE_DEFAULT_REGION, so only numbers of that country may be written so.
    if phonenumbers.region_code_for_number(number) == settings.PHONE_DEFAULT_REGION:
        formats.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return formats[0] if plain else rng.choice(formats)


def _contacts_resolve(rows: list[ListRow]) -> list[ContactDraft]:
    """Match every row to a contact by its normalised identities, as contacts.services does: first
    those already in the database, then the ones earlier rows brought in."""
    keyed = [(row, _row_identities(row)) for row in rows]
    wanted = {normalised for _, identities in keyed for _, _, normalised in identities}
    known = Identity.objects.filter(source="", normalised__in=wanted).values_list(
        "kind", "normalised", "contact_id"
    )
    existing: dict[int, ContactDraft] = {}
    drafts_by_key: dict[tuple[str, str], ContactDraft] = {}
    for kind, normalised, contact_id in known:
        drafts_by_key[(kind, normalised)] = existing.setdefault(
            contact_id, ContactDraft(contact_id=contact_id)
        )
    new: list[ContactDraft] = []
    for row, identities in keyed:
        draft = next((drafts_by_key[(k, n)] for k, _, n in identities if (k, n) in drafts_by_key), None)
        if draft is None:
            draft = ContactDraft(row=row)
            new.append(draft)
        for kind, value, normalised in identities:
            if (kind, normalised) not in drafts_by_key:
                drafts_by_key[(kind, normalised)] = draft
                draft.identities.append((kind, value, normalised))
        draft.departments.add(row.department)
        draft.rows.append(row)
    return new + [draft for draft in existing.values() if draft.departments]


def _row_identities(row: ListRow) -> list[tuple[str, str, str]]:
    identities = [(Identity.Kind.EMAIL, row.email.strip(), normalise_email(row.email))]
    if row.phone:
        identities.append((Identity.Kind.PHONE, row.phone, normalise_phone(row.phone)))
    return identities


def _contacts_insert(
    drafts: list[ContactDraft], departments: dict[str, Department], *, rng: random.Random
) -> ContactsLoaded:
    """Insert the new contacts, identities and department links in bulk; known ones are kept as they are."""
    now = timezone.now()
    new = [draft for draft in drafts if draft.contact_id is None]
    _new_contacts_insert(new, now=now, rng=rng)
    new_identities = _identities_insert(drafts, now=now)
    new_links = _department_links_insert(drafts, departments, now=now)
    _supplied_identities_insert(drafts, departments, now=now)
    return ContactsLoaded(
        new_contact_ids=[draft.contact_id for draft in new],
        new_contacts=len(new),
        shared=sum(1 for draft in new if len(draft.departments) > 1),
        new_identities=new_identities,
        new_links=new_links,
    )


def _new_contacts_insert(new: list[ContactDraft], *, now: dt.datetime, rng: random.Random) -> None:
    """Insert the new drafts' contacts, each known since a random moment, and give the drafts their ids."""
    for draft in new:
        # Known for up to two years, so "new contact" grace periods have something to act on.
        draft.created_at = now - dt.timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
    contacts = Contact.objects.bulk_create(
        [_contact_from(draft) for draft in new],
        batch_size=1000,
    )
    for draft, contact in zip(new, contacts, strict=True):
        draft.contact_id = contact.pk


def _identities_insert(drafts: list[ContactDraft], *, now: dt.datetime) -> int:
    """Insert the identities the lists brought in; returns how many."""
    identities = Identity.objects.bulk_create(
        [
            Identity(
                contact_id=draft.contact_id,
                kind=kind,
                value=value,
                normalised=normalised,
                created_at=draft.created_at or now,
            )
            for draft in drafts
            for kind, value, normalised in draft.identities
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )
    return len(identities)


def _department_links_insert(
    drafts: list[ContactDraft], departments: dict[str, Department], *, now: dt.datetime
) -> int:
    """Give each department whose list names a person its own view of them (the name as its list
    wrote it, the person's language, zone and attributes), unless it has one; returns how many."""
    views = {}
    for draft in drafts:
        for row in draft.rows:  # a list naming the person twice: its last line wins, as in an import
            person = row.person
            views[(row.department, draft.contact_id)] = DepartmentContact(
                department=departments[row.department],
                contact_id=draft.contact_id,
                source=DepartmentContact.Source.IMPORT,
                name=row.name,
                locale=person.locale,
                time_zone=person.time_zone,
                attributes=person.attributes,
                created_at=draft.created_at or now,
                updated_at=draft.created_at or now,
            )
    # Only contacts already in the database can have views already.
    existing = set(
        DepartmentContact.objects.filter(
            contact_id__in=[draft.contact_id for draft in drafts if draft.row is None]
        ).values_list("department_id", "contact_id")
    )
    new_views = [view for view in views.values() if (view.department_id, view.contact_id) not in existing]
    DepartmentContact.objects.bulk_create(new_views, batch_size=2000, ignore_conflicts=True)
    return len(new_views)


def _supplied_identities_insert(
    drafts: list[ContactDraft], departments: dict[str, Department], *, now: dt.datetime
) -> None:
    """Record each list's identities as supplied by its department: what it may send to."""
    wanted = {
        (row.department, kind, normalised)
        for draft in drafts
        for row in draft.rows
        for kind, _, normalised in _row_identities(row)
    }
    ids = dict(
        ((kind, normalised), pk)
        for kind, normalised, pk in Identity.objects.filter(
            source="", normalised__in={normalised for _, _, normalised in wanted}
        ).values_list("kind", "normalised", "pk")
    )
    DepartmentIdentity.objects.bulk_create(
        [
            DepartmentIdentity(
                department=departments[slug], identity_id=ids[(kind, normalised)], created_at=now
            )
            for slug, kind, normalised in sorted(wanted)
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )


def _contact_from(draft: ContactDraft) -> Contact:
    # The person's own fields stay empty: what each department wrote down is in its own view.
    return Contact(created_at=draft.created_at)
