"""The auditor's SQL guard: one read-only statement, checked before any engine sees it.

`check_read_only(sql)` is pure (no I/O, no import of a client) so that every path that runs a
query typed by a person (`ledger sql`, the report, a future HTTP API) can call it. It returns the
statement to send, or raises `SqlRefused` saying what was refused and why.

Why a guard on top of the engine's `readonly = 1`: that setting does not cover everything. With
chDB (and clickhouse-local) `SELECT ... INTO OUTFILE` writes the file even with readonly = 1 (it is
done by the client side of the engine); `file()`, `url()`, `s3()`, `executable()`, `remote()`...
read from the file system, the network or another process, which a read-only *auditor* must not
do either. So the guard works from an allow-list:

- exactly ONE statement (trailing `;` allowed), starting with SELECT, WITH, SHOW, DESCRIBE / DESC,
  EXPLAIN or `(`;
- no `INTO` / `OUTFILE` / `INSERT` anywhere (INTO OUTFILE ... TRUNCATE / APPEND / COMPRESSION,
  INSERT INTO FUNCTION ...), no SET / SYSTEM / KILL / ... statement (they do not start with an
  allowed word);
- table functions (a call where a table is expected: after FROM, JOIN, a comma of a FROM list,
  DESCRIBE [TABLE]) only from `ALLOWED_TABLE_FUNCTIONS` (generators of rows, nothing that touches a
  file, the network or another process); functions that reach outside the engine
  (`DENIED_FUNCTIONS`: file, url, s3, remote, mysql, executable, ...) refused wherever they appear;
- a `SETTINGS` clause may only name `ALLOWED_SETTINGS` (limits); `readonly`, `allow_ddl` and any
  other setting are refused;
- no heredoc (`$$...$$`), no character outside the ones a query needs.

It tokenizes like ClickHouse's lexer: comments `-- ...`, `# ...` and (nested) `/* ... */`,
strings in '...', identifiers in "..." and `...`, with backslash escapes and doubled quotes. The
statement it returns is the original text with every comment blanked by spaces: what the engine
parses is exactly what was checked, even if the engine and the guard read a comment differently.
"""

from __future__ import annotations

from dataclasses import dataclass

# The first word of an accepted statement.
ALLOWED_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"})
# Words refused anywhere outside strings and quoted identifiers.
DENIED_WORDS = frozenset({"INTO", "OUTFILE", "INSERT"})
# Table functions allowed where a table is expected: they generate rows, nothing else.
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "numbers", "numbers_mt", "zeros", "zeros_mt", "values", "generate_series", "generateseries",
    "generaterandom", "view", "null",
})
# Functions that read or write files, reach the network or another process: refused anywhere
# (also where the guard does not recognise a table position). Compared in lower case.
DENIED_FUNCTIONS = frozenset(name.lower() for name in (
    "file", "fileCluster", "url", "urlCluster", "s3", "s3Cluster", "gcs", "oss", "cosn",
    "azureBlobStorage", "azureBlobStorageCluster", "hdfs", "hdfsCluster", "executable", "remote",
    "remoteSecure", "cluster", "clusterAllReplicas", "mysql", "postgresql", "odbc", "jdbc", "sqlite",
    "mongodb", "redis", "hive", "input", "iceberg", "icebergS3", "icebergAzure", "icebergHDFS",
    "icebergLocal", "icebergCluster", "icebergS3Cluster", "icebergAzureCluster", "icebergHDFSCluster",
    "deltaLake", "deltaLakeLocal", "deltaLakeCluster", "deltaLakeS3", "deltaLakeAzure", "hudi",
    "hudiCluster", "paimon", "paimonS3", "paimonAzure", "paimonHDFS", "paimonLocal", "ytsaurus",
    "arrowFlight", "arrowflight", "dictionary", "merge", "loop", "fuzzJSON", "fuzzQuery",
    "mergeTreeIndex", "mergeTreeProjection", "mergeTreeAnalyzeIndexes", "prometheusQuery",
    "prometheusQueryRange", "timeSeriesData", "timeSeriesTags", "timeSeriesMetrics", "kafka",
    "catboostEvaluate", "naiveBayesClassifier", "filesystemAvailable", "filesystemCapacity",
    "filesystemUnreserved", "ssh", "sleep", "sleepEachRow",
))
# Settings a query may set in its SETTINGS clause: limits on its own run, nothing else.
ALLOWED_SETTINGS = frozenset({
    "max_threads", "max_execution_time", "max_result_rows", "max_result_bytes", "result_overflow_mode",
    "max_rows_to_read", "max_bytes_to_read", "read_overflow_mode", "timeout_overflow_mode",
    "max_block_size", "join_use_nulls", "final",
})
# Functions whose arguments may hold FROM (not followed by a table there).
_FROM_IN_ARGUMENTS = frozenset({"extract", "trim", "substring", "substr", "overlay", "mid"})
# Words that end a FROM list at their depth (a comma after them is not a comma join).
_CLAUSES = frozenset({"WHERE", "PREWHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "SETTINGS", "UNION", "EXCEPT",
                      "INTERSECT", "FORMAT", "WINDOW", "QUALIFY", "SELECT", "OFFSET", "FETCH", "WITH"})
