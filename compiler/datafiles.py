"""Training data files read and checked value by value: CSV tables and .npz archives of .npy arrays.

One reader for both sides: `dlc check` (compiler/data.py) runs these functions on the spec's data, and every
generated program carries a copy of them (backends/program/data.py copies them in by source), so a file that
`dlc check` accepts is exactly a file the programs can train on, and a file they refuse is refused with the
same message. Each problem is a `DataFileError` naming the file and the row and column, or the array and the
sample, and never quoting a cell: the spec chooses which file is read, and a file that is not the table or
archive it should be must not be shown.

NumPy and the standard library only, and no module-level names besides the functions themselves (the
programs copy the functions alone).
"""

import csv
import math
import zipfile

import numpy as np


class DataFileError(ValueError):
    """A data file that cannot be trained on, with a message naming where. When the file lacks a column or an
    array asked for, `missing` names it and `columns` holds the names that may be shown instead (a header
    that reads as column names, an archive's arrays), or None."""

    def __init__(self, message, missing=None, columns=None):
        super().__init__(message)
        self.missing = missing
        self.columns = columns


def column_names(header, width=64):
    """The header's fields when they read as column names (each short, printable and holding a letter), else
    None: the first line of a file that is not a table with a header is never echoed as its columns."""
    for name in header:
        name = name.strip()
        if not name or len(name) > width or not name.isprintable() or not any(c.isalpha() or c == "_" for c in name):
            return None
    return header


def read_csv_table(path, target, shown=None):
    """(features, targets, lines) of the CSV table at `path`: float32 features, one row per sample, from every
    column but `target`; the targets, as floats when every one is a number, else as texts (class names); and
    each sample's line in the file. `shown` is how messages name the file (default: `path`).

    The file must be UTF-8 text whose first line is a header of at least two fields and whose every other
    non-blank line has as many; every feature is a finite number and no cell is empty."""
    shown = shown or path
    rows, lines, reader = [], [], None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                if row:  # blank lines are skipped, as spreadsheets write them
                    rows.append(row)
                    lines.append(reader.line_num)
    except OSError as error:
        raise DataFileError(f"{shown}: cannot read: {error.strerror or type(error).__name__}") from None
    except UnicodeDecodeError as error:
        raise DataFileError(f"{shown}: not UTF-8 text (byte {error.start}), so not a CSV table") from None
    except csv.Error as error:
        raise DataFileError(f"{shown}: not a CSV table (line {reader.line_num}: {error})") from None
    if not rows:
        raise DataFileError(f"{shown}: empty; a CSV table needs a header line and a line per sample")
    header, rows, lines = rows[0], rows[1:], lines[1:]
    width = len(header)
    if width < 2:
        raise DataFileError(f"{shown}: not a CSV table of features and a target (its first line has 1 field)")
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width:
            raise DataFileError(f"{shown}: row {line} has {len(row)} fields, but the header has {width}")
    if not rows:
        raise DataFileError(f"{shown}: has a header line but no samples")
    names = column_names(header)
    if target not in header:
        raise DataFileError(f"{shown}: has no column '{target}'", target, names)
    column = header.index(target)

    def where(line, index):
        return f"{shown}: row {line}, column {index + 1}" + (f" ('{names[index].strip()}')" if names else "")

    features = np.empty((len(rows), width - 1), dtype=np.float32)
    largest = float(np.finfo(np.float32).max)  # the programs train in float32: a larger value would be inf
    for r, (row, line) in enumerate(zip(rows, lines, strict=True)):
        for i, cell in enumerate(row):
            if i == column:
                if not cell.strip():
                    raise DataFileError(f"{where(line, i)}: the target is empty")
                continue
            if not cell.strip():
                raise DataFileError(f"{where(line, i)}: empty; every feature must be a number")
            try:
                value = float(cell)
            except ValueError:
                raise DataFileError(f"{where(line, i)}: not a number; every feature must be one") from None
            if not math.isfinite(value) or abs(value) > largest:
                raise DataFileError(f"{where(line, i)}: {value}; features must be finite float32 numbers")
            features[r, i - (i > column)] = value
    texts = [row[column] for row in rows]
    try:
        targets = np.array([float(text) for text in texts], dtype=np.float64)
    except ValueError:
        return features, texts, lines  # not every target is a number: they are class names
    bad = np.flatnonzero(~finite_float32(targets))
    if bad.size:
        raise DataFileError(
            f"{where(lines[bad[0]], column)}: the target is {targets[bad[0]]}; targets must be finite float32 numbers"
        )
    return features, targets, lines


