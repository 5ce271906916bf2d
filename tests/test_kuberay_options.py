"""The ``kuberay`` options (config section and command line): each rendered where KubeRay,
Kueue and prometheus-operator read it, on every pod, validated against KubeRay's strict CRD
schemas; the secretless mode reaching S3 through a web identity; the kustomize base and overlay.

Schema checks use the KubeRay v1.7.0 CRDs in ``LAKEBENCH_KUBERAY_CRDS`` (skipped when unset, as in
test_kuberay.py). The web identity test runs a real moto server that enforces authentication.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from lakebench_ray import kuberay  # noqa: E402
from lakebench_ray.cli import main  # noqa: E402
from lakebench_ray.config import config_from_yaml  # noqa: E402
from lakebench_ray.errors import ConfigError  # noqa: E402
from lakebench_ray.kuberay.patch import merge  # noqa: E402
from lakebench_ray.kuberay.raycluster import METRICS_PORT, RAY_VERSION, ray_version_for  # noqa: E402

from .test_kuberay import CONFIG, KUBERAY_DIR, by_kind, schema_errors, validators  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
KUSTOMIZE = KUBERAY_DIR / "kustomize"

#: Every option, as the config section says it (the CLI test says the same with options).
ALL = {
    "service_account": "lakebench-writer",
    "keep_on_failure": True,
    "active_deadline_s": 7200,
    "pre_running_deadline_s": 900,
    "image_pull_secrets": ["regcred", "mirror-cred"],
    "image_pull_policy": "Always",
    "node_selector": {"node.kubernetes.io/instance-type": "m6i.4xlarge", "pool": "datagen"},
    "tolerations": ["dedicated=lakebench:NoSchedule", "spot:NoExecute"],
    "priority_class": "batch-high",
    "pod_labels": {"team": "data", "cost-center": "bench"},
    "pod_annotations": {"example.com/owner": "data platform"},
    "pod_monitor": True,
    "ray_version": "2.55.0",
}
QUEUED = {**{k: v for k, v in ALL.items() if k != "keep_on_failure"}, "queue": "team-queue"}
TOLERATIONS = [
    {"key": "dedicated", "operator": "Equal", "value": "lakebench", "effect": "NoSchedule"},
    {"key": "spot", "operator": "Exists", "effect": "NoExecute"},
]


def section_yaml(options: dict) -> str:
    return CONFIG + yaml.safe_dump({"kuberay": options}, sort_keys=False)


def render_docs(options: dict, **kwargs) -> list[dict]:
    text = section_yaml(options)
    rendered = kuberay.render_manifests(config_from_yaml(text), config_text=text, **kwargs)
    return [d for d in yaml.safe_load_all(rendered) if d]


def pods(job: dict) -> dict[str, dict]:
    """Every pod template of a RayJob: head, workers and (when rendered) the submitter."""
    spec = job["spec"]
    found = {"head": spec["rayClusterSpec"]["headGroupSpec"]["template"]}
    for group in spec["rayClusterSpec"]["workerGroupSpecs"]:
        found[group["groupName"]] = group["template"]
    if "submitterPodTemplate" in spec:
        found["submitter"] = spec["submitterPodTemplate"]
    return found


# -- every option, on every pod and on the RayJob ------------------------------------------------------


@pytest.mark.parametrize("options", [ALL, QUEUED], ids=["keep-on-failure", "queued"])
def test_all_options_validate_strictly_and_reach_every_pod(validators, options):
    docs = render_docs(options, name="bench", namespace="team")
    assert [d["kind"] for d in docs] == ["ConfigMap", "RayJob", "PodMonitor"]
    job = by_kind(docs, "RayJob")
    assert schema_errors(validators, job) == []
    templates = pods(job)
    assert set(templates) == {"head", "generators", "submitter"}
    for role, template in templates.items():
        spec, meta = template["spec"], template["metadata"]
        assert spec["serviceAccountName"] == "lakebench-writer", role
        assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror-cred"}], role
        assert spec["nodeSelector"] == options["node_selector"], role
        assert spec["tolerations"] == TOLERATIONS, role
        assert spec["priorityClassName"] == "batch-high", role
        assert {"team": "data", "cost-center": "bench"}.items() <= meta["labels"].items(), role
        assert meta["annotations"] == {"example.com/owner": "data platform"}, role
        assert {c["imagePullPolicy"] for c in spec["containers"]} == {"Always"}, role
        # Without a Secret named, no pod holds a credential variable or a Secret reference.
        for container in spec["containers"]:
            assert not [e for e in container.get("env", []) if "valueFrom" in e or e["name"].startswith("AWS_")], role
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == "2.55.0"
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        assert group["rayStartParams"]["metrics-export-port"] == str(METRICS_PORT)
        (container,) = group["template"]["spec"]["containers"]
        assert {"containerPort": METRICS_PORT, "name": "metrics"} in container["ports"]
        assert group["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == "bench"
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == 7200 and spec["preRunningDeadlineSeconds"] == 900
    assert spec["submitterPodTemplate"]["spec"]["restartPolicy"] == "Never"
    if options.get("keep_on_failure"):
        # KubeRay: deletion rules exclude shutdownAfterJobFinishes, and a TTL needs it.
        assert spec["shutdownAfterJobFinishes"] is False and "ttlSecondsAfterFinished" not in spec
        (rule,) = spec["deletionStrategy"]["deletionRules"]
        assert rule == {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 600}}
        assert "suspend" not in spec and cluster["enableInTreeAutoscaling"] is True
    else:
        # Kueue: the label on the RayJob, created suspended, a cluster of fixed size (Kueue refuses
        # autoscaling), deleted when the job ends (KubeRay suspends only such jobs).
        assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-queue"
        assert spec["suspend"] is True and spec["shutdownAfterJobFinishes"] is True
        assert cluster["enableInTreeAutoscaling"] is False and "autoscalerOptions" not in cluster
        (workers,) = cluster["workerGroupSpecs"]
        assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == 10


def test_the_command_line_options_say_what_the_config_section_says(tmp_path, capsys):
    """One home for the keys: ``--option`` layers over the file exactly as the section would."""
    plain = tmp_path / "plain.yaml"
    plain.write_text(CONFIG)
    with_section = tmp_path / "section.yaml"
    with_section.write_text(section_yaml(ALL))
    args = ["--service-account", "lakebench-writer", "--keep-on-failure", "--active-deadline", "7200",
            "--pre-running-deadline", "900", "--image-pull-secret", "regcred", "--image-pull-secret", "mirror-cred",
            "--image-pull-policy", "Always", "--node-selector", "node.kubernetes.io/instance-type=m6i.4xlarge",
            "--node-selector", "pool=datagen", "--toleration", "dedicated=lakebench:NoSchedule",
            "--toleration", "spot:NoExecute", "--priority-class", "batch-high", "--pod-label", "team=data",
            "--pod-label", "cost-center=bench", "--pod-annotation", "example.com/owner=data platform",
            "--pod-monitor", "--ray-version", "2.55.0"]
    assert main(["kuberay", "--config", str(plain), *args]) == 0
    from_options = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert main(["kuberay", "--config", str(with_section)]) == 0
    from_file = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert from_options == from_file
    assert by_kind(from_file, "RayJob")["spec"]["activeDeadlineSeconds"] == 7200
    # The ConfigMap holds the run's config: the section that shaped the pods is not in it.
    assert "kuberay" not in yaml.safe_load(by_kind(from_options, "ConfigMap")["data"]["config.yaml"])


def test_without_options_nothing_changes():
    """A section at its defaults renders what no section renders (the checked-in files' test
    pins that output itself)."""
    defaults = {f: getattr(kuberay.KubeRayOptions(), f) for f in kuberay.KubeRayOptions.__dataclass_fields__}
    assert render_docs(defaults, namespace=None)[1] == [
        d for d in yaml.safe_load_all((KUBERAY_DIR / "rayjob.yaml").read_text()) if d
    ][0]


# -- the PodMonitor ------------------------------------------------------------------------------------

_DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
_IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def test_pod_monitor_has_what_prometheus_operator_requires_and_selects_the_jobs_metrics_ports():
    docs = render_docs({"pod_monitor": True}, name="bench", namespace="team")
    monitor, job = by_kind(docs, "PodMonitor"), by_kind(docs, "RayJob")
    # The CRD (monitoring.coreos.com/v1): spec and spec.selector are required; an endpoint names
    # a container port by name; intervals are Prometheus durations.
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "PodMonitor"
    assert monitor["metadata"]["name"] == "bench" and monitor["metadata"]["namespace"] == "team"
    selector = monitor["spec"]["selector"]
    assert set(selector) <= {"matchLabels", "matchExpressions"} and selector["matchLabels"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in selector["matchLabels"].items())
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    assert endpoints
    for endpoint in endpoints:
        assert set(endpoint) <= {"port", "path", "interval", "scheme", "scrapeTimeout", "relabelings"}
        assert _IANA_SVC_NAME.match(endpoint["port"]) and len(endpoint["port"]) <= 15
        assert endpoint["path"].startswith("/") and _DURATION.match(endpoint["interval"])
    assert "namespaceSelector" not in monitor["spec"]  # its own namespace: the job's
    # It selects the Ray pods of this job, and each has the port it scrapes, which is Ray's.
    cluster = job["spec"]["rayClusterSpec"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        labels = group["template"]["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items()
        (container,) = group["template"]["spec"]["containers"]
        port = next(p for p in container["ports"] if p["name"] == endpoints[0]["port"])
        assert str(port["containerPort"]) == group["rayStartParams"]["metrics-export-port"]
    # Another run's pods are not selected.
    other = by_kind(render_docs({"pod_monitor": True}, name="other", namespace="team"), "RayJob")
    other_labels = other["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["metadata"]["labels"]
    assert not selector["matchLabels"].items() <= other_labels.items()


# -- one option at a time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image, expected",
    [
        ("lakebench-ray:0.1.0", RAY_VERSION),
        ("registry.example.com:5000/team/lakebench-ray:0.1.0", RAY_VERSION),
        ("registry.example.com/team/lakebench-ray:0.1.0-ray2.55.0", "2.55.0"),
        ("rayproject/ray:2.49.1-py311", "2.49.1"),
        ("mirror.example.com/rayproject/ray:2.52.0@sha256:" + "a" * 64, "2.52.0"),
        ("registry.example.com:5000/lakebench-ray", RAY_VERSION),
    ],
)
def test_ray_version_follows_the_image(image, expected):
    assert ray_version_for(image) == expected
    job = by_kind(render_docs({}, image=image), "RayJob")
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == expected


def test_secretless_mode_needs_a_service_account_and_a_secret_name_keeps_static_keys():
    with_secret = by_kind(render_docs({"service_account": "writer"}, secret_name="s3-keys"), "RayJob")
    for template in pods(with_secret).values():
        refs = [e["valueFrom"]["secretKeyRef"]["name"] for c in template["spec"]["containers"]
                for e in c.get("env", []) if "valueFrom" in e]
        assert template["spec"]["serviceAccountName"] == "writer"
        assert refs == [] or set(refs) == {"s3-keys"}
    head = pods(with_secret)["head"]["spec"]["containers"][0]
    assert {e["name"] for e in head["env"]} >= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    text = kuberay.render_manifests(config_from_yaml(section_yaml({"service_account": "writer"})))
    assert "secretKeyRef" not in text and "AWS_ACCESS_KEY_ID" not in text
    assert "ServiceAccount 'writer'" in text.splitlines()[1]


def test_a_patch_merges_like_kubectl_strategic_merge(tmp_path):
    patch = tmp_path / "patch.yaml"
    patch.write_text(
        "kind: RayJob\nmetadata:\n  name: lakebench-datagen\nspec:\n  rayClusterSpec:\n    headGroupSpec:\n"
        "      template:\n        spec:\n          containers:\n            - name: ray-head\n"
        "              env:\n                - name: RAY_LOG_TO_STDERR\n                  value: '1'\n"
        "            - name: sidecar\n              image: busybox:1.36\n"
        "          volumes:\n            - name: shm\n              $patch: delete\n"
        "    workerGroupSpecs:\n      - groupName: generators\n        maxReplicas: 40\n"
        "---\nkind: PodMonitor\nmetadata:\n  name: lakebench-datagen\n  labels:\n    release: prometheus\n"
    )
    docs = render_docs({"pod_monitor": True, "patch": str(patch)})
    job = by_kind(docs, "RayJob")
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert [c["name"] for c in head["containers"]] == ["ray-head", "sidecar"]
    assert head["containers"][0]["env"][-1] == {"name": "RAY_LOG_TO_STDERR", "value": "1"}
    assert head["containers"][0]["resources"]["limits"]["cpu"] == "2"  # merged, not replaced
    assert [v["name"] for v in head["volumes"]] == ["lakebench-config"]
    (workers,) = job["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    assert workers["maxReplicas"] == 40 and workers["minReplicas"] == 0
    assert by_kind(docs, "PodMonitor")["metadata"]["labels"]["release"] == "prometheus"
    # Lists without a merge key are replaced; null deletes a key; $patch: replace replaces a map.
    assert merge({"a": [1, 2], "b": 1}, {"a": [3], "b": None}, "x") == {"a": [3]}
    assert merge({"m": {"a": 1, "b": 2}}, {"m": {"$patch": "replace", "c": 3}}, "x") == {"m": {"c": 3}}


# -- bad values: one line each ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--service-account", "Writer"], "kuberay.service_account"),
        (["--active-deadline", "0"], "kuberay.active_deadline_s"),
        (["--active-deadline", "soon"], "kuberay.active_deadline_s"),
        (["--pre-running-deadline=-5"], "kuberay.pre_running_deadline_s"),
        (["--image-pull-secret", "Bad_Name"], "kuberay.image_pull_secrets[0]"),
        (["--image-pull-policy", "Sometimes"], "kuberay.image_pull_policy"),
        (["--node-selector", "pool"], "--node-selector: expected KEY=VALUE"),
        (["--node-selector", "bad key=x"], "kuberay.node_selector"),
        (["--node-selector", "pool=has space"], "kuberay.node_selector.pool"),
        (["--toleration", "dedicated=lakebench"], "kuberay.tolerations[0]"),
        (["--toleration", "dedicated:NoRun"], "must be one of NoSchedule"),
        (["--priority-class=-high"], "kuberay.priority_class"),
        (["--pod-label", "team=a/b"], "kuberay.pod_labels.team"),
        (["--pod-annotation", "no value"], "--pod-annotation: expected KEY=VALUE"),
        (["--queue", "Team_Queue"], "kuberay.queue"),
        (["--queue", "q", "--keep-on-failure"], "drop kuberay.keep_on_failure"),
        (["--patch", "does-not-exist.yaml"], "kuberay.patch"),
        (["--ray-version", "2.47.0"], "needs Ray 2.48.0 or later"),
        (["--ray-version", "latest"], "kuberay.ray_version"),
        (["--image", "rayproject/ray:2.9.3-py310"], "needs Ray 2.48.0 or later"),
        (["kuberay.node_selector.pool=true"], "quote it"),
        (["kuberay.tolerations=oops"], "kuberay.tolerations: expected a list"),
        (["--pod-annotation", "example.com/key=AKIAIOSFODNN7EXAMPLE"], "looks like an AWS access key id"),
    ],
)
def test_every_bad_option_value_is_one_line(tmp_path, capsys, args, message):
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    assert main(["kuberay", "--config", str(config), *args]) != 0
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing rendered
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err, captured.err


@pytest.mark.parametrize(
    "text, message",
    [
        ("kind: RayJob\nmetadata: {name: other}\nspec: {}\n", "patches RayJob/other, which is not rendered"),
        ("- a\n", "must be a mapping with kind and metadata.name"),
        ("kind: RayJob\nmetadata: {name: lakebench-datagen}\nspec: {$patch: merge}\n", "'$patch: merge' is not supported"),
        ("kind: RayJob\nmetadata: {name: lakebench-datagen}\n$patch: delete\n", "deletes RayJob/lakebench-datagen"),
        ("kind: [\n", "is not valid YAML"),
    ],
)
def test_a_bad_patch_file_is_one_line(tmp_path, text, message):
    patch = tmp_path / "patch.yaml"
    patch.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        render_docs({"patch": str(patch)})
    assert "\n" not in str(info.value)


# -- secretless: the pods reach S3 through their web identity ------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bGFrZWJlbmNoIn0.c2ln"


@pytest.fixture
def moto_with_auth():
    """A moto server that authenticates every request after the setup calls that make an admin
    user and a role with S3 rights: unknown keys are refused, STS's temporary keys for the role
    are accepted. moto cannot authenticate STS's unsigned AssumeRoleWithWebIdentity, so an STS
    endpoint beside it plays that part: it checks the web identity token and the role, and has
    moto's STS issue the role's temporary keys (AssumeRole, signed by the admin).

    Yields (S3 endpoint, STS endpoint, role ARN)."""
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if server is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    boto3 = pytest.importorskip("boto3")
    port = _free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="5")  # the five setup calls below
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    sts_server = None
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("moto_server exited at start")
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        setup = {"endpoint_url": url, "region_name": "us-east-1"}
        iam = boto3.client("iam", aws_access_key_id="setup", aws_secret_access_key="setup", **setup)
        allow_all = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=allow_all)
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        # The cluster's OIDC provider may assume the role; so may the admin (for the STS stand-in).
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
             "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example.com"}},
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::123456789012:user/admin"}}]}
        arn = iam.create_role(RoleName="lakebench-writer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName="lakebench-writer", PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        sts = boto3.client("sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], **setup)
        sts_server = _web_identity_sts(sts, arn)
        yield url, f"http://127.0.0.1:{sts_server.server_address[1]}", arn
    finally:
        if sts_server is not None:
            sts_server.shutdown()
            sts_server.server_close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def _web_identity_sts(sts, role_arn: str):
    """An STS endpoint answering AssumeRoleWithWebIdentity for ``role_arn`` and the expected token
    (anything else: AccessDenied), with keys from ``sts`` (moto's)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs
    from xml.sax.saxutils import escape

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
            ok = (form.get("Action") == "AssumeRoleWithWebIdentity" and form.get("RoleArn") == role_arn
                  and form.get("WebIdentityToken") == WEB_IDENTITY_TOKEN)
            if ok:
                issued = sts.assume_role(RoleArn=role_arn, RoleSessionName=form.get("RoleSessionName", "pod"))
                c = issued["Credentials"]
                body = (
                    '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    "<AssumeRoleWithWebIdentityResult><Credentials>"
                    f"<AccessKeyId>{c['AccessKeyId']}</AccessKeyId><SecretAccessKey>{escape(c['SecretAccessKey'])}"
                    f"</SecretAccessKey><SessionToken>{escape(c['SessionToken'])}</SessionToken>"
                    f"<Expiration>{c['Expiration'].strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration></Credentials>"
                    f"<AssumedRoleUser><Arn>{issued['AssumedRoleUser']['Arn']}</Arn>"
                    f"<AssumedRoleId>{issued['AssumedRoleUser']['AssumedRoleId']}</AssumedRoleId></AssumedRoleUser>"
                    "</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
                    "</AssumeRoleWithWebIdentityResponse>"
                ).encode()
                status = 200
            else:
                body = (b'<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>'
                        b"<Message>not this token or role</Message></Error><RequestId>1</RequestId></ErrorResponse>")
                status = 403
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.slow
def test_secretless_pods_reach_s3_through_their_web_identity(tmp_path, moto_with_auth):
    """The rendered pod environment holds no key; with what EKS's pod identity webhook adds to a
    pod of an IRSA ServiceAccount (a token file and a role), boto3 takes the web identity chain
    and the project's S3 store writes through STS's temporary keys, on a server that refuses
    any other key."""
    url, sts_url, role_arn = moto_with_auth
    text = CONFIG + f"s3:\n  endpoint_url: {url}\n  region: us-east-1\n" + "kuberay:\n  service_account: lakebench-writer\n"
    job = by_kind([d for d in yaml.safe_load_all(kuberay.render_manifests(config_from_yaml(text))) if d], "RayJob")
    worker = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    pod_env = {e["name"]: e["value"] for e in worker.get("env", [])}
    assert not [name for name in pod_env if name.startswith("AWS_")]
    token = tmp_path / "token"
    token.write_text(WEB_IDENTITY_TOKEN)
    # What the webhook injects (the STS endpoint is the test server's).
    identity = {"AWS_ROLE_ARN": role_arn, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token), "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_STS_REGIONAL_ENDPOINTS": "regional", "AWS_ENDPOINT_URL_STS": sts_url}
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **pod_env, **identity}
    config = tmp_path / "config.yaml"
    config.write_text(text)
    code = (
        "import sys, boto3\n"
        "from lakebench_ray.config import load_config\n"
        "from lakebench_ray.sinks import open_store\n"
        # The chain's choice, known before any request (the store's own client makes the one STS call).
        "print(boto3.Session().get_credentials().method)\n"
        "config = load_config(sys.argv[1], ['output.create_bucket=true'])\n"
        "store = open_store(**config.store_spec())\n"
        "store.preflight()\n"
        "store.put_bytes('probe/hello.txt', b'written with web identity')\n"
        "print(sorted(store.list('probe/')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(config)], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    method, listing = out.stdout.strip().splitlines()
    assert method == "assume-role-with-web-identity"
    assert "probe/hello.txt" in listing
    # The same server refuses a static key: it really checked the one the pod used.
    boto3 = pytest.importorskip("boto3")
    botocore = pytest.importorskip("botocore.exceptions")
    static = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="AKIAEXAMPLESTATICKEY", aws_secret_access_key="x" * 40)
    with pytest.raises(botocore.ClientError, match="InvalidAccessKeyId"):
        static.list_objects_v2(Bucket="bench-bronze")


