"""Parsing single cells, read as text, into numbers and dates.

Every reader reads cells as strings and parses them here, so that the
suppression markers are honoured in one place and a cell that cannot be read
fails with a message naming the column and the value (``column fte_count:
'twelve' is not a number``). The readers turn :class:`RowProblem` into a
quarantine row; they never guess.

:class:`Distinct` applies any of these to a whole column, once per distinct
value: a large table repeats each period, name and count many times, so the
readers' column path costs little more than finding the distinct values.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd

# "Not published" markers used by ONS, MoJ and YJB tables (and empty cells), and "not available"
# as R and many exports write a missing value (NA, N/A): missing, never zero.
MARKERS = frozenset({"", "*", "..", "x", "[c]", "[x]", "[z]", "-", "na", "n/a"})

# The Government Statistical Service's shorthand after a figure or a label
# (https://analysisfunction.civilservice.gov.uk, "Symbols in tables"): a
# footnote reference, "[note 3]", and, after a figure, its status: [b] break
# in the series, [d] cumulative, [e] estimated, [f] forecast, [p]
# provisional, [r] revised, [u] low reliability. The figure is the figure.
_NOTE = r"\[\s*notes?\s*\d+[a-z]?(?:\s*(?:,|and|&)\s*\d+[a-z]?)*\s*\]"  # [note 3], [notes 1 and 2]
_NOTES = re.compile(rf"(?:\s*{_NOTE})+$", re.IGNORECASE)
_STATUS = re.compile(rf"(?:\s*(?:\[[bdefpru]\]|{_NOTE}))+$", re.IGNORECASE)


def without_notes(text: str) -> str:
    """``text`` without the footnote references at its end ("Bolton [note 2]"
    -> "Bolton")."""
    return _NOTES.sub("", text) if "[" in text else text

_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$", re.ASCII)
# "1.000" or "1.282": a point before three digits, as Excel in much of Europe writes a thousand
# ("1.000" = 1,000), or a decimal point (1.000 = 1). A count cannot be read either way for sure.
# (Not "0.000" or "012.000": no group of thousands starts with 0.)
_POINT_THOUSANDS = re.compile(r"^\+?[1-9]\d{0,2}\.\d{3}$", re.ASCII)
_ISO_DATE = re.compile(  # a time and time zone after the date are ignored
    r"^(\d{4})-(\d{1,2})-(\d{1,2})([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$",
    re.ASCII | re.IGNORECASE)
_YEAR_MONTH = re.compile(r"^(\d{4})[-/](\d{1,2})$", re.ASCII)
_MONTH_YEAR = re.compile(r"^(\d{1,2})[-/.](\d{4})$", re.ASCII)  # 03/2020
# a time after it, as Excel writes a date cell to CSV ("10/01/2023 00:00"), is ignored
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[ap]m)?)?$",
                  re.ASCII | re.IGNORECASE)
_FINANCIAL_YEAR = re.compile(r"^(\d{4})\s*[-/]\s*(\d{2}|\d{4})$", re.ASCII)

# Dates and months in words, as British tables and reports write them
# (matched on the lower-cased cell): "12 May 2023", "12-May-23", "Tuesday 12th
# May 2023", "May 12, 2023"; "March 2020", "Mar-20"; a period by its end,
# "year ending March 2020"; a range by its last month, "Jan to Mar 2021",
# "April 2019 - March 2020".
Month = tuple[int, int]  # (year, month)
MONTHS = {name: number for number, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december")), start=1) for name in names}
_YEAR = r"(\d{4}|\d{2})"
_DAY_WORDS = re.compile(r"^(?:[a-z]+day,?\s+)?(\d{1,2})(?:st|nd|rd|th)?[\s/-]+([a-z]+)\.?,?[\s/-]+" + _YEAR + "$",
                        re.ASCII)
_WORDS_DAY = re.compile(r"^(?:[a-z]+day,?\s+)?([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$", re.ASCII)
_MONTH_WORDS = re.compile(r"^([a-z]+)\.?[\s/-]*" + _YEAR + "$", re.ASCII)
_ENDING = re.compile(r"^(?:(?:financial\s+|calendar\s+)?(year|12\s*months|twelve\s+months|quarter|"
                     r"3\s*months|three\s+months|period|cohort)s?\s+)?(?:ending|ended|to)\s+(.+)$", re.ASCII)
_ENDING_MONTHS = {"year": 12, "12months": 12, "twelvemonths": 12, "quarter": 3, "3months": 3, "threemonths": 3}
_RANGE = re.compile(r"^(.+?)\s*(?:\s(?:to|until)\s|\u2013|\u2014|\s-\s)\s*(.+)$")
# "apr 2009-mar 2010": a hyphen without spaces between two months with their years (en dashes are
# hyphens by now, see _lower; "2020-03" is no range)
_WORD_RANGE = re.compile(r"^([a-z]+\.?\s*\d{2}(?:\d{2})?)-([a-z]+\.?\s*\d{2}(?:\d{2})?)$", re.ASCII)
_MONTH_RANGE = re.compile(r"^([a-z]+)\.?\s*[-/]\s*([a-z]+\.?[\s/-]*" + _YEAR + ")$", re.ASCII)  # "jan-mar 2021"


class RowProblem(ValueError):
    """A cell that cannot be read; the message names the column and value."""


def is_suppressed(value: str) -> bool:
    """True for an empty cell or a *not published* marker."""
    return value.strip().lower() in MARKERS


# No count here comes near it (England and Wales have 60 million people); below it, the sum of a
# file's rows (at most 2,000,000) stays within a 64-bit integer.
MAX_COUNT = 10**12


def parse_count(value: str, column: str) -> float:
    """A non-negative count; NaN when suppressed. Accepts ``1,234`` and
    ``12.0``, and a figure followed by its status or a footnote reference
    (``1,234 [p]``, ``[c] [note 2]``). Refuses ``1.000``: a thousand where a
    point separates thousands (Excel in much of Europe), 1 where it is a
    decimal point."""
    text = value.strip()
    if len(text) > MAX_PERIOD_CHARS:  # no count is that long
        raise RowProblem(f"column {column}: {value[:40]!r}... is not a number")
    if "[" in text:
        stripped = _STATUS.sub("", text)
        if not stripped:  # a status alone ("[p]") is no figure
            raise RowProblem(f"column {column}: {value!r} is not a number")
        text = stripped
    if is_suppressed(text):
        return math.nan
    if not _NUMBER.match(text):
        raise RowProblem(f"column {column}: {value!r} is not a number")
    if _POINT_THOUSANDS.match(text):
        whole = text.lstrip("+").replace(".", "")
        raise RowProblem(f"column {column}: {value!r} is ambiguous: {int(whole)} with a point between "
                         f"thousands, or {float(text):g} with a decimal point? Write counts as {int(whole)} "
                         f"or {int(whole):,}")
    number = float(text.replace(",", ""))
    if number >= MAX_COUNT:
        raise RowProblem(f"column {column}: {value!r} is too large for a count (over a trillion)")
    if number < 0:
        raise RowProblem(f"column {column}: {value!r} is negative; counts cannot be")
    if not number.is_integer():
        raise RowProblem(f"column {column}: {value!r} is not a whole number; counts are "
                         "(a rate or an average in a count column?)")
    return number


def parse_int(value: str, column: str) -> int:
    """A whole number that must be present (years, ages, period lengths)."""
    number = parse_count(value, column)
    if math.isnan(number):
        raise RowProblem(f"column {column}: {value!r} is missing; a whole number is required")
    return int(number)


@dataclass
class Distinct:
    """A column of cells as read and its distinct values, for parsing each
    value once however often the column repeats it (:meth:`of`)."""

    codes: np.ndarray  # each cell's position in values
    values: np.ndarray  # the distinct cells, unstripped

    @classmethod
    def of(cls, cells: np.ndarray) -> Distinct:
        codes, values = pd.factorize(cells)  # text: never missing
        return cls(codes, values)

    def take(self, positions: np.ndarray) -> Distinct:
        """The cells at ``positions`` (indices or a boolean mask)."""
        return Distinct(self.codes[positions], self.values)

    def cells(self) -> np.ndarray:
        """The cells as read, one object per distinct value."""
        return self.values[self.codes]

    def parse(self, parse: Callable[[str], object], dtype="object", failed=None) -> tuple[np.ndarray, np.ndarray]:
        """``parse`` applied to every cell's stripped text: the results
        (``failed`` where it raised :class:`RowProblem`) and a mask of the
        cells it accepted. The rows it refused are parsed one at a time by
        the reader, so their problems are worded as the row path words them."""
        results, accepted = [], []
        for value in self.values:
            try:
                results.append(parse(value.strip()))
                accepted.append(True)
            except RowProblem:
                results.append(failed)
                accepted.append(False)
        dtype = np.dtype(dtype)
        # datetimes through pandas, which converts Timestamps and NaT; np.fromiter keeps each result one
        # element, even a tuple
        values = (pd.Series(results, dtype=dtype).to_numpy() if dtype.kind == "M"
                  else np.fromiter(results, dtype=dtype, count=len(results)))
        return values[self.codes], np.array(accepted, dtype=bool)[self.codes]

    def counts(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`parse` with :func:`parse_count`, quicker for a column of many
        distinct counts: a plain whole number ("1234") is read with float(),
        which is all parse_count does with it. A column of nothing else
        (ONS's tables: every age's column) is read in one go: its cells
        joined are all ASCII digits, and none is empty or over 12 digits
        (eight tables' 64 age columns of ~330 distinct values: 4 -> 1 ms)."""
        values = self.values.tolist()
        joined = "".join(values)
        if joined.isdigit() and joined.isascii() and 0 < min(map(len, values)) and max(map(len, values)) <= 12:
            return np.array(values, dtype=float)[self.codes], np.ones(len(self.codes), dtype=bool)
        results, accepted = np.empty(len(self.values)), np.ones(len(self.values), dtype=bool)
        for i, value in enumerate(self.values):
            text = value.strip()
            if text.isdigit() and text.isascii() and len(text) <= 12:
                results[i] = float(text)
                continue
            try:
                results[i] = parse_count(text, column)
            except RowProblem:
                results[i], accepted[i] = math.nan, False
        return results[self.codes], accepted[self.codes]


