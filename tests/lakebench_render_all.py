"""Run in the side environment (tests/lakebench_upstream.py), never imported by the tests.

    python lakebench_render_all.py RENDER_SCRIPT DATAGEN_DIR CONFIG...

prints {config: render_lakebench_job's result}, adding to each Job what Lakebench's generator
(DATAGEN_DIR/generate.py, its own Config class) makes of the Job's arguments: total files, rows
per file and the date range it uses when the Job passes none.
"""

import importlib.util
import json
import sys


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def arguments(args):
    """--name value pairs (and bare flags) of a Job's args."""
    found, i = {}, 0
    while i < len(args):
        name = args[i][2:].replace("-", "_")
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            found[name], i = args[i + 1], i + 2
        else:
            found[name], i = True, i + 1
    return found


def main():
    render = load("render_lakebench_job", sys.argv[1]).render
    generator = load("lakebench_generate", f"{sys.argv[2]}/generate.py")
    out = {}
    for path in sys.argv[3:]:
        jobs = render(path)
        if isinstance(jobs, list):
            for job in jobs:
                a = arguments(job["args"])
                dates = {k: a[k] for k in ("timestamp_start", "timestamp_end") if k in a}
                config = generator.Config(target_tb=float(a["target_tb"]), file_size_mb=int(a["file_size_mb"]), **dates)
                job["generator"] = {
                    "total_files": config.total_files,
                    "rows_per_file": config.rows_per_file,
                    "timestamp_start": config.timestamp_start.date().isoformat(),
                    "timestamp_end": config.timestamp_end.date().isoformat(),
                }
        out[path] = jobs
    print(json.dumps(out))


if __name__ == "__main__":
    main()