def finite_float32(array):
    """Where `array` holds a value the programs can train on: finite, and finite still as float32 (they read
    every feature and value target as float32)."""
    array = np.asarray(array)
    if array.dtype.kind != "f":
        return np.ones(array.shape, dtype=bool)
    finite = np.isfinite(array)
    if array.dtype.itemsize > 4:
        finite &= np.abs(np.where(finite, array, 0)) <= np.finfo(np.float32).max
    return finite


def read_npy_header(handle, size, shown):
    """(shape, dtype) from the .npy header that `handle` reads, for data `size` bytes long in all. A header
    that claims more values than the bytes hold (10^12 rows in a small file) is refused before anything is
    allocated for it; so is one of Python objects."""
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not one for plain numbers")
        start = handle.tell()
    except (ValueError, SyntaxError, RecursionError, MemoryError, EOFError, OSError):
        # numpy's own message would quote the file's first bytes, whatever the file is
        raise DataFileError(f"{shown}: not a .npy array (its header does not read as one)") from None
    if dtype.hasobject:
        raise DataFileError(f"{shown}: holds Python objects, not numbers")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > size - start:
        raise DataFileError(
            f"{shown}: its header claims shape {list(shape)} ({claimed:,} bytes), but it holds {size - start:,}"
        )
    return shape, dtype


def read_npz_arrays(path, keys, shown=None):
    """The arrays `keys` of the .npz archive at `path`, each checked: a zip of .npy arrays only, headers that
    the archive's sizes bear out, numbers (no objects, no text), a row per sample in every array alike, and
    no NaN or infinite values. `shown` is how messages name the file (default: `path`)."""
    shown = shown or path
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if not all(m.filename.endswith(".npy") for m in members):
                raise DataFileError(f"{shown}: not an .npz archive (it holds files that are not .npy arrays)")
            found = {m.filename[:-4]: m for m in members}
            for key in keys:
                if key not in found:
                    raise DataFileError(f"{shown}: has no array '{key}'", key, list(found))
                with archive.open(found[key]) as handle:
                    read_npy_header(handle, found[key].file_size, f"{shown}: array '{key}'")
    except (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        # RuntimeError: an encrypted member; NotImplementedError: a compression that zipfile cannot undo
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "not an .npz (zip) archive"
        raise DataFileError(f"{shown}: cannot read: {reason}") from None
    arrays = []
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in keys:
                arrays.append(archive[key])
    except MemoryError:
        raise DataFileError(f"{shown}: array '{keys[len(arrays)]}' is too large to load into memory") from None
    except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile) as error:
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise DataFileError(f"{shown}: array '{keys[len(arrays)]}' does not read ({detail})") from None
    for key, array in zip(keys, arrays, strict=True):
        if array.ndim == 0 or not len(array):
            what = "a single value" if array.ndim == 0 else "empty"
            raise DataFileError(f"{shown}: array '{key}' is {what}; it needs a row per sample")
        if array.dtype.kind not in "biuf":
            raise DataFileError(f"{shown}: array '{key}' holds {array.dtype} values, not numbers")
        if len(array) != len(arrays[0]):
            raise DataFileError(f"{shown}: array '{key}' has {len(array)} rows, but '{keys[0]}' has {len(arrays[0])}")
        finite = finite_float32(array)
        if not finite.all():
            index = tuple(int(i) for i in np.argwhere(~finite)[0])
            value = array[index]
            raise DataFileError(
                f"{shown}: array '{key}' holds {value} at sample {index[0]} (index {list(index)}); "
                "NaN and infinite values (also as float32) cannot be trained on"
            )
    return arrays
