"""Reading users' CSVs with pandas: the shapes spreadsheets save, and clear refusals for the rest."""

import pytest

from classifier.services.csv_tables import CsvTable, CsvUnreadable, csv_table_read


def test_headers_are_trimmed_and_lower_cased_and_rows_fit_them():
    table = csv_table_read(b" URL ,Label,\nhttp://a/1.jpg,cat,x,y\nhttp://a/2.jpg\n", what="The list")

    assert table == CsvTable(columns=["url", "label"], rows=[["http://a/1.jpg", "cat"], ["http://a/2.jpg", ""]])


def test_quoted_cells_keep_their_commas_and_line_numbers_count_blank_lines():
    table = csv_table_read(b'url,label\n\n"http://a/1,2.jpg","big, cat"\n\n', what="The list")

    assert table.cells("label") == ["", "big, cat"]
    assert [table.line(index) for index, url in enumerate(table.cells("url")) if url] == [3]
    assert table.cells("filename") == ["", ""]


@pytest.mark.parametrize(
    "raw",
    [
        "\ufeffurl;label\r\nhttp://a/é.jpg;chat\r\n".encode(),
        "url\tlabel\nhttp://a/é.jpg\tchat\n".encode(),
        "url,label\nhttp://a/é.jpg,chat\n".encode("utf-16"),
    ],
)
def test_excel_exports_are_read(raw):
    assert csv_table_read(raw, what="The list").rows == [["http://a/é.jpg", "chat"]]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"url,label\nhttp://a/caf\xe9.jpg,cat\n",
            "The list is not UTF-8 text (byte 22 cannot be read); save it as UTF-8.",
        ),
        (b"PK\x03\x04\x00\x00", "The list is not a text file (it holds binary data); save it as a CSV in UTF-8."),
        (b'url,label\n"http://a/1.jpg,cat\n', 'The list has a quote (") on line 2 that is never closed.'),
    ],
)
def test_unreadable_files_are_refused_saying_why(raw, message):
    with pytest.raises(CsvUnreadable) as caught:
        csv_table_read(raw, what="The list")

    assert str(caught.value).startswith(message)


def test_an_empty_file_has_no_columns():
    assert csv_table_read(b"  \n", what="The list") == CsvTable(columns=[], rows=[])


def test_a_row_with_a_huge_stray_cell_is_kept_not_dropped():
    huge = b"x" * 200_000
    table = csv_table_read(b"url,label\nhttp://a/1.jpg,cat," + huge + b"\nhttp://a/2.jpg,dog\n", what="The list")

    assert table.rows == [["http://a/1.jpg", "cat"], ["http://a/2.jpg", "dog"]]


def test_blank_lines_above_the_header_are_skipped_and_counted():
    table = csv_table_read(b"\n\r\nurl,label\nhttp://a/1.jpg,cat\n", what="The list")

    assert table.columns == ["url", "label"]
    assert [table.line(index) for index in range(len(table.rows))] == [4]


def test_a_line_of_thousands_of_cells_is_refused_naming_it():
    with pytest.raises(CsvUnreadable, match="more than 1,000 cells on line 3"):
        csv_table_read(b"url,label\nhttp://a/1.jpg,cat\n" + b"," * 5000 + b"\n", what="The list")
