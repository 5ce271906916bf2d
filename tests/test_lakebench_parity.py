"""Parity with Lakebench itself: for every upstream example config and for the cases that once
differed, ``plan --json --lakebench-config`` describes the run of the Job Lakebench renders.

Lakebench's own loader and datagen deployer render the Jobs (``render_lakebench_job.py``, in a
side environment, once for all configs); Lakebench's own generator class says how many files and
rows per file those arguments make and which dates it uses. Nothing here restates their rules.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from lakebench_ray import cli

from .lakebench_upstream import UPSTREAM, render_all, side_python

EXAMPLES = sorted((UPSTREAM / "examples").glob("*.yaml"))

#: Configs that once made another run than Lakebench's, and the forms of each setting.
CASES = {
    "target-size": "architecture: {workload: {datagen: {scale: 1, target_size: 1tb}}}",
    "file-size-floored": "architecture: {workload: {datagen: {scale: 1, file_size: 1.5mb}}}",
    "customer360": """
        architecture:
          workload:
            datagen: {scale: 1, file_size: 64mb}
            customer360: {unique_customers: 1000, date_range_days: 30, channels: [web]}
    """,
    "cycles-flat": """
        cycles: 3
        architecture: {workload: {datagen: {scale: 3, file_size: 64mb, timestamp_start: "2024-01-01",
                                            timestamp_end: "2024-12-31"}}}
    """,
    "cycles-default-dates": "architecture: {pipeline: {cycles: 2}, workload: {datagen: {scale: 1, file_size: 128mb}}}",
    "sustained-small-batch": "architecture: {pipeline: {mode: sustained}, workload: {datagen: {scale: 1, file_size: 64mb}}}",
    "sustained-continuous": """
        architecture:
          pipeline: {mode: sustained, sustained: {run_duration: 600}}
          workload: {datagen: {scale: 1, file_size: 64mb, mode: continuous}}
    """,
    "sustained-auto-large": "architecture: {pipeline: {mode: sustained}, workload: {datagen: {scale: 20}}}",
    "flat-mode-and-scale": """
        mode: sustained
        scale: 2
        architecture: {workload: {datagen: {scale: 7, mode: continuous, file_size: 256mb}}}
    """,
    "deprecated-mode-continuous": """
        architecture:
          pipeline: {mode: continuous, sustained: {run_duration: 900}}
          workload: {datagen: {scale: 1, mode: continuous, file_size: 64mb}}
    """,
    "deprecated-continuous-key": """
        architecture:
          pipeline: {mode: sustained, continuous: {run_duration: 700}}
          workload: {datagen: {scale: 1, mode: continuous, file_size: 64mb}}
    """,
    "deprecated-processing": """
        architecture:
          processing: {mode: sustained, sustained: {run_duration: 650}}
          workload: {datagen: {scale: 1, mode: continuous, file_size: 64mb}}
    """,
    "no-dates": "architecture: {workload: {datagen: {scale: 0.5, file_size: 16mb, mode: batch}}}",
    "everything-else": """
        platform:
          storage:
            s3:
              endpoint: http://minio.lab:9000
              region: eu-west-1
              path_style: false
              access_key: AK
              secret_key: SK
              buckets: {bronze: lab-bronze}
        architecture:
          pipeline: {medallion: {bronze: {path_template: raw/c360/}}}
          workload: {datagen: {scale: 4, file_size: 1gb, dirty_data_ratio: 0.2}}
    """,
    # Refused by Lakebench, so refused here too.
    "refused-cycles-sustained": "architecture: {pipeline: {mode: sustained, cycles: 2}}",
    "refused-scale": "architecture: {workload: {datagen: {scale: 0.001}}}",
    "refused-short-run": "architecture: {pipeline: {mode: sustained, sustained: {run_duration: 10}}}",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    python, why = side_python()
    if python is None:
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("lakebench-configs")
    paths = {}
    for name, text in CASES.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(f"name: {name}\n" + textwrap.dedent(text))
    for example in EXAMPLES:
        paths[example.stem] = example
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    jobs = render_all(python, list(paths.values()), env)
    return {name: (path, jobs[str(path)]) for name, path in paths.items()}


def plan_json(capsys, monkeypatch, path, cycle=None):
    for name in list(os.environ):
        if name.startswith(("AWS_", "S3_")):
            monkeypatch.delenv(name)
    argv = ["plan", "--json", "--lakebench-config", str(path)] + (["--cycle", str(cycle)] if cycle else [])
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def arguments(args: list[str]) -> dict[str, object]:
    found, i = {}, 0
    while i < len(args):
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            found[args[i][2:]], i = args[i + 1], i + 2
        else:
            found[args[i][2:]], i = True, i + 1
    return found


def test_the_examples_and_cases_are_all_rendered(rendered):
    assert len(EXAMPLES) == 11
    assert {name for name, (_, jobs) in rendered.items() if isinstance(jobs, dict)} == {
        name for name in CASES if name.startswith("refused-")
    }


@pytest.mark.parametrize("name", [e.stem for e in EXAMPLES] + [n for n in CASES if not n.startswith("refused-")])
def test_plan_is_the_run_of_the_job_lakebench_renders(rendered, capsys, monkeypatch, name):
    path, jobs = rendered[name]
    assert isinstance(jobs, list) and jobs, jobs
    for k, job in enumerate(jobs, start=1):
        code, doc, err = plan_json(capsys, monkeypatch, path, cycle=k if len(jobs) > 1 else None)
        assert code == 0, err
        plan, config, lakebench = doc["plan"], doc["config"], doc["lakebench_job"]
        args, env, generator = arguments(job["args"]), job["env"], job["generator"]
        assert plan["files"] == generator["total_files"]
        assert plan["rows_per_file"] == generator["rows_per_file"]
        assert plan["file_size_mb"] == float(args["file-size-mb"])
        assert plan["payload_kb"] == float(args["payload-kb"])
        assert plan["seed"] == int(args["seed"])
        assert plan["dirty_ratio"] == float(args["dirty-ratio"])
        assert (plan["timestamp_start"], plan["timestamp_end"]) == (generator["timestamp_start"], generator["timestamp_end"])
        assert plan["bucket"] == args["bucket"] and plan["prefix"] == str(args["prefix"]).strip("/")
        assert lakebench["target_tb"] == args["target-tb"] and lakebench["mode"] == args["mode"]
        rendered_duration = int(args["duration"]) if "duration" in args else None
        assert lakebench["duration"] == rendered_duration
        # Lakebench's generator keeps writing past the planned files only in continuous mode.
        expected = float(rendered_duration) if rendered_duration and args["mode"] == "continuous" else None
        assert plan["duration_s"] == expected
        endpoint = env["S3_ENDPOINT"]  # "" (the AWS default) or an unfilled placeholder: none here
        assert config["s3"]["endpoint_url"] == (None if endpoint.startswith("&lt;") or not endpoint else endpoint)
        assert config["s3"]["region"] == env["S3_REGION"]
        assert config["s3"]["path_style"] == (env["S3_PATH_STYLE"] == "true")
    if len(jobs) > 1:  # a multi-cycle config without --cycle: one line naming it
        code, _, err = plan_json(capsys, monkeypatch, path)
        assert code == 1 and len(err.strip().splitlines()) == 1 and "--cycle K" in err


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("refused-")])
def test_what_lakebench_refuses_is_refused_in_one_line(rendered, capsys, monkeypatch, name):
    path, jobs = rendered[name]
    assert "error" in jobs
    code, _, err = plan_json(capsys, monkeypatch, path)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_notes_and_warnings_are_one_line_each_and_plan_still_works(rendered, capsys, monkeypatch):
    code, _, err = plan_json(capsys, monkeypatch, rendered["customer360"][0])
    assert code == 0 and err.strip().splitlines() == [
        "lakebench-ray: note: architecture.workload.customer360 (channels, date_range_days, unique_customers): "
        "Lakebench does not pass these to its generator, so the files do not change"
    ]
    code, _, err = plan_json(capsys, monkeypatch, EXAMPLES[0])
    assert code == 0 and err.strip().splitlines() == [
        "lakebench-ray: warning: platform.storage.s3.endpoint: '<YOUR_S3_ENDPOINT>' is a placeholder (left out): "
        "fill it in or set S3_ENDPOINT before generating"
    ]
