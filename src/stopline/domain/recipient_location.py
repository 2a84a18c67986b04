"""Where a recipient is, for send-time rules: their state(s) and the time zones they may be in,
and how that was found.

From the number: phonenumbers' geocoding (NANP area code -> state) and time zone data; an area
code whose prefixes span several zones gives all of them, and the rules must hold in every
one (the most restrictive reading). A contact's own time zone or US postal code wins over the
number (postal codes through the `zipcodes` package's bundled USPS data: state and zone per
ZIP code). Pure lookups in data shipped with the packages: no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import geocoder, timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from stopline.domain.errors import InvalidInput

STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Washington DC": "DC", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "Washington State": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
STATE_NAMES = {code: name for name, code in STATES.items() if "Washington " not in name}
STATE_NAMES["DC"] = "District of Columbia"
STATE_NAMES["WA"] = "Washington"


@dataclass(frozen=True)
class Location:
    """A recipient's place for send-time rules."""

    country: str | None  # region code (US, CA, ...), None if unknown
    states: tuple[str, ...]  # USPS codes whose rules apply
    zones: tuple[str, ...]  # IANA zones the recipient may be in; rules must hold in each
    found_by: str  # how: "area code 305", "contact's time zone", "contact's postal code 33101"

    def __hash__(self) -> int:  # a cache key on the hot path: hashed once, not per lookup
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.country, self.states, self.zones, self.found_by))
            object.__setattr__(self, "_hash", cached)
        return cached

    def place(self) -> str:
        """ "Florida", "Florida or Georgia", or the country."""
        if self.states:
            return " or ".join(STATE_NAMES.get(s, s) for s in self.states)
        return self.country or "unknown location"

    def describe(self) -> str:
        zones = ", ".join(self.zones) if self.zones else "no time zone"
        return f"{self.place()} ({zones}), from {self.found_by}"

    def as_dict(self) -> dict[str, object]:
        return {
            "country": self.country,
            "states": list(self.states),
            "zones": list(self.zones),
            "found_by": self.found_by,
            "text": self.describe(),
        }


def _state_of(description: str) -> str | None:
    """ "Florida" -> FL; "New York, NY" -> NY."""
    text = description.strip()
    if not text:
        return None
    if text in STATES:
        return STATES[text]
    tail = text.rsplit(",", 1)[-1].strip()
    return tail if tail in STATE_NAMES else None


@functools.cache
def area_code_location(npa: str) -> Location:
    """The location of a NANP area code: every zone any of its prefixes is in, and its state."""
    zones: set[str] = set()
    for prefix, names in TIMEZONE_DATA.items():
        if prefix.startswith("1" + npa):
            zones.update(names)
    sample = phonenumbers.parse(f"+1{npa}5550100")
    if not zones:  # no data for this area code: every zone of the plan
        zones.update(timezone.time_zones_for_number(sample))
    zones.discard(timezone.UNKNOWN_TIMEZONE)
    region = phonenumbers.region_code_for_number(sample)
    state = _state_of(geocoder.description_for_number(sample, "en")) if region == "US" else None
    valid = sorted(z for z in zones if _known_zone(z))
    return Location(
        country=region,
        states=(state,) if state else (),
        zones=tuple(valid),
        found_by=f"area code {npa}",
    )


@functools.cache
def _country_location(region: str, sample: str) -> Location:
    parsed = phonenumbers.parse(sample)
    zones = [z for z in timezone.time_zones_for_number(parsed) if _known_zone(z)]
    return Location(
        country=region, states=(), zones=tuple(sorted(zones)), found_by=f"country {region}"
    )


def number_location(number: str) -> Location:
    """The location of an E.164 number, from its area code (NANP) or its country. A number
    with no known zone is read in UTC (workspace windows still apply; no built-in rule does,
    as those reach US numbers, which always have zones)."""
    if len(number) == 12 and number.startswith("+1"):
        found = area_code_location(number[2:5])
    else:
        found = _number_location(number)
    if found.zones:
        return found
    return Location(found.country, found.states, ("UTC",), found.found_by + "; no zone known: UTC")


def _number_location(number: str) -> Location:
    if number.startswith("+1") and len(number) == 12:
        return area_code_location(number[2:5])
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return Location(None, (), (), "nothing (unreadable number)")
    region = phonenumbers.region_code_for_number(parsed) or "ZZ"
    zones = timezone.time_zones_for_number(parsed)
    if len(zones) > 1 or number.startswith("+1"):
        return Location(
            region,
            (),
            tuple(sorted(z for z in zones if _known_zone(z))),
            f"number prefix ({region})",
        )
    return _country_location(region, number)


@functools.cache
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_time_zone(name: str) -> str:
    """A contact's time zone: an IANA name such as America/Chicago."""
    name = (name or "").strip()
    if name not in _zone_names():
        raise InvalidInput(
            f"Unknown time zone {name!r}; use an IANA name such as America/Chicago.",
            code="time_zone_invalid",
        )
    return name


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def check_postal_code(code: str) -> str:
    """A contact's postal code: a US ZIP code (5 digits, ZIP+4 accepted) that exists."""
    text = (code or "").strip()
    zip5 = text[:5]
    if not (len(text) in (5, 10) and zip5.isdigit()) or postal_code_place(zip5) is None:
        raise InvalidInput(
            f"Unknown postal code {code!r}; use a US ZIP code such as 33101.",
            code="postal_code_invalid",
        )
    return text


@functools.cache
def postal_code_place(zip5: str) -> tuple[str, str] | None:
    """(state, zone) of a US ZIP code, or None."""
    import zipcodes  # loads its bundled data on first use (~0.3 s), only for contacts with one

    try:
        found = zipcodes.matching(zip5)
    except (TypeError, ValueError):
        return None
    for row in found:
        state, zone = row.get("state"), row.get("timezone")
        if state and zone and _known_zone(zone):
            return str(state), str(zone)
    return None


def contact_location(
    number_place: Location, *, time_zone: str | None, postal_code: str | None
) -> Location:
    """The contact's own data wins over the number's for the zone. The area code's state keeps
    applying beside the postal code's (Florida and Oklahoma presume residence from the area
    code): both states' rules hold, the most restrictive reading."""
    how: list[str] = []
    states: list[str] = []
    zones = number_place.zones
    country = number_place.country
    if postal_code:
        place = postal_code_place(postal_code[:5])
        if place is not None:
            states.append(place[0])
            zones = (place[1],)
            country = "US"
            how.append(f"contact's postal code {postal_code[:5]}")
    if time_zone and _known_zone(time_zone):
        zones = (time_zone,)
        how.insert(0, f"contact's time zone {time_zone}")
    if not how:
        return number_place
    also = [s for s in number_place.states if s not in states]
    found_by = " and ".join(how)
    if also:
        found_by += f" (and {', '.join(also)} from {number_place.found_by})"
    return Location(country, tuple(states + also), zones, found_by)
