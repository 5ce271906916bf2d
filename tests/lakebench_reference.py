"""Run Lakebench's own generator (``../shared/lakebench/upstream/datagen/generate.py``) the way its
pods run it (local time UTC) and write what ``generate_file_data`` returns for each case.

Usage: ``python lakebench_reference.py CASES.json OUT_DIR``; a case is a dict of ``Config``
arguments plus ``file_id`` and ``rows``. Run in a subprocess: it sets the process time zone.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "lakebench" / "upstream" / "datagen"


def main(cases_path: str, out_dir: str) -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()
    sys.path.insert(0, str(GENERATOR))
    import generate  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    for k, case in enumerate(json.loads(Path(cases_path).read_text())):
        case = dict(case)
        file_id, rows = case.pop("file_id"), case.pop("rows")
        config = generate.Config(**case)
        config.rows_per_file = rows
        # Lakebench caches its loyalty table for the process, whatever the seed: start afresh.
        generate._LOYALTY_MEMBER = generate._LOYALTY_TIER = None
        table = generate.generate_file_data(file_id, config)
        with pa.OSFile(str(Path(out_dir) / f"{k}.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)


if __name__ == "__main__":
    main(*sys.argv[1:])