_LATEST_DATE: ContextVar[dt.date | None] = ContextVar("latest_date", default=None)


def today() -> pd.Timestamp:
    """The latest date a published figure can describe: the date of the
    refresh, or a later as-of date the run was asked for (a run dated in the
    future, e.g. on simulated data, may use figures up to that date)."""
    later = _LATEST_DATE.get()
    day = dt.date.today()
    return _timestamp(max(day, later) if later else day)


@contextmanager
def dates_allowed_up_to(day: dt.date | None):
    """Within the block, :func:`today` is at least ``day``."""
    token = _LATEST_DATE.set(day)
    try:
        yield
    finally:
        _LATEST_DATE.reset(token)


@lru_cache(maxsize=4)
def _timestamp(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day)


# No published figure or inspection here is older (youth offending teams
# date from 2000, the ONS mid-year estimates from 1971); a year such as 0201
# for 2021 is a typo, and one before 1678 would not fit a date column at all.
EARLIEST_YEAR = 1900


def plausible_date(stamp: pd.Timestamp, value: str, column: str, what: str) -> pd.Timestamp:
    """``stamp`` if it is neither after today nor before ``EARLIEST_YEAR``,
    else a problem naming the cell.

    The as-of rule drops periods an analyst could not yet have seen; a date
    after the refresh itself cannot be true of any published figure (a typo
    such as 2042 for 2024, or a projection among estimates).
    """
    if stamp.year < EARLIEST_YEAR:
        raise RowProblem(f"column {column}: {value!r} is before {EARLIEST_YEAR}; "
                         f"{what} cannot be that old")
    if stamp > today():
        limit = "the as-of date" if today() > _timestamp(dt.date.today()) else "today"
        raise RowProblem(f"column {column}: {value!r} is after {limit} ({today():%Y-%m-%d}); "
                         f"{what} cannot be in the future")
    return stamp


