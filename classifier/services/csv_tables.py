"""Read a user's CSV (a ZIP import's labels, a URL list) with pandas into plain rows, the same way for both.

Spreadsheets save CSVs in many shapes: a byte-order mark, Windows line ends, quoted cells with commas
or line breaks, capitalised or padded headers, extra columns, short rows, a semicolon or tab between
cells. All of those are read; text that is not UTF-8 (or UTF-16 with its mark) and binary files are
refused with a message that says what to do, never guessed at: a wrong guess would import wrong labels.
"""

import codecs
import io
import re
from dataclasses import dataclass

import pandas as pd

# A cell separator other than the comma, chosen only when the header line has no comma at all.
_OTHER_DELIMITERS = (";", "\t")
# The fast parser's words for a quoted cell that runs to the end of the file, and for a row with more
# cells than the first line.
_UNCLOSED_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
_TOO_MANY_CELLS = re.compile(r"Expected \d+ fields")


class CsvUnreadable(ValueError):
    """The bytes are not a CSV we can read; the message names why, for the user."""


@dataclass(frozen=True)
class CsvTable:
    # Header names as the user wrote them, trimmed and lower-cased ("URL " → "url").
    columns: list[str]
    # Every data row, as many cells as ``columns`` (short rows padded with "", stray cells dropped).
    rows: list[list[str]]

    def cells(self, column: str) -> list[str]:
        """The column's cells, "" for every row when the column is absent."""
        if column not in self.columns:
            return [""] * len(self.rows)
        at = self.columns.index(column)
        return [row[at] for row in self.rows]

    @staticmethod
    def line(index: int) -> int:
        """The line a data row starts on as the user counts it: the header is line 1."""
        return index + 2


def csv_text(raw: bytes, *, what: str) -> str:
    """The bytes as text: UTF-8 (a byte-order mark is dropped) or UTF-16 with its mark.

    ``what`` starts the messages ("The labels CSV"). Raises ``CsvUnreadable``.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export; it always starts with the mark, so this is no guess.
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise CsvUnreadable(f"{what} starts as UTF-16 text but cannot be read as it; save it as UTF-8.") from None
    if b"\x00" in raw:
        raise CsvUnreadable(f"{what} is not a text file (it holds binary data); save it as a CSV in UTF-8.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvUnreadable(
            f"{what} is not UTF-8 text (byte {error.start} cannot be read); save it as UTF-8."
        ) from None


def csv_table_read(raw: bytes, *, what: str) -> CsvTable:
    """The CSV's header and rows; a file with no header at all reads as no columns and no rows.

    Raises ``CsvUnreadable`` naming the problem (encoding, binary data, unbalanced quotes).
    """
    text = csv_text(raw, what=what)
    if not text.strip():
        return CsvTable(columns=[], rows=[])
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        delimiter = next((other for other in _OTHER_DELIMITERS if other in first_line), ",")
    frame = _frame_read(text, delimiter=delimiter, what=what)
    table = frame.to_numpy(dtype=object).tolist()
    if not table:
        return CsvTable(columns=[], rows=[])
    columns = [str(cell).strip().lower() for cell in table[0]]
    # Header cells past the last named one are blank cells left by spreadsheets, not columns.
    while columns and not columns[-1]:
        columns.pop()
    width = len(columns)
    rows = []
    for row in table[1:]:
        # A row shorter than the first line has NaN in its missing cells.
        cells = ["" if pd.isna(cell) else str(cell) for cell in row[:width]]
        cells += [""] * (width - len(cells))
        rows.append(cells)
    # Blank lines count in the line numbers (``skip_blank_lines=False``) but are not rows: drop them
    # only from the end, so every other row keeps the line number its user sees.
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    return CsvTable(columns=columns, rows=rows)


def _frame_read(text: str, *, delimiter: str, what: str) -> pd.DataFrame:
    options = {
        "sep": delimiter,
        "header": None,
        "dtype": str,
        "keep_default_na": False,
        "na_filter": False,
        "skip_blank_lines": False,
    }
    try:
        return pd.read_csv(io.StringIO(text), **options)
    except pd.errors.ParserError as error:
        unclosed = _UNCLOSED_QUOTE.search(str(error))
        if unclosed:
            line = int(unclosed.group(1)) + 1
            raise CsvUnreadable(f'{what} has a quote (") on line {line} that is never closed.') from None
        if not _TOO_MANY_CELLS.search(str(error)):
            raise CsvUnreadable(f"{what} cannot be read: {error}.") from None
    except (pd.errors.EmptyDataError, ValueError) as error:
        raise CsvUnreadable(f"{what} cannot be read: {error}.") from None
    # A row with more cells than the first line stops the fast parser; the Python one keeps such a row,
    # cut to the first line's width (stray trailing cells are not a reason to refuse a list).
    try:
        width = len(pd.read_csv(io.StringIO(text), nrows=1, **options).columns)
        return pd.read_csv(io.StringIO(text), engine="python", on_bad_lines=lambda cells: cells[:width], **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise CsvUnreadable(f"{what} cannot be read: {error}.") from None
