"""A stock Ray cluster: ``ray job submit --runtime-env runtime_env.yaml`` as the README documents it.

The head runs from a virtual environment holding only ``ray[default]`` and its dependencies (what
a stock Ray install has; none of this project's dependencies, nor the project). The job's own
environment gets the rest from ``runtime_env.yaml``. The tests stay on the loopback: pip in the
job's environment installs from a local wheel directory built here from the installed
distributions (``PIP_NO_INDEX``/``PIP_FIND_LINKS`` in the head's environment), not from an index.
The head runs with ``--block`` in its own process group, and only that group is stopped.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from lakebench_ray import layout

from .helpers import ROOT
from .rayhead import job_client, stop_group

pytestmark = pytest.mark.slow
PACKAGING = pytest.importorskip("packaging.requirements")


def _closure(names: list[str]) -> set[str]:
    """Installed distributions needed by ``names`` (``"ray[default]"`` style), recursively."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = [Requirement(n) for n in names]
    found: set[str] = set()
    for _ in range(10_000):
        if not todo:
            break
        req = todo.pop()
        extras = tuple(sorted(req.extras))
        key = canonicalize_name(req.name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        dist = md.distribution(req.name)
        found.add(key)
        for text in dist.requires or []:
            sub = Requirement(text)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append(sub)
    return found


def _site_entries(name: str) -> set[str]:
    """Top-level names a distribution installed into site-packages (packages, modules, dist-info)."""
    dist = md.distribution(name)
    tops = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first != ".." and not first.startswith("__pycache__"):
            tops.add(first)
    return tops


def _wheel_from_installed(name: str, out: Path) -> Path:
    """A wheel of an installed distribution (its files in site-packages, no scripts)."""
    dist = md.distribution(name)
    base = Path(dist.locate_file(""))
    info = next(p for p in {f.parts[0] for f in dist.files} if p.endswith(".dist-info"))
    norm = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    path = out / f"{norm}-{dist.version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as whl:
        for file in dist.files:
            rel = file.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue
            if rel.startswith(info + "/") and rel.split("/", 1)[1] in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                continue
            data = (base / rel).read_bytes()
            whl.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append((rel, f"sha256={digest}", str(len(data))))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerows(records + [(f"{info}/RECORD", "", "")])
        whl.writestr(f"{info}/RECORD", buf.getvalue())
    return path


@pytest.fixture(scope="module")
def stock_head(tmp_path_factory):
    """A Ray head from a virtual environment with only ray[default], in its own process group."""
    from packaging.utils import canonicalize_name

    import ray

    ray.shutdown()  # no driver of this test process stays attached to another Ray
    work = Path(tempfile.mkdtemp(prefix="lbstock-", dir="/tmp"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=180)
    site = next(venv.glob("lib/python*/site-packages"))
    stock = _closure(["ray[default]"])
    for name in stock:
        base = Path(md.distribution(name).locate_file(""))
        for top in _site_entries(name):
            if (base / top).exists() and not (site / top).exists():
                (site / top).symlink_to(base / top)
    (venv / "bin" / "ray").write_text(f"#!{venv}/bin/python\nimport sys\nfrom ray.scripts.scripts import main\nsys.exit(main())\n")
    (venv / "bin" / "ray").chmod(0o755)
    check = subprocess.run([str(venv / "bin" / "python"), "-c", "import ray, importlib.util as u; "
                            "print(ray.__version__, [m for m in ('omegaconf', 'pyarrow', 'numpy', 'boto3', 'lakebench_ray') if u.find_spec(m)])"],
                           capture_output=True, text=True, timeout=120, cwd=work)
    assert check.returncode == 0, check.stderr
    assert check.stdout.split(" ", 1)[1].strip() == "[]", f"the stock environment holds more than Ray: {check.stdout}"

    # The job's pip installs these (runtime_env.yaml's list and what it needs, less what Ray has).
    wanted = yaml.safe_load((ROOT / "runtime_env.yaml").read_text())["pip"]
    wheels = work / "wheels"
    wheels.mkdir()
    for name in sorted(_closure(wanted) - stock):
        _wheel_from_installed(name, wheels)
    assert any(wheels.glob("omegaconf-*.whl")) and any(wheels.glob("pyarrow-*.whl"))

    import socket

    # Every port the head opens is chosen here: Ray's fixed defaults (agent 52365, client 10001)
    # may be taken by another Ray on the machine, and its job agent would then never come up.
    sockets = [socket.socket() for _ in range(7)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        ports = [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(PATH=f"{venv}/bin:{os.environ.get('PATH', '')}", RAY_TMPDIR=str(work / "ray"),
               PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_CONSTRAINT="", PIP_EXTRA_INDEX_URL="",
               PIP_DISABLE_PIP_VERSION_CHECK="1", RAY_USAGE_STATS_ENABLED="0")
    (work / "ray").mkdir()
    log = open(work / "head.log", "w")
    head = subprocess.Popen(
        [str(venv / "bin" / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={ports[0]}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={ports[1]}", f"--dashboard-agent-listen-port={ports[2]}",
         f"--dashboard-agent-grpc-port={ports[3]}", f"--ray-client-server-port={ports[4]}",
         f"--metrics-export-port={ports[5]}", f"--runtime-env-agent-port={ports[6]}",
         "--num-cpus=2", "--include-dashboard=true", "--disable-usage-stats"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=work,
    )
    address = f"http://127.0.0.1:{ports[1]}"
    try:
        deadline = time.monotonic() + 120
        while True:  # asked from this process (see job_client), not by a `ray job list` process a second
            if head.poll() is not None:
                raise AssertionError(f"ray start exited {head.returncode}: {(work / 'head.log').read_text()[-3000:]}")
            try:
                job_client(address).list_jobs()
                break
            except Exception as exc:  # noqa: BLE001 - not up yet: connection refused, HTTP errors
                if time.monotonic() > deadline:
                    raise AssertionError(f"the head did not answer in 120 s: {exc}") from None
            time.sleep(0.5)
        yield address, env, venv, work
    except BaseException:
        print(head_logs(work))
        raise
    finally:
        stop_group(head)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def head_logs(work: Path) -> str:
    """The tail of the head's own log and of its job agent's, for a failure message."""
    parts = [f"head log:\n{(work / 'head.log').read_text()[-2000:]}"]
    for path in sorted((work / "ray").glob("session_*/logs/dashboard_agent*.log"))[-2:]:
        parts.append(f"{path.name}:\n{path.read_text()[-2000:]}")
    return "\n".join(parts)


def documented_submit_command() -> list[str]:
    """The ``ray job submit`` line of the README's "On a cluster" section, words split."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### On a cluster", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    line = block.replace("\\\n", " ")
    words = line.split()
    assert words[:3] == ["ray", "job", "submit"] and "--runtime-env" in words, words
    return words


@pytest.mark.timeout(1200)
def test_job_submitted_to_a_stock_cluster_succeeds(stock_head, tmp_path):
    address, env, venv, work = stock_head
    out = tmp_path / "bronze"
    words = documented_submit_command()
    words[words.index("--address") + 1] = address
    # The documented run, made small: the same generate command with test-sized overrides.
    generate = words.index("generate")
    words = words[: generate + 1] + [f"output.uri={out}", "num_files=3", "file_size_mb=2", "payload_kb=1", "progress=false"]
    words = words[:3] + ["--no-wait"] + words[3:]
    deadline = time.monotonic() + 300
    for _ in range(60):  # the head's job agent starts a little after its dashboard answers
        try:
            result = subprocess.run(words, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
        except subprocess.TimeoutExpired:
            continue
        if result.returncode == 0 or "No available agent" not in result.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert result.returncode == 0, result.stdout + result.stderr + head_logs(work)
    job_id = next(w.strip("'\".,") for w in (result.stdout + result.stderr).split() if w.strip("'\"").startswith("raysubmit_"))
    client = job_client(address)  # status and logs from this process, not a `ray job status` a second
    status = None
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        status = client.get_job_status(job_id)
        if status.is_terminal():
            break
        time.sleep(0.25)
    status = status and status.value
    logs = client.get_job_logs(job_id)
    assert status == "SUCCEEDED", f"{client.get_job_info(job_id).message}\n{logs[-4000:]}"
    files = sorted(p.name for p in (out / "customer" / "interactions").glob("part-*.parquet"))
    assert files == [f"part-{i:06d}.parquet" for i in range(3)]
    report = json.loads((out / layout.report_key("customer/interactions")).read_text())
    assert report["files_written"] == 3
    assert "done: 3 files written" in logs