@lru_cache(maxsize=4096)  # a big table repeats each period many times
def month_end(value: str, column: str) -> pd.Timestamp:
    """The last day of the month named by ``YYYY-MM`` (or a date within it).

    Periods are identified by their last month, so a full date is moved to
    the end of its month: ``2020-03`` and ``2020-03-15`` both give 2020-03-31.
    A month in words counts too ("March 2020", "Mar-20", ``03/2020``), and so
    does a period written by its end ("year ending March 2020") or as a range
    ("Jan to Mar 2021": its last month), and a financial year where it says
    so ("FY 2019-20", "financial year 2019/20": March 2020). A month without
    its year ("March") is refused, and so is a bare "2019-20", with a hint:
    "2011-12" is the contract's December 2011, so a bare financial year
    cannot be told from a month.
    """
    text = _lower(value)
    if _FINANCIAL_YEAR_WORDS.search(text):  # "FY 2019-20": a financial year, said so
        return financial_year_end(value, column)
    span = _span(text)
    if span is None:
        hint = f"{BARE_FINANCIAL_YEAR_HINT}{value.strip()}" if _FINANCIAL_YEAR.match(text) else ""
        raise RowProblem(f"column {column}: {value!r} is not a month (expected YYYY-MM){hint}")
    try:
        return pd.Timestamp(year=span[1][0], month=span[1][1], day=1) + pd.offsets.MonthEnd(0)
    except (ValueError, OverflowError):  # year 0
        raise RowProblem(f"column {column}: {value!r} is not a month (expected YYYY-MM)") from None