_PUNCTUATION = set("()[]{},.;:+-*/%<>=!?|^~")


class SqlRefused(ValueError):
    """The text is not one read-only statement the auditor may run; the message says why."""


class NotOneStatement(SqlRefused):
    """The text holds no statement, or more than one."""


@dataclass(frozen=True)
class Token:
    kind: str  # word, number, string, quoted (identifier in "" or ``), punct
    text: str  # as written
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def _quoted_end(text: str, i: int) -> int:
    """End (exclusive) of the quoted token starting at text[i], as ClickHouse's lexer reads it."""
    quote, n = text[i], len(text)
    i += 1
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
        elif ch == quote:
            if i + 1 < n and text[i + 1] == quote:  # '' inside '...': an escaped quote
                i += 2
            else:
                return i + 1
        else:
            i += 1
    raise SqlRefused(f"unterminated {quote}...{quote} at position {i}")


def tokenize(sql: str) -> tuple[list[Token], str]:
    """The tokens of `sql`, and the text with each comment blanked (spaces: positions unchanged)."""
    tokens: list[Token] = []
    kept: list[str] = []
    i, n, copied = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            end = n if end < 0 else end
            kept += [sql[copied:i], " " * (end - i)]
            i = copied = end
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while depth and j < n:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise SqlRefused(f"unterminated /* comment at position {i}")
            kept += [sql[copied:i], " " * (j - i)]
            i = copied = j
        elif ch in "'\"`":
            end = _quoted_end(sql, i)
            tokens.append(Token("string" if ch == "'" else "quoted", sql[i:end], i, end))
            i = end
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            tokens.append(Token("word", sql[i:j], i, j))
            i = j
        elif ch.isdigit():
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] in "_."):
                j += 1
            tokens.append(Token("number", sql[i:j], i, j))
            i = j
        elif ch in _PUNCTUATION:
            tokens.append(Token("punct", ch, i, i + 1))
            i += 1
        else:
            what = "a heredoc or parameter ($)" if ch == "$" else repr(ch)
            raise SqlRefused(f"character {what} at position {i} is not accepted in an auditor's query")
    kept.append(sql[copied:])
    return tokens, "".join(kept)


def _check_settings(tokens: list[Token]) -> None:
    """Every `SETTINGS name [= literal], ...` clause names allowed settings only.

    From SETTINGS to the end of its level (a ')' or the end, or FORMAT), the first token and every
    token after a ',' is a setting name, and so is any name followed by '='; values are literals.
    """
    for k, token in enumerate(tokens):
        if not (token.kind == "word" and token.upper == "SETTINGS"):
            continue
        name_next = True
        for j in range(k + 1, len(tokens)):
            tok = tokens[j]
            if tok.text == ")" or tok.kind == "word" and tok.upper == "FORMAT" and not name_next:
                break
            if tok.text in ("(", "[", "{"):
                raise SqlRefused("SETTINGS: values must be literals")
            followed_by_equals = j + 1 < len(tokens) and tokens[j + 1].text == "="
            if name_next or (tok.kind in ("word", "quoted") and followed_by_equals):
                if tok.kind not in ("word", "quoted"):
                    raise SqlRefused(f"SETTINGS: a setting name expected, not {tok.text!r}")
                name = tok.text.strip('`"').lower()
                if name not in ALLOWED_SETTINGS:
                    raise SqlRefused(f"SETTINGS {name} is refused: an auditor's query may only set "
                                     f"{', '.join(sorted(ALLOWED_SETTINGS))} (and runs with readonly = 1)")
            name_next = tok.text == ","
        else:
            if tokens[-1] is token:
                raise SqlRefused("SETTINGS: a setting name expected")


