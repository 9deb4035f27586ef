"""Service names as publishers write them, matched to the services lookup.

The same service is "Kingston-upon-Hull" in the lookup, "Kingston upon Hull,
City of" to ONS, "Hull" in an HMI Probation report and "Hull YOS" in a YJB
table. :func:`normalise_name` applies the contract's rules (case, ``&``,
punctuation, accents, YOS/YOT/YJS suffixes, ``- JI``, "An inspection of",
"Royal Borough of" ...); :class:`ServiceMatcher` looks the result up among the
services' own names and their local authorities' names, then a few looser
variants and a short alias table.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pandas as pd

from pipeline.ingest.cells import RowProblem, without_notes

# Headers that name a service's column in published tables, beside the
# contract's yjs_name ("YJS name") and YJS: the older YOT/YOS names and the
# words in full (matched as headers are: "Youth Offending Team" is
# youth_offending_team).
NAME_HEADERS = ("yjs", "yot", "yos", "yot_name", "yos_name", "youth_justice_service", "youth_offending_team",
                "youth_offending_service")

_SUFFIXES = re.compile(
    r"\s+(youth offending (service|team)s?|youth justice (and prevention )?(service|team)s?|yos|yot|yjs)$"
)
# "An inspection of youth offending services in Hull", as HMI Probation titles its reports (and "Full
# joint inspection of youth offending work in ..." before 2018); "The Royal Borough of ..."
_PREFIXES = re.compile(r"^(the|(?:(?:an|(?:full )?joint|full) inspection of )?youth (?:offending|justice) "
                       r"(?:services?|work|teams?) in|(?:an|(?:full )?joint|full) inspection of|royal borough of|"
                       r"london borough of|city and county of|city of)\s+")
_CITY_OF_LONDON = re.compile(r"city of london(?: |$)")
_ONS_INVERTED = re.compile(r",\s*(city|county) of\s*$")  # "Bristol, City of"
# HMI Probation's joint-inspection marker, after any dash: "- JI", or in full "- Joint_Inspection"
JOINT = re.compile(r"\s*[-\u2013\u2014]\s*(?:ji|joint[\s_]+inspection)\s*$", re.IGNORECASE)

# Short forms seen in HMI Probation's reports (checked against every la_name
# in the real scrape) that neither a service nor an LA is called. Keys and
# values are normalised names; values must be a service or LA name.
ALIASES = {
    "hull": "kingston upon hull",
    "newcastle": "newcastle upon tyne",
    "stoke": "stoke on trent",
    "southend": "southend on sea",
    "ynys mon": "isle of anglesey",
    "anglesey": "isle of anglesey",
    "rhondda cynon taff": "rhondda cynon taf",
    "bcp": "bournemouth christchurch and poole",
    "gwynedd mon": "gwynedd and ynys mon",  # the YJB's open data (Outcome_Table) spells it so
    # The Welsh names of the principal areas whose Welsh and English names differ (ONS's LAD names in
    # Welsh), as bilingual Welsh tables and reports give them
    "sir ynys mon": "isle of anglesey",
    "sir ddinbych": "denbighshire",
    "sir y fflint": "flintshire",
    "wrecsam": "wrexham",
    "sir benfro": "pembrokeshire",
    "sir gaerfyrddin": "carmarthenshire",
    "sir gar": "carmarthenshire",
    "abertawe": "swansea",
    "castell nedd port talbot": "neath port talbot",
    "pen y bont ar ogwr": "bridgend",
    "bro morgannwg": "vale of glamorgan",
    "caerdydd": "cardiff",
    "merthyr tudful": "merthyr tydfil",
    "caerffili": "caerphilly",
    "tor faen": "torfaen",
    "sir fynwy": "monmouthshire",
    "casnewydd": "newport",
}


def _strip_accents(text: str) -> str:
    if text.isascii():  # no accents, and NFKD leaves ASCII as it is
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=65_536)  # big tables repeat each name many times; every reader matches the same names
def normalise_name(name: str) -> str:
    """A service or LA name reduced to the words that identify it.

    ``"Royal Borough of Greenwich"`` -> ``"greenwich"``, ``"Conwy & Denbighshire
    - JI"`` -> ``"conwy and denbighshire"``, ``"Kingston upon Hull, City of"`` ->
    ``"kingston upon hull"``. Idempotent; "City of London" keeps its "City of".
    """
    text = _strip_accents(without_notes(str(name).strip())).lower().replace("&", " and ")
    text = _ONS_INVERTED.sub("", JOINT.sub("", text.strip()))
    text = " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())
    previous = None
    while text != previous:  # "An inspection of Hull YOS YJS" needs several passes
        previous = text
        text = _SUFFIXES.sub("", text)
        if not _CITY_OF_LONDON.match(text):  # "City of London" is the name, also at the start of one
            text = _PREFIXES.sub("", text)
    return text


def service_id(name: str) -> str:
    """A service's ``yjs_id``: the slug of its name as names are matched
    (:func:`normalise_name`), so that a lookup spelling it "Bury & Rochdale
    YOT" one month (or in one row) and "Bury and Rochdale" the next gives it
    one id, whichever comes first (its history had been split under two);
    the plain slug where nothing is left of the name so reduced."""
    return slugify(normalise_name(name)) or slugify(name)


def slugify(name: str) -> str:
    """Stable id from a service name: ``"Gwynedd and Ynys Môn"`` -> ``"gwynedd-and-ynys-mon"``."""
    text = _strip_accents(without_notes(str(name).strip())).lower().replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def loose(name: str) -> str:
    """A normalised name without "county"/"council" (and a trailing "city" or
    "borough") at either end.

    Lets "Durham County Council" find "Durham", "Nottingham City" find
    "Nottingham" and "Wigan Borough Council" find "Wigan" without listing
    each such form.
    """
    words = name.split()
    while len(words) > 1 and words[-1] in ("council", "county", "city", "borough"):
        words.pop()
    while len(words) > 1 and words[0] in ("county", "council"):
        words.pop(0)
    return " ".join(words)


# what the quarantine says of a row naming a service the lookup does not list (see pipeline.ingest)
NO_SERVICE = "matches no service in the services lookup"


class ServiceMatcher:
    """Finds a service's ``yjs_id`` from any name a publisher gives it.

    Indexes each service's ``yjs_name`` and the ``la_name`` of each of its
    local authorities (an LA belongs to one service), as normalised and in
    their :func:`loose` form. Exact forms win over loose ones and services'
    own names over LA names when two collide; then :data:`ALIASES`, then the
    parts of a merged name. :meth:`part` says which of the service's local
    authorities a name stands for: all of them for the service's own name,
    one for an LA's (Bury, of Bury and Rochdale).
    """

    def __init__(self, services: pd.DataFrame):
        self.names: dict[str, str] = {}  # yjs_id -> yjs_name
        self.areas: dict[str, dict[str, str]] = {}  # yjs_id -> its LAs, la_code -> la_name
        self._index: dict[str, tuple[str, frozenset[str]]] = {}  # form -> (yjs_id, the LAs it names)
        self._seen: dict[str, tuple[str, frozenset[str]] | None] = {}  # big tables repeat each name many times
        ids, la_codes = services["yjs_id"].tolist(), services["la_code"].tolist()
        given = {column: services[column].tolist() for column in ("yjs_name", "la_name")}
        for yjs_id, yjs_name, la_code, la_name in zip(ids, given["yjs_name"], la_codes, given["la_name"]):
            self.names.setdefault(yjs_id, yjs_name)
            self.areas.setdefault(yjs_id, {})[la_code] = la_name
        whole = {yjs_id: frozenset(areas) for yjs_id, areas in self.areas.items()}
        normal = {column: [normalise_name(n) for n in names] for column, names in given.items()}
        named = {"yjs_name": [whole[i] for i in ids], "la_name": [frozenset([c]) for c in la_codes]}
        # exact forms before loose ones, services' names before their LAs'
        for shape in (None, loose):
            for column in ("yjs_name", "la_name"):
                for name, yjs_id, areas in zip(normal[column], ids, named[column]):
                    form = shape(name) if shape else name
                    if form:
                        self._index.setdefault(form, (yjs_id, areas))

    def lookup(self, name: str) -> str:
        """The ``yjs_id`` for ``name``; a :class:`RowProblem` when nothing matches."""
        yjs_id = self.match(name)
        if yjs_id is None:
            raise RowProblem(f"service name {name!r} {NO_SERVICE}")
        return yjs_id

    def match(self, name: str) -> str | None:
        """The ``yjs_id`` for ``name``, or None when nothing matches."""
        found = self._found(name)
        return found[0] if found else None

    def part(self, name: str) -> str:
        """The local authorities of its service that ``name`` stands for, as
        their codes joined by commas; "" for all of them (the service's own
        name, or the name of the only LA of a service of one). A
        :class:`RowProblem` when nothing matches."""
        found = self._found(name)
        if found is None:
            self.lookup(name)
        yjs_id, areas = found
        return "" if len(areas) == len(self.areas[yjs_id]) else ",".join(sorted(areas))

    def _found(self, name: str) -> tuple[str, frozenset[str]] | None:
        if name not in self._seen:
            self._seen[name] = self._match(name)
        return self._seen[name]

    def _match(self, name: str) -> tuple[str, frozenset[str]] | None:
        base = normalise_name(name)
        if not base:
            return None
        for form in (base, loose(base), ALIASES.get(base), ALIASES.get(loose(base))):
            if form and form in self._index:
                return self._index[form]
        return self._match_parts(base) or self._match_bilingual(name)

    def _match_parts(self, base: str) -> tuple[str, frozenset[str]] | None:
        """A merged name ("Kingston upon Thames and Richmond upon Thames", or
        in Welsh "Conwy a Sir Ddinbych") whose parts all belong to one
        service: that service and the parts' LAs."""
        parts = [p for p in re.split(r"\b(?:and|a|ac)\b", base) if p.strip()]
        if len(parts) < 2:
            return None
        return self._one_service([self._found(p.strip()) for p in parts])

    def _match_bilingual(self, name: str) -> tuple[str, frozenset[str]] | None:
        """A name given in English and Welsh ("Cardiff / Caerdydd", "Ynys Môn /
        Gwynedd"): the service that every side names."""
        sides = [side for side in str(name).split("/") if side.strip()]
        if len(sides) < 2:
            return None
        return self._one_service([self._found(side) for side in sides])

    @staticmethod
    def _one_service(found: list) -> tuple[str, frozenset[str]] | None:
        if None in found or len({yjs_id for yjs_id, _ in found}) != 1:
            return None
        return found[0][0], frozenset().union(*(areas for _, areas in found))