_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-"})  # en and em dash, minus sign


# No period or date is longer; a longer cell is not one (and would cost the parsers' patterns time)
MAX_PERIOD_CHARS = 100


def _lower(value: str) -> str:
    """A period or date cell as its parsers read it: lower case, single
    spaces, dashes as hyphens, without the footnote references and statuses
    after it ("2020-03 [note 1]", "Mar 2021 [p]"); "" (no period) for a cell
    longer than :data:`MAX_PERIOD_CHARS`."""
    if len(value) > MAX_PERIOD_CHARS:
        return ""
    if "[" in value:
        value = _STATUS.sub("", value)
    return " ".join(value.translate(_DASHES).lower().split())


def _year(digits: str) -> int:
    """A year of four digits, or of two: 20YY, as in :func:`parse_date`."""
    return int(digits) + (2000 if len(digits) == 2 else 0)


def _month(year: int, month: int) -> Month | None:
    return (year, month) if 1 <= month <= 12 and year >= 1 else None


def _span(text: str) -> tuple[Month | None, Month] | None:
    """The first and last month of the period that ``text`` (lower-cased)
    names: ``(None, last)`` where it names one month or a period by its end;
    None where it names no month (or a range that ends before it starts)."""
    for pattern, year, month in ((_YEAR_MONTH, 1, 2), (_MONTH_YEAR, 2, 1)):
        match = pattern.match(text)
        if match:
            last = _month(int(match[year]), int(match[month]))
            return (None, last) if last else None
    match = _MONTH_WORDS.match(text)
    if match and match[1] in MONTHS:
        return None, (_year(match[2]), MONTHS[match[1]])
    match = _ENDING.match(text)
    if match:
        inner = _span(match[2])
        if inner is None:
            return None
        length = _ENDING_MONTHS.get((match[1] or "").replace(" ", ""))
        return (_months_before(inner[1], length - 1) if length else None), inner[1]
    match = _MONTH_RANGE.match(text) or _RANGE.match(text) or _WORD_RANGE.match(text)
    if match:
        return _range(match[1], match[2])
    date = _calendar_date(text)
    return (None, (date.year, date.month)) if date is not None else None


def _months_before(month: Month, n: int) -> Month:
    index = month[0] * 12 + month[1] - 1 - n
    return index // 12, index % 12 + 1


@lru_cache(maxsize=4096)
def period_length(value: str) -> int | None:
    """How many months the period that ``value`` names is long, where it
    says: "Jan to Mar 2021" 3, "year ending March 2020" 12; None for a
    single month or date ("2021-03", "March 2021") or a cell that names no
    month."""
    text = _lower(value)
    if _FINANCIAL_YEAR_WORDS.search(text):
        return 12
    span = _span(text)
    if span is None or span[0] is None:
        return None
    (first_year, first_month), (last_year, last_month) = span
    return (last_year - first_year) * 12 + last_month - first_month + 1


def _range(first_text: str, last_text: str) -> tuple[Month, Month] | None:
    """A range's first and last months; a first month without its year
    ("Jan to Mar 2021") is the latest such month not after the last."""
    last = _span(last_text)
    if last is None:
        return None
    last = last[1]
    first_text = first_text.rstrip(".")
    if first_text in MONTHS:
        month = MONTHS[first_text]
        first = (last[0] if month <= last[1] else last[0] - 1, month)
    else:
        first = _span(first_text)
        first = first and (first[0] or first[1])
    return (first, last) if first and first <= last else None


