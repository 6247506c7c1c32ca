"""A batched key lookup on a SQL table through any DB-API 2 connection.

One flush of reads is one ``SELECT key, value FROM table WHERE key IN (...)``,
of writes one multi-row upsert, of deletes one ``DELETE ... WHERE key IN``;
each statement carries at most ``max_batch_size`` keys. Works with the
standard library's ``sqlite3`` (no server, nothing to install) and any DB-API
driver (the placeholder style is read from the driver's ``paramstyle``).

Invariants:
- A row whose value column is NULL is a stored None; a key without a row is
  missing. A key finds the row the database matches it with, whatever its
  Python type: ``"3"`` finds the row of ``3`` in an INTEGER column of SQLite,
  as the database's own comparison says. The rows of one ``SELECT ... IN`` are
  matched back to keys of their own type; when some key of another type is
  left without a row, a second statement tells each such key's rows apart.
- Table and column names are checked to be plain SQL identifiers: they are
  the only text put in the statements that is not a bound parameter.
- With ``commit=True`` (the default) each write statement is committed, and
  rolled back if it fails, so a failed write never leaves a transaction open.
- Under a deadline a statement may run only for the time left: on a sqlite3
  connection a progress handler interrupts it then (the connection's own
  progress handler, if any, is replaced while the statement runs); other
  drivers get the time through ``statement_timeout`` (see ``SqlStore``).
  One connection runs one statement at a time: requests are never sent
  together (no ``max_concurrency``).
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from asynq_core.lowlevel import remaining_time

from .base import GET, BatchedStore, Codec, _with_context

__all__ = ["SqlStore"]

_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")  # may name its schema
_PARAMSTYLES = ("qmark", "format", "numeric", "named", "pyformat")
# Keys per statement that tells keys of another type apart: one SELECT each,
# under SQLite's default limit of 500 in a compound SELECT.
_MAX_UNION = 250
_UPSERTS = ("on_conflict", "on_duplicate_key")
# SQLite virtual machine instructions between two looks at the clock under a deadline.
_PROGRESS_STEPS = 100


def _driver_paramstyle(connection: Any) -> str | None:
    """The ``paramstyle`` of the DB-API module that defines the connection's class."""
    module_name = type(connection).__module__
    while module_name:
        module = sys.modules.get(module_name)
        paramstyle = getattr(module, "paramstyle", None)
        if isinstance(paramstyle, str):
            return paramstyle
        module_name = module_name.rpartition(".")[0]
    return None


