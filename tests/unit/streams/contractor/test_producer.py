"""A CSV file as events: one JSON text per row, numbered by its line, refused rows named."""

from __future__ import annotations

import io
import json

from streams.contractor.producer import CsvLineError, csv_events


def rows(text: str) -> list:
    return [(n, json.loads(v) if isinstance(v, str) else v) for n, v in csv_events(io.StringIO(text))]


def test_cells_become_fields_of_their_type_and_empty_cells_are_absent():
    got = rows("type,hours,schema_version,criteria,siae_siret,note\n"
               "timesheet.submitted,7.5,1,,,\n"
               "beneficiary.enrolled,,1,rsa|youth,,\n"
               'timesheet.submitted,"8",x,,44306184100047,"a, b"\n')
    assert got == [(2, {"type": "timesheet.submitted", "hours": 7.5, "schema_version": 1}),
                   (3, {"type": "beneficiary.enrolled", "schema_version": 1, "criteria": ["rsa", "youth"]}),
                   (4, {"type": "timesheet.submitted", "hours": 8.0, "schema_version": "x",
                        "siae_siret": "44306184100047", "note": "a, b"})]


def test_a_number_with_too_many_digits_stays_text_for_the_contract_to_refuse():
    assert rows("hours\n7.1234567\n1e3\n") == [(2, {"hours": "7.1234567"}), (3, {"hours": "1e3"})]


def test_line_numbers_count_blank_lines_and_quoted_line_breaks():
    got = rows('type,note\n\nx,"two\nlines"\ny,z\n')
    assert [n for n, _ in got] == [4, 5]


def test_a_row_with_more_cells_than_columns_is_refused_alone():
    got = rows("type,hours\na,1\nb,2,3\nc,4\n")
    assert [n for n, _ in got] == [2, 3, 4]
    assert isinstance(got[1][1], CsvLineError) and "3 cells but the header has 2 columns" in str(got[1][1])


def test_a_column_named_twice_refuses_the_file():
    got = rows("type,hours,hours\na,1,2\n")
    assert len(got) == 1 and got[0][0] == 1 and isinstance(got[0][1], CsvLineError)


def test_a_byte_order_mark_left_on_the_header_is_dropped_and_an_empty_file_gives_nothing():
    assert rows("\ufefftype\na\n") == [(2, {"type": "a"})]
    assert rows("") == []
