"""Ingest: the published input files, read into tidy tables.

One reader per source folder (see the contract's "Inputs"). Each returns an
:class:`Ingested`: the tidy ``table``, the rows it could not use
(``quarantine``, with file, row number and problem) and the ``files`` it read.
A file that cannot be read at all raises :class:`IngestError`.

Each reader parses a block of rows a column at a time, each distinct value
once, and hands only the rows it cannot settle with certainty to its row
parser, so that a large clean table costs a few microseconds a row while
every problem is worded as before. Parsing every row one at a time, within
``results.one_row_at_a_time()``, is the reference the column path is tested
against (``tests/test_ingest_fast.py``).

Modules: ``discovery`` (which files are inputs; links, sizes), ``grids`` and
``ods`` (any file -> rows of text, streamed; merged cells filled),
``headers`` (find the header, one or two rows), ``tables`` (rows keyed by
field, one at a time or a block of columns at a time, at most a layout's
``max_rows``), ``cells`` (numbers, dates, suppression markers, nothing after
today; each distinct value of a column once),
``results`` (quarantine, file list, duplicates; the two paths), ``names``
(service-name matching), ``geography`` (LA code changes), then one reader per
source: ``services``, ``population``, ``indicators`` (first-time entrants,
reoffending, custody) and ``inspections``.
"""

from pipeline.ingest.cells import dates_allowed_up_to
from pipeline.ingest.discovery import folder_bytes
from pipeline.ingest.indicators import (
    NOT_ALL_CHILDREN, PART_BESIDE_WHOLE, read_custody, read_first_time_entrants, read_reoffending,
)
from pipeline.ingest.inspections import read_inspections
from pipeline.ingest.names import NO_SERVICE, ServiceMatcher, normalise_name, slugify
from pipeline.ingest.population import NOT_IN_LOOKUP, PERSONS_COUNT, read_population
from pipeline.ingest.results import Ingested
from pipeline.ingest.services import read_services
from pipeline.ingest.errors import IngestError
from pipeline.ingest.tables import NOTE_PROBLEM

SOURCES = ("services", "population", "first_time_entrants", "reoffending", "custody", "inspections")
# What the quarantine says of rows set aside by design, not for a fault in them: rows for boys or girls
# in an indicator table by sex, a merged service's parts beside its own total, a population row for one
# sex beside the area's persons row; and notes under a table, which are not data rows at all.
BY_DESIGN = (NOT_ALL_CHILDREN, PART_BESIDE_WHOLE, PERSONS_COUNT, NOTE_PROBLEM)
# ... and of rows for a service or an area the services lookup does not list: outside the run's scope
# where the lookup covers part of the country (national files read with a region's lookup)
OUTSIDE_LOOKUP = (NO_SERVICE, NOT_IN_LOOKUP)


def read_dated(reader, data_dir, services, as_of):
    """``reader(data_dir, services)`` with rows dated up to ``as_of`` allowed
    (``cells.dates_allowed_up_to``): how the refresh reads a source, in its
    own process or in the model worker."""
    with dates_allowed_up_to(as_of):
        return reader(data_dir, services)

__all__ = [
    "BY_DESIGN",
    "OUTSIDE_LOOKUP",
    "SOURCES",
    "IngestError",
    "Ingested",
    "ServiceMatcher",
    "folder_bytes",
    "normalise_name",
    "read_custody",
    "read_dated",
    "read_first_time_entrants",
    "read_inspections",
    "read_population",
    "read_reoffending",
    "read_services",
    "slugify",
]