def _calendar_date(text: str, month_first: bool = False) -> pd.Timestamp | None:
    """``text`` (lower-cased) as a calendar date, or None; see :func:`parse_date`."""
    try:
        match = _ISO_DATE.match(text)
        if match:
            return pd.Timestamp(datetime(int(match[1]), int(match[2]), int(match[3])))
        match = _DMY.match(text)
        if match:
            day, month = (match[2], match[1]) if month_first else (match[1], match[2])
            return pd.Timestamp(datetime(_year(match[3]), int(month), int(day)))
        match = _DAY_WORDS.match(text)
        if match and match[2] in MONTHS:
            return pd.Timestamp(datetime(_year(match[3]), MONTHS[match[2]], int(match[1])))
        match = _WORDS_DAY.match(text)
        if match and match[1] in MONTHS:
            return pd.Timestamp(datetime(int(match[3]), MONTHS[match[1]], int(match[2])))
    except ValueError:
        pass
    return None


@lru_cache(maxsize=4096)
def parse_date(value: str, column: str, month_first: bool = False) -> pd.Timestamp:
    """A calendar date: ISO ``YYYY-MM-DD`` (a time after it is ignored),
    British ``DD/MM/YYYY`` / ``DD/MM/YY``, or in words ("12 May 2023",
    "12-May-23", "Tuesday 12th May 2023", "May 12, 2023").

    Day first in figures, as every publisher here is British, unless
    ``month_first``: for a column that :func:`month_first_dates` finds written
    the American way. Two-digit years are 20YY (the scrape of HMI Probation
    reports starts in 2021).
    """
    date = _calendar_date(_lower(value), month_first)
    if date is None:
        order = "MM/DD/YYYY, as the column's other dates are" if month_first else "DD/MM/YYYY"
        raise RowProblem(f"column {column}: {value!r} is not a date (expected YYYY-MM-DD or {order})")
    return date


def month_first_dates(values: Iterable[str]) -> bool:
    """Whether a column's dates in figures are written month first: some
    (``1/27/2023``) can only be read so, and none (``27/1/2023``) only day
    first. A column of such dates read day first would have its others
    (``1/10/2023``) published with day and month swapped, without a sign.
    A British file of any size has dates after the 12th, which only day
    first can read, so a typo there (``1/13/2023``) does not turn it round."""
    month_first = day_first = 0
    for value in values:
        match = _DMY.match(_lower(value))
        if match:
            first, second = int(match[1]), int(match[2])
            month_first += first <= 12 < second <= 31
            day_first += second <= 12 < first <= 31
    return month_first > 0 and not day_first


BARE_FINANCIAL_YEAR_HINT = "; a financial year? Write it FY "  # after a bare "2019-20" that is no month


def bare_financial_year(value: str) -> bool:
    """Whether a period could be a financial year written bare: "2011-12" or
    "2011/12" (a year, then the next), which as the contract's YYYY-MM is a
    month, December 2011 (see :func:`month_end`)."""
    match = _FINANCIAL_YEAR.match(_lower(value))
    return bool(match) and _years_running_on(match)


def _years_running_on(match: re.Match) -> bool:
    """Whether a :data:`_FINANCIAL_YEAR` match is a year and the next
    ("2019-20", "2019/2020", "1999-00")."""
    start, end = int(match[1]), int(match[2])
    return end == start + 1 or (len(match[2]) == 2 and end == (start + 1) % 100)


_FINANCIAL_YEAR_WORDS = re.compile(r"^(?:fy|financial year)\s*|\s*(?:fy|financial year)$", re.ASCII)


@lru_cache(maxsize=256)
def financial_year_end(value: str, column: str) -> pd.Timestamp:
    """``2019-20`` (or ``2019/20``, ``2019-2020``, ``FY 2019-20``) ends on 31
    March 2020; so does "year ending March 2020" or "April 2019 to March 2020"."""
    text = _FINANCIAL_YEAR_WORDS.sub("", _lower(value).replace("financial year ending", "year ending"))
    match = _FINANCIAL_YEAR.match(text)
    ending = None
    if match:
        if _years_running_on(match):
            ending = int(match[1]) + 1
    else:
        span = _span(text)
        if span and span[1][1] == 3 and span[0] == (span[1][0] - 1, 4):  # April to March
            ending = span[1][0]
    if ending is not None and 1 <= ending <= 9999:  # a year a date can hold ("FY 9999-00" cannot end)
        return pd.Timestamp(year=ending, month=3, day=31)
    raise RowProblem(f"column {column}: {value!r} is not a financial year (expected YYYY-YY)")
