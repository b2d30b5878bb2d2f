"""Headerless numeric CSV files (gzip allowed), read fast and explained when they are bad."""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from ..errors import UserError


def read_numeric_csv(path: Union[str, Path], n_cols: int, layout: str) -> np.ndarray:
    """The file as float32 (rows, ``n_cols``); ``layout`` says what the columns are, for
    the error that names the file, the row and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        table = pd.read_csv(path, header=None, dtype=np.float32, engine="c").to_numpy()
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as e:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if not found:
            raise UserError(f"{path}: not a readable CSV ({str(e).strip()})") from None
        raise UserError(
            f"{path}: row {found.group(2)} has {found.group(3)} columns; expected {n_cols} ({layout})"
        ) from None
    except (EOFError, zlib.error) as e:
        raise UserError(f"{path}: damaged or truncated gzip ({e})") from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: {non_utf8_line(path)}; expected {n_cols} comma-separated numbers a row ({layout})"
        ) from None
    except ValueError:
        raise UserError(f"{path}: {_first_non_numeric(path)}") from None
    except OSError as e:  # gzip.BadGzipFile among them
        raise UserError(f"{path}: damaged or truncated gzip ({e})") from None
    if table.shape[1] != n_cols:
        raise UserError(f"{path}: row 1 has {table.shape[1]} columns; expected {n_cols} ({layout})")
    missing = np.isnan(table).any(axis=1)
    if missing.any():
        row = int(np.argmax(missing)) + 1
        raise UserError(f"{path}: {_short_row(path, row, len(table), n_cols, layout)}")
    infinite = np.isinf(table)
    if infinite.any():  # "inf" parses as a number, and a trial would train on it to a NaN loss
        row, col = (int(i) + 1 for i in np.argwhere(infinite)[0])
        raise UserError(
            f"{path}: row {row}, column {col}: an infinite value ({table[row - 1, col - 1]:g}); "
            f"expected a finite number in each of the {n_cols} columns ({layout})"
        )
    return table


def _lines(path: Path):
    """The file's lines as bytes, gunzipped where it is gzip (told by content)."""
    with open(path, "rb") as f:
        zipped = f.read(2) == b"\x1f\x8b"
    with (gzip.open if zipped else open)(path, "rb") as f:
        yield from f


def non_utf8_line(path: Path) -> str:
    """Only on the failure path: which line is not UTF-8, for the error message."""
    try:
        for n, line in enumerate(_lines(path), 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return f"line {n} is not UTF-8 text (byte 0x{line[e.start]:02x} at character {e.start + 1})"
    except (OSError, EOFError, zlib.error):
        pass
    return "not UTF-8 text"


def _short_row(path: Path, row: int, rows: int, n_cols: int, layout: str) -> str:
    """Only on the failure path: a row with a NaN is a short row (pandas pads it) or an empty cell."""
    non_blank = (line for line in _lines(path) if line.strip())
    cells = (
        next((line for n, line in enumerate(non_blank, 1) if n == row), b"")
        .decode("utf-8", "replace")
        .strip()
        .split(",")
    )
    if len(cells) < n_cols:
        hint = "; the file looks truncated" if row == rows else ""
        return f"row {row} has {len(cells)} columns; expected {n_cols} ({layout}){hint}"
    col = next((i for i, c in enumerate(cells, 1) if c.strip().lower() in ("", "nan")), None)
    where = f", column {col}" if col else ""
    return f"row {row}{where}: an empty or NaN value; expected a number in each of the {n_cols} columns ({layout})"


def _first_non_numeric(path: Path) -> str:
    """Only on the failure path: read as text to say which cell is not a number."""
    cells = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, engine="c")
    for col in cells.columns:
        parsed = pd.to_numeric(cells[col], errors="coerce")
        bad = parsed.isna() & ~cells[col].str.strip().str.lower().isin(["", "nan"])
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            return f"row {row + 1}, column {col + 1}: {cells[col].iloc[row]!r} is not a number"
    return "holds a value that is not a number"
