"""Local authority code changes, 2013-2023, carried to the 2024 geography.

Populations published on an older geography (ONS mid-year estimates before
2023 use 2020 or 2021 codes) must be carried to the successor authority before
they are summed to youth justice services. ``CODE_CHANGES`` maps each retired
GSS code to its successor; chains (Taunton Deane -> Somerset West and Taunton
-> Somerset) are resolved by :func:`successor`. Upper-tier counties that were
split between successors (Dorset, whose Christchurch went to BCP; Cumbria;
Northamptonshire) map to ``None``: their population cannot be carried without
district figures. A successor is whole only where all the areas it was made
of are there (:func:`missing_parts`): Bournemouth and Poole without
Christchurch are not BCP.

Sources: ONS "Code History Database" change orders for the Dorset (2019),
Suffolk and Somerset West (2019), Buckinghamshire (2020), Hertfordshire (2020),
Northamptonshire (2021), Cumbria, North Yorkshire and Somerset (2023)
reorganisations, and the 2013 Gateshead/Northumberland recoding.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

_DORSET_BCP = "E06000058"
_DORSET = "E06000059"
_BUCKS = "E06000060"
_NORTH_NORTHANTS = "E06000061"
_WEST_NORTHANTS = "E06000062"
_CUMBERLAND = "E06000063"
_WESTMORLAND = "E06000064"
_NORTH_YORKS = "E06000065"
_SOMERSET = "E06000066"

# retired code -> successor code (None: split between several successors)
CODE_CHANGES: dict[str, str | None] = {
    # 2013 recoding (boundary change)
    "E08000020": "E08000037",  # Gateshead
    "E06000048": "E06000057",  # Northumberland
    # 2019 Dorset: Bournemouth, Christchurch and Poole; Dorset unitary
    "E06000028": _DORSET_BCP,  # Bournemouth
    "E06000029": _DORSET_BCP,  # Poole
    "E07000048": _DORSET_BCP,  # Christchurch
    "E07000049": _DORSET,  # East Dorset
    "E07000050": _DORSET,  # North Dorset
    "E07000051": _DORSET,  # Purbeck
    "E07000052": _DORSET,  # West Dorset
    "E07000053": _DORSET,  # Weymouth and Portland
    "E10000009": None,  # Dorset county: split (Christchurch went to BCP)
    # 2019 Suffolk and Somerset West and Taunton
    "E07000201": "E07000245",  # Forest Heath -> West Suffolk
    "E07000204": "E07000245",  # St Edmundsbury -> West Suffolk
    "E07000205": "E07000244",  # Suffolk Coastal -> East Suffolk
    "E07000206": "E07000244",  # Waveney -> East Suffolk
    "E07000190": "E07000246",  # Taunton Deane -> Somerset West and Taunton
    "E07000191": "E07000246",  # West Somerset -> Somerset West and Taunton
    # 2020 Buckinghamshire
    "E07000004": _BUCKS,  # Aylesbury Vale
    "E07000005": _BUCKS,  # Chiltern
    "E07000006": _BUCKS,  # South Bucks
    "E07000007": _BUCKS,  # Wycombe
    "E10000002": _BUCKS,  # Buckinghamshire county
    # 2020 Hertfordshire boundary recoding
    "E07000097": "E07000242",  # East Hertfordshire
    "E07000100": "E07000240",  # St Albans
    "E07000101": "E07000243",  # Stevenage
    "E07000104": "E07000241",  # Welwyn Hatfield
    # 2021 Northamptonshire
    "E07000150": _NORTH_NORTHANTS,  # Corby
    "E07000152": _NORTH_NORTHANTS,  # East Northamptonshire
    "E07000153": _NORTH_NORTHANTS,  # Kettering
    "E07000156": _NORTH_NORTHANTS,  # Wellingborough
    "E07000151": _WEST_NORTHANTS,  # Daventry
    "E07000154": _WEST_NORTHANTS,  # Northampton
    "E07000155": _WEST_NORTHANTS,  # South Northamptonshire
    "E10000021": None,  # Northamptonshire county: split
    # 2023 Cumbria
    "E07000026": _CUMBERLAND,  # Allerdale
    "E07000028": _CUMBERLAND,  # Carlisle
    "E07000029": _CUMBERLAND,  # Copeland
    "E07000027": _WESTMORLAND,  # Barrow-in-Furness
    "E07000030": _WESTMORLAND,  # Eden
    "E07000031": _WESTMORLAND,  # South Lakeland
    "E10000006": None,  # Cumbria county: split
    # 2023 North Yorkshire
    "E07000163": _NORTH_YORKS,  # Craven
    "E07000164": _NORTH_YORKS,  # Hambleton
    "E07000165": _NORTH_YORKS,  # Harrogate
    "E07000166": _NORTH_YORKS,  # Richmondshire
    "E07000167": _NORTH_YORKS,  # Ryedale
    "E07000168": _NORTH_YORKS,  # Scarborough
    "E07000169": _NORTH_YORKS,  # Selby
    "E10000023": _NORTH_YORKS,  # North Yorkshire county
    # 2023 Somerset
    "E07000187": _SOMERSET,  # Mendip
    "E07000188": _SOMERSET,  # Sedgemoor
    "E07000189": _SOMERSET,  # South Somerset
    "E07000246": _SOMERSET,  # Somerset West and Taunton
    "E10000027": _SOMERSET,  # Somerset county
}


class SplitAreaError(ValueError):
    """An old code whose area was divided between several successors."""


def successor(code: str, known: Container[str] = ()) -> str:
    """The 2024-geography code for ``code``, following chains of changes,
    or the first code on the way that is in ``known`` (a services lookup
    of an older geography keeps its own codes: a 2021 lookup's Allerdale is
    not carried to Cumberland).

    Codes that never changed are returned as they are. Raises
    :class:`SplitAreaError` for a county split between successors.
    """
    seen = set()
    while code not in known and code in CODE_CHANGES:
        if code in seen:  # pragma: no cover - guards against a bad table edit
            raise ValueError(f"cycle in CODE_CHANGES at {code}")
        seen.add(code)
        nxt = CODE_CHANGES[code]
        if nxt is None:
            raise SplitAreaError(
                f"{code} was split between several successor authorities; "
                "use district-level figures"
            )
        code = nxt
    return code


# successor -> the districts and unitaries it was made of (a county's own row
# stands for all of it, so counties are not parts)
_PARTS: dict[str, list[str]] = {}
for _old, _new in CODE_CHANGES.items():
    if _new is not None and not _old.startswith("E10"):
        _PARTS.setdefault(_new, []).append(_old)


def _within(code: str) -> set[str]:
    """Every area that made ``code``, and the areas that made those."""
    out = set()
    for part in _PARTS.get(code, []):
        out |= {part} | _within(part)
    return out


def carried_problem(code: str, given: set[str]) -> str | None:
    """Why the areas ``given`` (a file's codes carried to ``code``) do not add
    up to ``code``: one is missing (:func:`missing_parts`), or one is given
    with the areas it was itself made of (Somerset West and Taunton beside
    Taunton Deane: counted twice); None when they do."""
    missing = missing_parts(code, given)
    if missing:
        return f"lacks {', '.join(missing)}, also part of {code}, so its sum would be short"
    twice = sorted(g for g in given if _within(g) & given)
    if twice:
        parts = sorted(set().union(*(_within(g) & given for g in twice)))
        return (f"gives {', '.join(twice)} and the areas it was made of ({', '.join(parts)}), so its sum "
                "would count them twice")
    return None


# a county split between successors (None in CODE_CHANGES) -> the successors
SPLIT_INTO: dict[str, tuple[str, ...]] = {
    "E10000009": (_DORSET_BCP, _DORSET),  # Dorset county: Christchurch went to BCP
    "E10000021": (_NORTH_NORTHANTS, _WEST_NORTHANTS),  # Northamptonshire
    "E10000006": (_CUMBERLAND, _WESTMORLAND),  # Cumbria
}


def superseded(codes: Iterable[str]) -> dict[str, str]:
    """Each of ``codes`` whose area became part of another of ``codes``
    (following :data:`CODE_CHANGES`' chains: Taunton Deane, Somerset West
    and Taunton, Somerset), mapped to the first such code on its way. A
    services lookup listing both Corby and North Northamptonshire would sum
    Corby's population into its service twice: once as Corby's own (the
    nearest year's, where its estimates stop in 2020) and again within
    North Northamptonshire's. A county split between successors
    (:data:`SPLIT_INTO`) is superseded by the first of them listed."""
    known = set(codes)
    found = {}
    for code in known:
        split = [s for s in SPLIT_INTO.get(code, ()) if s in known]
        if split:  # a split county beside one of its successors: its population is theirs
            found[code] = split[0]
            continue
        nxt, seen = CODE_CHANGES.get(code), {code}
        while nxt is not None and nxt not in seen:
            if nxt in known:
                found[code] = nxt
                break
            seen.add(nxt)
            nxt = CODE_CHANGES.get(nxt)
    return found


def missing_parts(code: str, given: Container[str]) -> list[str]:
    """The areas that made ``code`` (:data:`CODE_CHANGES`) of which ``given``
    (a file's codes carried to it) lacks the figure; an area given by its
    own parts counts (Taunton Deane and West Somerset for Somerset West and
    Taunton). Empty when ``code`` is whole: its carried sum is not short."""
    return [part for part in _PARTS.get(code, [])
            if part not in given and (part not in _PARTS or missing_parts(part, given))]