def _single(tokens: list[Token], text: str) -> tuple[list[Token], str]:
    """The tokens and text of the one statement (a trailing ';' dropped); refuses several or none."""
    for k, token in enumerate(tokens):
        if token.text == ";" and token.kind == "punct":
            if any(not (t.kind == "punct" and t.text == ";") for t in tokens[k + 1:]):
                raise NotOneStatement("one statement at a time: the text holds several (separated by ';')")
            tokens = tokens[:k]
            text = text[:token.start]
            break
    if not tokens:
        raise NotOneStatement("no statement given")
    return tokens, text.strip()


def check_read_only(sql: str) -> str:
    """The one read-only statement of `sql` (comments blanked, trailing ';' dropped), ready to run.

    Raises SqlRefused (NotOneStatement for zero or several statements) naming what was refused.
    Keep the engine's `readonly = 1` as well: this guard is the first line, not the only one.
    """
    tokens, text = tokenize(sql)
    tokens, statement = _single(tokens, text)
    first = tokens[0]
    if not (first.kind == "word" and first.upper in ALLOWED_STATEMENTS or first.text == "("):
        raise SqlRefused(f"only SELECT, WITH, SHOW, DESCRIBE and EXPLAIN are accepted, not {first.text!r}")

    _check_settings(tokens)
    depth = 0
    # Per open parenthesis level: a SELECT seen at this level, whether we are in its FROM list
    # (commas then separate tables), and the function whose arguments it holds (EXTRACT(x FROM d)).
    select_at, from_at, call_at = [False], [False], [""]
    table_next = first.upper in ("DESCRIBE", "DESC")
    previous: Token | None = None
    for k, token in enumerate(tokens):
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        is_call = nxt is not None and nxt.kind == "punct" and nxt.text == "("
        word = token.upper if token.kind == "word" else ""
        if word in DENIED_WORDS:
            raise SqlRefused(f"{token.text} is refused: an auditor's query writes nothing "
                             f"(no INTO OUTFILE, no INSERT)")
        if token.kind == "quoted" and is_call:
            raise SqlRefused(f"a function named by a quoted identifier ({token.text}) is refused")
        if token.kind == "word" and is_call:
            name = token.text.lower()
            if name in DENIED_FUNCTIONS:
                raise SqlRefused(f"{token.text}(...) is refused: it reaches files, the network or another "
                                 f"process (or stalls the engine)")
            if table_next and name not in ALLOWED_TABLE_FUNCTIONS:
                raise SqlRefused(f"table function {token.text}(...) is refused: only "
                                 f"{', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))} are accepted")

        # What comes next.
        table_next = False
        if token.kind == "punct" and token.text == "(":
            depth += 1
            select_at.append(False)
            from_at.append(False)
            call_at.append(previous.text.lower() if previous is not None and previous.kind == "word" else "")
        elif token.kind == "punct" and token.text == ")":
            if depth == 0:
                raise SqlRefused(f"unbalanced ')' at position {token.start}")
            depth -= 1
            select_at.pop()
            from_at.pop()
            call_at.pop()
        elif token.kind == "punct" and token.text == ",":
            table_next = from_at[depth]
        elif word == "SELECT":
            select_at[depth] = True
            from_at[depth] = False
        elif word == "JOIN":
            if previous is None or previous.upper != "ARRAY":  # ARRAY JOIN takes an array, not a table
                table_next = from_at[depth] = True
        elif word == "FROM":
            # A table follows, except in EXTRACT(YEAR FROM d), TRIM(BOTH ' ' FROM s), SUBSTRING(s FROM 2)
            if select_at[depth] or call_at[depth] not in _FROM_IN_ARGUMENTS:
                table_next = from_at[depth] = True
        elif word == "TABLE" and previous is not None and previous.upper in ("DESCRIBE", "DESC"):
            table_next = True
        elif word in _CLAUSES:
            from_at[depth] = False
        previous = token
    if depth:
        raise SqlRefused("unbalanced '(': a parenthesis is not closed")
    return statement


def one_statement(sql: str) -> str:
    """The single statement of `sql`, comments included (trailing ';' dropped); raises
    NotOneStatement if there are several or none. Semicolons in quotes and comments do not count.

    Only splits: `check_read_only` is what decides whether a statement may run.
    """
    tokens, _ = tokenize(sql)
    for k, token in enumerate(tokens):
        if token.kind == "punct" and token.text == ";":
            if any(not (t.kind == "punct" and t.text == ";") for t in tokens[k + 1:]):
                raise NotOneStatement("one statement at a time: the text holds several (separated by ';')")
            statement = sql[:token.start].strip()
            break
    else:
        statement = sql.strip()
    if not tokens or tokens[0].text == ";":
        raise NotOneStatement("no statement given")
    return statement