# -- the Lakebench config: namespace, image, pull settings, placeholders ----------------------------------


ENDPOINT_VARIABLES = ("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def test_a_lakebench_config_gives_namespace_image_and_pull_settings(tmp_path, capsys, monkeypatch):
    lakebench = tmp_path / "lakebench.yaml"
    lakebench.write_text(
        "name: bench-deployment\n"
        "images:\n  datagen: registry.example.com/team/lakebench-ray:0.1.0\n  pull_policy: Always\n"
        "  pull_secrets: [regcred]\n"
        "platform:\n  kubernetes:\n    namespace: lakebench-prod\n"
        "  storage:\n    s3:\n      endpoint: <YOUR_S3_ENDPOINT>\n      access_key: <YOUR_S3_ACCESS_KEY>\n"
        "      secret_key: <YOUR_S3_SECRET_KEY>\n      buckets:\n        bronze: bench-bronze\n"
    )
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert main(["kuberay", "--lakebench-config", str(lakebench)]) == 0
    captured = capsys.readouterr()
    assert "warning: platform.storage.s3.endpoint: '<YOUR_S3_ENDPOINT>' is a placeholder" in captured.err
    docs = [d for d in yaml.safe_load_all(captured.out) if d]
    job = by_kind(docs, "RayJob")
    assert {d["metadata"]["namespace"] for d in docs} == {"lakebench-prod"}
    for role, template in pods(job).items():
        spec = template["spec"]
        assert spec["imagePullSecrets"] == [{"name": "regcred"}], role
        assert {(c["image"], c["imagePullPolicy"]) for c in spec["containers"]} == {
            ("registry.example.com/team/lakebench-ray:0.1.0", "Always")}, role


@pytest.mark.parametrize(
    "text, namespace",
    [
        ("name: from-name\n", "from-name"),
        ("namespace: flat-wins\nplatform:\n  kubernetes:\n    namespace: nested\n", "flat-wins"),
        ("name: n\nplatform:\n  kubernetes:\n    namespace: ''\n", "n"),
    ],
)
def test_the_namespace_is_the_one_lakebench_deploys_into(tmp_path, capsys, text, namespace):
    lakebench = tmp_path / "lakebench.yaml"
    lakebench.write_text(text + "images:\n  datagen: docker.io/sillidata/lb-datagen:latest\n")
    assert main(["kuberay", "--lakebench-config", str(lakebench)]) == 0
    captured = capsys.readouterr()
    job = by_kind([d for d in yaml.safe_load_all(captured.out) if d], "RayJob")
    assert job["metadata"]["namespace"] == namespace
    # Lakebench's own generator image has no Ray: this project's image, with a warning.
    assert pods(job)["head"]["spec"]["containers"][0]["image"] == kuberay.DEFAULT_IMAGE
    assert "Lakebench's own generator" in captured.err
    assert main(["kuberay", "--lakebench-config", str(lakebench), "--namespace", "mine"]) == 0
    assert "namespace: mine" in capsys.readouterr().out


EXAMPLES = sorted((ROOT.parent / "shared" / "lakebench" / "upstream" / "examples").glob("*.yaml"))


@pytest.mark.skipif(not EXAMPLES, reason="Lakebench's examples are not beside the checkout (../shared/lakebench)")
def test_every_lakebench_example_renders_into_its_namespace(validators, capsys, monkeypatch):
    """Placeholders (an endpoint, keys, storage classes) in all of Lakebench's examples: each
    renders, with a warning, a strictly valid RayJob in the namespace the example deploys into."""
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for example in EXAMPLES:
        assert main(["kuberay", "--lakebench-config", str(example)]) == 0, example.name
        captured = capsys.readouterr()
        docs = [d for d in yaml.safe_load_all(captured.out) if d]
        lakebench = yaml.safe_load(example.read_text())
        expected = (lakebench.get("platform", {}).get("kubernetes", {}).get("namespace") or lakebench["name"])
        assert {d["metadata"]["namespace"] for d in docs} == {expected}, example.name
        assert schema_errors(validators, by_kind(docs, "RayJob")) == [], example.name
        assert "placeholder" in captured.err, example.name


def test_a_lakebench_config_naming_no_namespace_is_one_line(tmp_path, capsys):
    lakebench = tmp_path / "lakebench.yaml"
    lakebench.write_text("platform:\n  storage:\n    s3:\n      buckets:\n        bronze: b-bronze\n")
    assert main(["kuberay", "--lakebench-config", str(lakebench)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--namespace" in err[0]
    # Lakebench's auto-name, kept beside the config once it deployed, is its namespace.
    (tmp_path / ".lakebench").mkdir()
    (tmp_path / ".lakebench" / "state.json").write_text(json.dumps({"name": "lb-20260101-120000"}))
    assert main(["kuberay", "--lakebench-config", str(lakebench)]) == 0
    assert "namespace: lb-20260101-120000" in capsys.readouterr().out


# -- kustomize ------------------------------------------------------------------------------------------

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "configMapGenerator", "patches"}


def kustomizations() -> list[Path]:
    return sorted(KUSTOMIZE.rglob("kustomization.yaml"))


def test_kustomize_base_is_the_checked_in_manifests():
    """kustomize reads no file above a base, so the base holds copies: kept identical here."""
    for name in ("configmap.yaml", "rayjob.yaml"):
        assert (KUSTOMIZE / "base" / name).read_bytes() == (KUBERAY_DIR / name).read_bytes(), name


@pytest.mark.parametrize("path", kustomizations(), ids=lambda p: str(p.parent.relative_to(KUSTOMIZE)))
def test_kustomizations_are_well_formed(validators, path):
    """Structure, without kustomize: known keys, every file and base present, patches that apply
    (RFC 6902) to the base's RayJob and leave it valid against the strict schema."""
    jsonpatch = pytest.importorskip("jsonpatch")
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and doc["kind"] == "Kustomization"
    assert set(doc) <= KUSTOMIZATION_KEYS, set(doc) - KUSTOMIZATION_KEYS
    here = path.parent
    for resource in doc.get("resources", []):
        target = (here / resource).resolve()
        assert (target / "kustomization.yaml").is_file() if target.is_dir() else target.is_file(), resource
        assert target.is_dir() or here in target.parents, f"{resource}: kustomize refuses files above the kustomization"
    for generator in doc.get("configMapGenerator", []):
        for file in generator["files"]:
            text = (here / file).read_text()
            config_from_yaml(text, str(here / file))  # a config lakebench-ray accepts
    (job,) = [d for d in yaml.safe_load_all((KUSTOMIZE / "base" / "rayjob.yaml").read_text()) if d]
    for patch in doc.get("patches", []):
        assert patch["target"] == {"kind": job["kind"], "name": job["metadata"]["name"]}
        ops = yaml.safe_load((here / patch["path"]).read_text())
        patched = jsonpatch.apply_patch(job, ops)
        assert schema_errors(validators, patched) == []
        for template in [patched["spec"]["rayClusterSpec"]["headGroupSpec"]["template"],
                         *(g["template"] for g in patched["spec"]["rayClusterSpec"]["workerGroupSpecs"])]:
            assert template["spec"]["serviceAccountName"] == "lakebench-writer"


def test_kustomize_builds_the_overlay(validators, tmp_path):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomizations are checked structurally only")
    out = subprocess.run([kubectl, "kustomize", str(KUSTOMIZE / "overlays" / "example")], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    config_map, job = by_kind(docs, "ConfigMap"), by_kind(docs, "RayJob")
    assert schema_errors(validators, job) == []
    assert {d["metadata"]["namespace"] for d in docs} == {"lakebench"}
    config = config_from_yaml(config_map["data"]["config.yaml"])
    assert config.scale == 100  # the overlay's config, mounted where the entrypoint reads it
    for template in pods(job).values():
        assert {c["image"] for c in template["spec"]["containers"]} == {"registry.example.com/team/lakebench-ray:0.1.0"}
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        assert volumes["lakebench-config"]["configMap"]["name"] == config_map["metadata"]["name"]
