"""Corpora stored as tables: a parquet file (``corpus.format = "parquet"``) or a Hugging Face
``datasets`` folder written by ``save_to_disk`` (``corpus.format = "datasets"``). Both are read
with pyarrow (a core dependency), so reading a saved dataset needs no ``datasets`` install: a
folder holds ``state.json`` naming its Arrow stream files, or, for a ``DatasetDict``,
``dataset_dict.json`` naming one sub-folder per split.

In: the path and format. Out: (row number from 1, row as a dict of JSON-safe values) pairs,
which :func:`bmembed_lab.corpus.documents_from_rows` turns into documents with the same
id / text / title fields, checks and error messages as a JSONL corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputError

FORMATS = ("parquet", "datasets")
SPLITS = ("corpus", "train")  # a DatasetDict's split read when it has several, in this order


def rows(path: Path, fmt: str):
    """(row number, row) of the table at ``path``."""
    table = read_parquet(path) if fmt == "parquet" else read_saved_dataset(path)
    for n, row in enumerate(table.to_pylist(), 1):
        yield n, {k: json_safe(v) for k, v in row.items()}


def read_parquet(path: Path):
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError("corpus.format = 'parquet' needs a parquet file", str(path),
                         "point corpus.path at a .parquet file, or set corpus.format")
    try:
        return pq.read_table(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise InputError(f"not a readable parquet file ({err})", str(path),
                         "write it again with pandas.DataFrame.to_parquet or pyarrow") from None


def read_saved_dataset(path: Path):
    """The Arrow table of a folder written by ``Dataset.save_to_disk`` (or one split of a
    ``DatasetDict``'s)."""
    import pyarrow as pa

    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
        pick = next((s for s in SPLITS if s in splits), splits[0] if len(splits) == 1 else None)
        if pick is None:
            raise InputError(f"a DatasetDict with the splits {splits} and none named "
                             f"{' or '.join(SPLITS)}", str(path),
                             "point corpus.path at the split's own folder, e.g. "
                             f"{path / splits[0]}")
        path = path / pick
    state = path / "state.json"
    if not state.is_file():
        raise InputError("corpus.format = 'datasets' needs a folder saved by "
                         "Dataset.save_to_disk (state.json missing)", str(path),
                         "save the dataset with save_to_disk, or set corpus.format")
    files = [path / f["filename"] for f in json.loads(state.read_text())["_data_files"]]
    tables = []
    for f in files:
        with pa.memory_map(str(f)) as source:
            tables.append(pa.ipc.open_stream(source).read_all())
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def json_safe(v):
    """A table cell as a value the dataset's JSONL cache can hold (dates and bytes as text)."""
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    return str(v)
