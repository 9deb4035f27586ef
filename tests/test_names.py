"""Service-name normalisation and matching, as the contract's "Inputs" describes."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.ingest import ServiceMatcher, normalise_name, slugify

SERVICES = pd.DataFrame(
    [
        ("E06000010", "Kingston upon Hull, City of", "Kingston-upon-Hull"),
        ("E08000021", "Newcastle upon Tyne", "Newcastle upon Tyne"),
        ("E07000195", "Newcastle-under-Lyme", "Staffordshire"),
        ("E06000047", "County Durham", "Durham"),
        ("E06000023", "Bristol, City of", "Bristol"),
        ("E06000016", "Leicester", "Leicester City"),
        ("E06000017", "Rutland", "Leicestershire"),
        ("E06000019", "Herefordshire, County of", "West Mercia"),
        ("E06000051", "Shropshire", "West Mercia"),
        ("E09000011", "Greenwich", "Greenwich"),
        ("E09000001", "City of London", "Tower Hamlets and City of London"),
        ("E09000030", "Tower Hamlets", "Tower Hamlets and City of London"),
        ("E09000021", "Kingston upon Thames", "Kingston and Richmond"),
        ("E09000027", "Richmond upon Thames", "Kingston and Richmond"),
        ("W06000001", "Isle of Anglesey", "Gwynedd and Ynys Môn"),
        ("W06000003", "Conwy", "Conwy and Denbighshire"),
        ("E08000013", "St. Helens", "St. Helens"),
        ("E06000059", "Dorset", "Dorset Combined YOS"),
        ("W06000002", "Gwynedd", "Gwynedd and Ynys Môn"),
        ("W06000004", "Denbighshire", "Conwy and Denbighshire"),
        ("W06000015", "Cardiff", "Cardiff"),
        ("W06000011", "Swansea", "Swansea"),
        ("W06000014", "Vale of Glamorgan", "Vale of Glamorgan"),
    ],
    columns=["la_code", "la_name", "yjs_name"],
).assign(yjs_id=lambda d: d["yjs_name"].map(slugify))


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("West Mercia", "west mercia"),
        ("Conwy & Denbighshire - JI", "conwy and denbighshire"),
        ("Gwynedd and Ynys Môn", "gwynedd and ynys mon"),
        ("Hull YOS", "hull"),
        ("Bolton YOT", "bolton"),
        ("Bolton YJS", "bolton"),
        ("Wigan Youth Offending Service", "wigan"),
        ("Wigan Youth Offending Team", "wigan"),
        ("Wigan Youth Justice Service", "wigan"),
        ("Wigan Youth Justice Services", "wigan"),
        ("An inspection of Tower Hamlets and City of London", "tower hamlets and city of london"),
        ("Royal Borough of Greenwich", "greenwich"),
        ("London Borough of Hackney", "hackney"),
        ("City of Bristol", "bristol"),
        ("City of London", "city of london"),
        ("City of London and Tower Hamlets YOT", "city of london and tower hamlets"),  # kept at the start too
        ("Kingston upon Hull, City of", "kingston upon hull"),
        ("Kingston-upon-Hull", "kingston upon hull"),
        ("St. Helens", "st helens"),
        ("  SOUTHEND-ON-SEA  ", "southend on sea"),
        ("Dorset Combined YOS", "dorset combined"),
        # HMI Probation's report titles, and its joint-inspection marker after an en or em dash (PDFs, Word)
        ("An inspection of youth offending services in Hull", "hull"),
        ("An inspection of youth justice services in Bristol", "bristol"),
        ("Full joint inspection of youth offending work in Wigan", "wigan"),
        ("Conwy & Denbighshire \u2013 JI", "conwy and denbighshire"),
        ("Conwy & Denbighshire\u2014JI", "conwy and denbighshire"),
        ("The Royal Borough of Kensington and Chelsea", "kensington and chelsea"),
        ("The Vale of Glamorgan", "vale of glamorgan"),
        ("Ceredigion Youth Justice and Prevention Service", "ceredigion"),  # its own name
        ("City and County of Swansea", "swansea"),  # the council's formal name
    ],
)
def test_normalise_name(name, normal):
    assert normalise_name(name) == normal


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("West Mercia", "west-mercia"),
        ("Gwynedd and Ynys Môn", "gwynedd-and-ynys-mon"),
        ("Cheshire East, Cheshire West, Halton and Warrington",
         "cheshire-east-cheshire-west-halton-and-warrington"),
        ("St. Helens", "st-helens"),
        ("Bath & North East Somerset", "bath-and-north-east-somerset"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize(
    ("name", "service"),
    [
        ("Hull", "Kingston-upon-Hull"),  # alias
        ("Kingston upon Hull, City of", "Kingston-upon-Hull"),
        ("Newcastle", "Newcastle upon Tyne"),  # alias: not Newcastle-under-Lyme
        ("County Durham", "Durham"),  # an LA's name finds its service
        ("Durham County Council", "Durham"),
        ("City of Bristol", "Bristol"),
        ("Leicester City", "Leicester City"),
        ("Leicester", "Leicester City"),
        ("Rutland", "Leicestershire"),
        ("Herefordshire", "West Mercia"),
        ("Royal Borough of Greenwich", "Greenwich"),
        ("An inspection of Tower Hamlets and City of London", "Tower Hamlets and City of London"),
        ("City of London", "Tower Hamlets and City of London"),
        ("City of London and Tower Hamlets YOT", "Tower Hamlets and City of London"),
        ("Kingston upon Thames and Richmond upon Thames", "Kingston and Richmond"),  # merged name
        ("Ynys Môn", "Gwynedd and Ynys Môn"),
        ("Conwy & Denbighshire - JI", "Conwy and Denbighshire"),
        ("St Helens YOT", "St. Helens"),
        ("Dorset - JI", "Dorset Combined YOS"),
        # the HMI Probation scrape's other versions, and the YJB's open data
        ("youth justice services in Conwy & Denbighshire - Joint_Inspection", "Conwy and Denbighshire"),
        ("An inspection of youth offending services in Hull", "Kingston-upon-Hull"),
        ("Gwynedd Mon", "Gwynedd and Ynys Môn"),
        # bilingual Welsh tables: English / Welsh, and the Welsh names of the areas
        ("Ynys Môn / Gwynedd", "Gwynedd and Ynys Môn"),
        ("Cardiff / Caerdydd", "Cardiff"),
        ("Caerdydd", "Cardiff"),
        ("Conwy a Sir Ddinbych", "Conwy and Denbighshire"),
        ("Bro Morgannwg", "Vale of Glamorgan"),
        ("City and County of Swansea", "Swansea"),
        ("Abertawe", "Swansea"),
    ],
)
def test_matcher_finds_the_service(name, service):
    matcher = ServiceMatcher(SERVICES)
    assert matcher.names[matcher.match(name)] == service


@pytest.mark.parametrize("name", ["Atlantis", "", "YOS", "England", "Kingston", "Cardiff / Swansea",
                                  "Cardiff / Atlantis", "Conwy a Cardiff", "/"])
def test_matcher_returns_none_for_unknown_names(name):
    assert ServiceMatcher(SERVICES).match(name) is None


@given(st.text(max_size=60))
def test_normalise_name_is_idempotent_and_plain(name):
    normal = normalise_name(name)
    assert normalise_name(normal) == normal
    assert normal == normal.strip() and "  " not in normal
    assert all(c.isascii() for c in normal)