class SqlStore(BatchedStore):
    """Batched ``get``/``set``/``delete`` of one value column of a SQL table by its key column.

    ``connection`` is a DB-API 2 connection (e.g. ``sqlite3.connect(path)``);
    ``table``, ``key_column`` and ``value_column`` name the table and its
    columns (the key column must be unique, e.g. the primary key, for
    ``set``). ``paramstyle`` defaults to the driver's. ``upsert`` is the
    syntax of ``set``: ``"on_conflict"`` (SQLite, PostgreSQL) or
    ``"on_duplicate_key"`` (MySQL, MariaDB). Values are stored as given
    unless a ``codec`` is set (then the column holds its bytes).
    ``statement_timeout``, for drivers other than sqlite3, is called with
    the cursor before each statement: with the seconds the statement has
    under a deadline, else None (e.g. for PostgreSQL, ``SET statement_timeout``
    to that many milliseconds, or back to its default for None).
    """

    # DB-API connections are not shared between threads (sqlite3 refuses it).
    fetch_in_thread = False

    def __init__(
        self,
        connection: Any,
        table: str,
        *,
        key_column: str,
        value_column: str,
        max_batch_size: int = 400,
        paramstyle: str | None = None,
        upsert: str = "on_conflict",
        commit: bool = True,
        codec: Codec | None = None,
        statement_timeout: Callable[[Any, float | None], object] | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, codec=codec)
        if statement_timeout is not None and not callable(statement_timeout):
            raise TypeError(
                f"SqlStore(): statement_timeout must be callable, got {statement_timeout!r}"
            )
        if not callable(getattr(connection, "cursor", None)):
            raise TypeError(f"SqlStore() needs a DB-API connection, got {connection!r}")
        names = (
            ("table", table, _TABLE),
            ("key_column", key_column, _COLUMN),
            ("value_column", value_column, _COLUMN),
        )
        for what, name, pattern in names:
            if not isinstance(name, str) or not pattern.fullmatch(name):
                raise ValueError(f"SqlStore(): {what} must be a plain SQL identifier, got {name!r}")
        if paramstyle is None:
            paramstyle = _driver_paramstyle(connection)
            if paramstyle is None:
                raise ValueError(
                    f"SqlStore(): cannot tell the paramstyle of {connection!r}; "
                    f"pass paramstyle= (one of {', '.join(_PARAMSTYLES)})"
                )
        if paramstyle not in _PARAMSTYLES:
            raise ValueError(
                f"SqlStore(): paramstyle must be one of {', '.join(_PARAMSTYLES)}, "
                f"got {paramstyle!r}"
            )
        if upsert not in _UPSERTS:
            raise ValueError(f"SqlStore(): upsert must be one of {_UPSERTS}, got {upsert!r}")
        self.connection = connection
        self.table = table
        self.key_column = key_column
        self.value_column = value_column
        self.paramstyle = paramstyle
        self.upsert = upsert
        self.commit = commit
        self.statement_timeout = statement_timeout

    def _placeholders(self, values: list[Any]) -> tuple[list[str], Any]:
        """One placeholder per value, and the parameters to bind, in the driver's style."""
        style = self.paramstyle
        if style == "qmark":
            return ["?"] * len(values), values
        if style == "format":
            return ["%s"] * len(values), values
        if style == "numeric":
            return [f":{i + 1}" for i in range(len(values))], values
        names = [f"p{i}" for i in range(len(values))]
        marks = [f":{name}" if style == "named" else f"%({name})s" for name in names]
        return marks, dict(zip(names, values, strict=True))

    def _execute(self, sql: str, params: Any, *, fetch: bool = False, write: bool = False) -> Any:
        left = remaining_time()
        interrupting = left is not None and isinstance(self.connection, sqlite3.Connection)
        try:
            if interrupting:
                self.connection.set_progress_handler(_past(left), _PROGRESS_STEPS)
            cursor = self.connection.cursor()
            try:
                if self.statement_timeout is not None:
                    self.statement_timeout(cursor, left)
                cursor.execute(sql, params)
                rows = cursor.fetchall() if fetch else None
            finally:
                cursor.close()
                if interrupting:
                    self.connection.set_progress_handler(None, _PROGRESS_STEPS)
            if write and self.commit:
                self.connection.commit()
        except BaseException as error:
            if write and self.commit:
                rollback_error = self._rollback()
                # The statement's error is the one raised, telling the rollback's
                # (an interrupt, not an Exception, is raised as it is).
                if rollback_error is not None and isinstance(error, Exception):
                    raise _with_context(
                        error, f"and the rollback failed: {rollback_error!r}"
                    ) from error
            raise
        return rows

    def _rollback(self) -> Exception | None:
        """Rolls the transaction back; returns the error if that failed."""
        try:
            self.connection.rollback()
        except Exception as error:
            return error
        return None

    def _fetch(self, server: str | None, keys: list[Any]) -> Mapping[Any, Any]:
        marks, params = self._placeholders(keys)
        sql = (
            f"SELECT {self.key_column}, {self.value_column} FROM {self.table} "
            f"WHERE {self.key_column} IN ({', '.join(marks)})"
        )
        rows = self._execute(sql, params, fetch=True)
        wanted = set(keys)
        found = {}
        row_types = set()
        unclaimed = False
        for row_key, value in rows:
            row_types.add(type(row_key))
            if row_key in wanted:
                found[row_key] = value
            else:
                unclaimed = True  # matched by a key of another type ("3" for 3)
        # A key left without a row may still be one the database matched, if
        # its type is not the one the database returns ("3" and 3 asked
        # together: the one row went to 3). No row at all: every key is missing.
        unmatched = [key for key in keys if key not in found]
        if (
            unmatched
            and row_types
            and (unclaimed or any(type(key) not in row_types for key in unmatched))
        ):
            found.update(self._fetch_each(server, unmatched))
        return found

    def _fetch_each(self, server: str | None, keys: list[Any]) -> dict[Any, Any]:
        """The rows of each of ``keys`` as the database matches it: one SELECT per
        key, tagged with the key's index, joined by UNION ALL (one more request
        per ``_MAX_UNION`` keys)."""
        found = {}
        for start in range(0, len(keys), _MAX_UNION):
            chunk = keys[start : start + _MAX_UNION]
            self._announce(GET, server, chunk)
            marks, params = self._placeholders(chunk)
            sql = " UNION ALL ".join(
                f"SELECT {index}, {self.value_column} FROM {self.table} "
                f"WHERE {self.key_column} = {mark}"
                for index, mark in enumerate(marks)
            )
            for index, value in self._execute(sql, params, fetch=True):
                found[chunk[index]] = value
        return found

    def _store(self, server: str | None, values: dict[Any, Any]) -> Collection[Any]:
        flat = [part for pair in values.items() for part in pair]
        marks, params = self._placeholders(flat)
        rows = ", ".join(f"({marks[i]}, {marks[i + 1]})" for i in range(0, len(marks), 2))
        key, value = self.key_column, self.value_column
        if self.upsert == "on_conflict":
            update = f"ON CONFLICT ({key}) DO UPDATE SET {value} = excluded.{value}"
        else:
            update = f"ON DUPLICATE KEY UPDATE {value} = VALUES({value})"
        sql = f"INSERT INTO {self.table} ({key}, {value}) VALUES {rows} {update}"
        self._execute(sql, params, write=True)
        return ()

    def _remove(self, server: str | None, keys: list[Any]) -> None:
        marks, params = self._placeholders(keys)
        sql = f"DELETE FROM {self.table} WHERE {self.key_column} IN ({', '.join(marks)})"
        self._execute(sql, params, write=True)

    def _trace_label(self) -> str:
        return f"SqlStore({self.table})"

    def __repr__(self) -> str:
        return f"<SqlStore {self.table}({self.key_column} -> {self.value_column})>"


def _past(left: float | None) -> Callable[[], bool]:
    """A sqlite3 progress handler that interrupts the statement ``left``
    seconds from now."""
    until = time.monotonic() + (left or 0.0)

    def past() -> bool:
        return time.monotonic() >= until

    return past
