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
# The fast parser's words for a quoted cell that runs to the end of the file.
_UNCLOSED_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


class CsvUnreadable(ValueError):
    """The bytes are not a CSV we can read; the message names why, for the user."""


# Cells a row may have, stray ones included: a line of thousands of separators is not a table, and
# reading it as one would make every row that wide in memory.
MAX_CELLS = 1000


@dataclass(frozen=True)
class CsvTable:
    # Header names as the user wrote them, trimmed and lower-cased ("URL " → "url").
    columns: list[str]
    # Every data row, as many cells as ``columns`` (short rows padded with "", stray cells dropped).
    rows: list[list[str]]
    # Blank lines before the header, so line numbers stay the user's.
    leading_blank_lines: int = 0

    def cells(self, column: str) -> list[str]:
        """The column's cells, "" for every row when the column is absent."""
        if column not in self.columns:
            return [""] * len(self.rows)
        at = self.columns.index(column)
        return [row[at] for row in self.rows]

    def line(self, index: int) -> int:
        """The line a data row starts on as the user counts it (the header's line, then one per row; a
        quoted cell holding line breaks makes the later rows' numbers run behind)."""
        return self.leading_blank_lines + index + 2


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
    # Blank lines above the header are dropped (they would read as an empty header), and counted.
    stripped = text.lstrip("\r\n")
    leading_blank_lines = text[: len(text) - len(stripped)].count("\n")
    text = stripped
    first_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        delimiter = next((other for other in _OTHER_DELIMITERS if other in first_line), ",")
    frame = _frame_read(text, delimiter=delimiter, what=what)
    table = frame.to_numpy(dtype=object).tolist()
    if not table:
        return CsvTable(columns=[], rows=[])
    columns = ["" if pd.isna(cell) else str(cell).strip().lower() for cell in table[0]]
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
    return CsvTable(columns=columns, rows=rows, leading_blank_lines=leading_blank_lines)


def _frame_read(text: str, *, delimiter: str, what: str) -> pd.DataFrame:
    # As many columns as the widest line could have (separators inside quotes over-count, harmlessly): rows
    # with stray cells past the header's then read like the others, with pandas' fast parser, and none is
    # dropped for its width. The stray cells are cut afterwards.
    widest = max(line.count(delimiter) for line in text.splitlines()) + 1
    if widest > MAX_CELLS:
        number = next(at for at, line in enumerate(text.splitlines(), 1) if line.count(delimiter) >= MAX_CELLS)
        raise CsvUnreadable(f"{what} has more than {MAX_CELLS:,} cells on line {number}; it is not a table of rows.")
    options = {
        "sep": delimiter,
        "header": None,
        "names": range(widest),
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
        raise CsvUnreadable(f"{what} cannot be read: {error}.") from None
    except (pd.errors.EmptyDataError, ValueError) as error:
        raise CsvUnreadable(f"{what} cannot be read: {error}.") from None
