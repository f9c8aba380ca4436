"""The auditor's SQL guard (streams.audit.sql_guard.check_read_only): what it accepts and what it refuses.

Every write form found against chDB with readonly = 1 (INTO OUTFILE ...), every function that
reaches a file, the network or another process, settings overrides, several statements, and
comments or strings that try to hide a keyword from the guard.
"""

from __future__ import annotations

import re

import pytest

from streams.settings import REPO_ROOT
from streams.audit.sql_guard import NotOneStatement, SqlRefused, check_read_only, one_statement, tokenize

ACCEPTED = [
    "SELECT 1",
    "select 1;",
    "SELECT 1 ;;  ",
    "SELECT count() FROM ledger_entries FINAL",
    "WITH t AS (SELECT contract_id FROM contract_progress) SELECT * FROM t",
    "SELECT * FROM contract_trajectory WHERE status IN ('behind', 'at_risk') ORDER BY gap",
    "SELECT ';' AS s, 'INTO OUTFILE' AS t, `into` FROM x -- INTO OUTFILE\n",
    "SELECT \"file\" FROM t",  # a column named file
    "SELECT * FROM numbers(10)",
    "SELECT * FROM numbers(3) AS a, zeros(2) AS b",
    "SELECT * FROM values('x UInt8', 1, 2)",
    "SELECT number FROM system.numbers LIMIT 3",
    "SELECT name FROM system.tables WHERE database = currentDatabase()",
    "SELECT extract(YEAR FROM toDate('2024-01-01')), trim(BOTH ' ' FROM ' a '), substring('abc' FROM 2)",
    "SELECT x FROM t ARRAY JOIN arrayMap(y -> y + 1, [1, 2]) AS x",
    "SELECT * FROM a LEFT JOIN (SELECT * FROM b) AS c ON c.id = a.id",
    "SELECT 1 SETTINGS max_threads = 1, max_execution_time = 10",
    "SELECT 1 SETTINGS max_threads = 1 FORMAT TabSeparated",
    "SHOW TABLES",
    "SHOW CREATE TABLE ledger_entries",
    "DESCRIBE TABLE ledger_entries",
    "DESC ledger_entries",
    "EXPLAIN SELECT 1",
    "(SELECT 1) UNION ALL (SELECT 2)",
    "SELECT 'it''s', 'a\\'b', \"we\"\"ird\" FROM t",
    "SELECT /* nested /* comment */ still comment */ 1",
    "SELECT getSetting('readonly')",
    "SELECT 1 # a comment\n",
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_read_only_statements_are_accepted(sql):
    statement = check_read_only(sql)
    assert statement and not statement.endswith(";")


def test_comments_are_blanked_in_the_statement_sent_so_the_engine_parses_what_was_checked():
    def sent(sql):
        return " ".join(check_read_only(sql).split())

    assert sent("SELECT 1 -- INTO OUTFILE 'x'\n;") == "SELECT 1"
    assert sent("SELECT /* a */ 1 # b\n FROM t") == "SELECT 1 FROM t"
    assert check_read_only("SELECT '-- not a comment' AS s") == "SELECT '-- not a comment' AS s"
    # A nested comment the engine might close earlier than the guard: nothing of it is sent.
    assert sent("SELECT /* /* */ INTO OUTFILE 'x' */ 1") == "SELECT 1"


def test_every_query_of_the_auditing_guide_and_of_the_report_is_accepted():
    blocks = re.findall(r"```sql\n(.*?)```", (REPO_ROOT / "docs" / "auditing.md").read_text(), re.S)
    assert len(blocks) >= 6
    for block in blocks:
        check_read_only(block)
    source = (REPO_ROOT / "streams" / "audit" / "report_html.py").read_text()
    for query in re.findall(r'"""\s*(SELECT.*?)"""', source, re.S) + re.findall(r'"(SELECT [^"]*)"', source):
        check_read_only(query)


REFUSED = {
    # Writing files
    "into outfile": "SELECT 1 INTO OUTFILE '/tmp/x.sql'",
    "into outfile truncate": "SELECT 1 INTO OUTFILE '/store/metadata/insertion/rejections.sql' TRUNCATE",
    "into outfile append": "SELECT 1 INTO OUTFILE '/tmp/x' APPEND",
    "into outfile compression": "SELECT 1 INTO OUTFILE '/tmp/x.gz' COMPRESSION 'gzip'",
    "into outfile format": "SELECT * FROM t INTO OUTFILE '/tmp/x' FORMAT CSV",
    "into outfile lower case": "select 1 into outfile '/tmp/x'",
    "into outfile after a subquery": "SELECT * FROM (SELECT 1) INTO OUTFILE '/tmp/x'",
    "show into outfile": "SHOW TABLES INTO OUTFILE '/tmp/x'",
    "insert": "INSERT INTO rejections VALUES (1)",
    "insert into function": "INSERT INTO FUNCTION file('/tmp/x', 'CSV') SELECT 1",
    "with insert": "WITH 1 AS x INSERT INTO t SELECT x",
    # Functions that touch files, the network, another process
    "file": "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "file scalar": "SELECT file('/etc/passwd')",
    "file upper case": "SELECT * FROM FILE('/etc/passwd')",
    "url": "SELECT * FROM url('http://169.254.169.254/', 'RawBLOB')",
    "s3": "SELECT * FROM s3('https://bucket/x.csv')",
    "executable": "SELECT * FROM executable('sh -c id', 'TSV', 'x String')",
    "remote": "SELECT * FROM remote('10.0.0.1', system.one)",
    "remoteSecure": "SELECT * FROM remoteSecure('10.0.0.1', default.t)",
    "mysql": "SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')",
    "postgresql": "SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')",
    "hdfs": "SELECT * FROM hdfs('hdfs://h/x', 'TSV', 'x String')",
    "in a join": "SELECT * FROM t JOIN url('http://x/', 'CSV') AS u ON 1",
    "in a comma join": "SELECT * FROM numbers(1) AS n, file('/etc/passwd') AS f",
    "in a subquery": "SELECT * FROM t WHERE x IN (SELECT * FROM s3('https://x'))",
    "in a cte": "WITH f AS (SELECT * FROM file('x')) SELECT * FROM f",
    "table function not allowed": "SELECT * FROM someNewTableFunction('x')",
    "describe a table function": "DESCRIBE TABLE file('/etc/passwd')",
    "desc a table function": "DESC url('http://x/')",
    "quoted function name": "SELECT * FROM `file`('/etc/passwd')",
    "double-quoted function name": "SELECT \"file\"('/etc/passwd')",
    "function hidden by a comment": "SELECT * FROM file/**/('/etc/passwd')",
    # Statements that are not reads
    "system": "SYSTEM SHUTDOWN",
    "system reload": "SYSTEM RELOAD CONFIG",
    "kill": "KILL QUERY WHERE 1",
    "set": "SET readonly = 0",
    "alter": "ALTER TABLE ledger_entries DELETE WHERE 1",
    "drop": "DROP TABLE rejections",
    "create": "CREATE TABLE x (a UInt8) ENGINE = Memory",
    "truncate": "TRUNCATE TABLE rejections",
    "optimize": "OPTIMIZE TABLE ledger_entries FINAL",
    "backup": "BACKUP TABLE t TO File('/tmp/b')",
    "use": "USE system",
    "grant": "GRANT ALL ON *.* TO auditor",
    # Settings overrides
    "settings readonly": "SELECT 1 SETTINGS readonly = 0",
    "settings readonly second": "SELECT 1 SETTINGS max_threads = 1, readonly = 0",
    "settings quoted": "SELECT 1 SETTINGS `readonly` = 0",
    "settings in a subquery": "SELECT * FROM (SELECT 1 SETTINGS readonly = 0)",
    "settings other": "SELECT 1 SETTINGS allow_ddl = 1",
    "settings introspection": "SELECT 1 SETTINGS allow_introspection_functions = 1",
    "settings expression": "SELECT 1 SETTINGS max_threads = (1), readonly = 0",
    "settings bare": "SELECT 1 SETTINGS",
    # Several statements, hidden keywords
    "two statements": "SELECT 1; SELECT 2",
    "a drop after": "SELECT 1; DROP TABLE rejections",
    "after a string with a semicolon": "SELECT ';'; DROP TABLE t",
    "after a comment": "SELECT 1 /* ; */; DROP TABLE t",
    "escaped quote": "SELECT 'a\\'; INTO OUTFILE '/tmp/x'",
    "doubled quote": "SELECT 'a'''; INSERT INTO t VALUES (1)",
    "newline ends a -- comment": "SELECT 1 -- a comment\nINTO OUTFILE '/tmp/x'",
    "newline ends a # comment": "SELECT 1 # a comment\nINTO OUTFILE '/tmp/x'",
    "comment between into and outfile": "SELECT 1 INTO/**/OUTFILE '/tmp/x'",
    "heredoc": "SELECT $$ ' $$ INTO OUTFILE '/tmp/x' --'",
    "tagged heredoc": "SELECT $a$ ' $a$ INTO OUTFILE '/tmp/x'",
    "unterminated string": "SELECT 'abc",
    "unterminated comment": "SELECT 1 /* INTO OUTFILE",
    "unterminated identifier": "SELECT `abc",
    "backslash outside strings": "SELECT 1 \\ INTO",
    "unbalanced": "SELECT (1",
    "empty": "",
    "only a semicolon": " ; ",
    "only a comment": "-- nothing\n",
    "leading comment hides nothing": "/* SELECT */ DROP TABLE t",
}


@pytest.mark.parametrize("sql", REFUSED.values(), ids=REFUSED.keys())
def test_writes_file_and_network_access_settings_and_several_statements_are_refused(sql):
    with pytest.raises(SqlRefused) as refused:
        check_read_only(sql)
    assert str(refused.value)


def test_several_statements_are_refused_as_not_one_statement():
    for sql in ("SELECT 1; SELECT 2", "", " ; ", "-- only a comment"):
        with pytest.raises(NotOneStatement):
            check_read_only(sql)


def test_the_refusal_says_what_and_why():
    with pytest.raises(SqlRefused, match="INTO is refused"):
        check_read_only("SELECT 1 INTO OUTFILE 'x'")
    with pytest.raises(SqlRefused, match=r"file\(\.\.\.\) is refused"):
        check_read_only("SELECT * FROM file('x')")
    with pytest.raises(SqlRefused, match="SETTINGS readonly is refused"):
        check_read_only("SELECT 1 SETTINGS readonly = 0")
    with pytest.raises(SqlRefused, match="only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN"):
        check_read_only("SYSTEM SHUTDOWN")


def test_one_statement_keeps_its_semantics():
    assert one_statement("SELECT ';' AS s -- ; here\n;  ") == "SELECT ';' AS s -- ; here"
    assert one_statement("SELECT `a;b` FROM t /* ; */") == "SELECT `a;b` FROM t /* ; */"
    for bad in ("SELECT 1; SELECT 2", "SELECT 1; DROP TABLE ledger_entries", " ; ", ""):
        with pytest.raises(NotOneStatement):
            one_statement(bad)


def test_tokens_of_strings_identifiers_and_comments():
    tokens, text = tokenize("SELECT 'a''b' AS `c``d`, \"e\\\"f\" -- x\n/* y /* z */ */ # w")
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "SELECT"), ("string", "'a''b'"), ("word", "AS"), ("quoted", "`c``d`"), ("punct", ","),
        ("quoted", '"e\\"f"')]
    assert "--" not in text and "/*" not in text and "#" not in text
