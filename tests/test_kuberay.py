"""KubeRay manifests, the manifest renderer, and the container image build files.

Schema tests validate against the KubeRay v1.7.0 CRD schemas (strict: every object that lists
its properties refuses unknown ones) found in the directory named by ``LAKEBENCH_KUBERAY_CRDS``;
they are skipped when it is unset. Everything else runs offline with no extra setup.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shlex
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)

yaml = pytest.importorskip("yaml")

from lakebench_ray import kuberay  # noqa: E402
from lakebench_ray.config import config_from_yaml  # noqa: E402
from lakebench_ray.errors import ConfigError  # noqa: E402
from lakebench_ray.version import __version__  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KUBERAY_DIR = ROOT / "kuberay"
MANIFESTS = sorted(p.name for p in KUBERAY_DIR.glob("*.yaml"))
CRD_MANIFESTS = ["raycluster.yaml", "rayjob.yaml"]
SCHEMA_FILES = {"RayCluster": "raycluster_v1_strict.json", "RayJob": "rayjob_v1_strict.json"}
CRDS_ENV = "LAKEBENCH_KUBERAY_CRDS"

CONFIG = """\
# a comment that must survive
seed: 7
scale: 0.5
file_size_mb: 64
timestamp_start: 2024-01-01
output:
  uri: s3://bench-bronze
  prefix: customer/interactions
  create_bucket: true
ray:
  cpus_per_actor: 1
"""
CREDENTIAL_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


# -- helpers ----------------------------------------------------------------------------------


def load_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def render(text: str = CONFIG, overrides=(), **kwargs) -> str:
    """The manifests of the config ``text`` (+ ``overrides``) says, loaded as the CLI loads it;
    without overrides the ConfigMap shows ``text`` itself."""
    config = config_from_yaml(text, overrides=overrides)
    if not overrides:
        kwargs.setdefault("config_text", text)
    return kuberay.render_manifests(config, **kwargs)


def render_docs(text: str = CONFIG, **kwargs) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(render(text, **kwargs)) if doc is not None]


def by_kind(docs: list[dict], kind: str) -> dict:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


def cluster_spec(doc: dict) -> dict:
    return doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]


def containers(doc: dict) -> list[dict]:
    spec = cluster_spec(doc)
    groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
    return [c for group in groups for c in group["template"]["spec"]["containers"]]


def pod_specs(doc: dict) -> list[dict]:
    spec = cluster_spec(doc)
    return [g["template"]["spec"] for g in [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]]


def parse_quantity(value) -> int:
    return kuberay.parse_quantity("test", value)


@pytest.fixture(scope="module")
def validators():
    crds = os.environ.get(CRDS_ENV)
    if not crds:
        pytest.skip(f"{CRDS_ENV} is not set: point it at the directory holding the KubeRay CRD JSON schemas")
    jsonschema = pytest.importorskip("jsonschema")
    directory = Path(crds)
    result = {}
    for kind, name in SCHEMA_FILES.items():
        path = directory / name
        assert path.is_file(), f"{CRDS_ENV}={crds}: {name} not found there"
        schema = json.loads(path.read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        result[kind] = jsonschema.Draft7Validator(schema)
    return result


def schema_errors(validators, doc: dict, kind: str | None = None) -> list[str]:
    validator = validators[kind or doc["kind"]]
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


RENDER_VARIANTS = {
    "defaults": {},
    "no-namespace": {"namespace": None},
    "custom": {
        "name": "bench-10tb",
        "namespace": "lakebench",
        "image": "registry.example.com/team/lakebench-ray:0.1.0",
        "worker_max_replicas": 50,
        "worker_cpus": 16,
        "worker_memory": "32Gi",
        "secret_name": "my-s3",
        "overrides": ["ray.max_actors=400", "output.prefix=run 2"],
        "object_store_memory": "4Gi",
        "ca_cert_secret": "lakebench-ca-certificate",
        "backoff_limit": 0,
        "ttl_seconds_after_finished": 0,
    },
}


# -- checked-in manifests -------------------------------------------------------------------------


def test_every_manifest_is_listed():
    assert set(MANIFESTS) == {"configmap.yaml", "raycluster.yaml", "rayjob.yaml", "secret.example.yaml"}


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_a_well_formed_kubernetes_object(name):
    docs = load_docs(KUBERAY_DIR / name)
    assert len(docs) == 1, f"{name}: expected one object"
    (doc,) = docs
    assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], name
    assert isinstance(doc.get("kind"), str) and doc["kind"], name
    meta = doc.get("metadata")
    assert isinstance(meta, dict), name
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta.get("name", "")), name
    assert "namespace" not in meta, f"{name}: leave the namespace to `kubectl apply -n`"
    for value in meta.get("labels", {}).values():
        assert isinstance(value, str) and len(value) <= 63, name


@pytest.mark.parametrize("name", CRD_MANIFESTS)
def test_crd_manifest_validates_against_strict_schema(validators, name):
    (doc,) = load_docs(KUBERAY_DIR / name)
    assert doc["apiVersion"] == "ray.io/v1"
    assert schema_errors(validators, doc) == []


def test_schema_root_covers_the_whole_object(validators):
    """apiVersion, kind, metadata and spec are all checked, not only the spec."""
    (doc,) = load_docs(KUBERAY_DIR / "rayjob.yaml")
    for mutate, expected in [
        (lambda d: d.update(apiVersion="ray.io/v1alpha2"), "apiVersion"),
        (lambda d: d.update(kind="RayCluster"), "kind"),
        (lambda d: d.pop("metadata"), "metadata"),
        (lambda d: d.update(spek=d.pop("spec")), "spek"),
    ]:
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert any(expected in err for err in schema_errors(validators, bad, "RayJob")), expected


@pytest.mark.parametrize(
    "name, path, misspelled",
    [
        ("rayjob.yaml", ["spec"], "shutdownAfterJobFinish"),
        ("rayjob.yaml", ["spec", "rayClusterSpec", "workerGroupSpecs", 0], "maxReplica"),
        ("raycluster.yaml", ["spec", "headGroupSpec", "template", "spec", "containers", 0], "resource"),
        ("raycluster.yaml", ["spec", "autoscalerOptions"], "idleTimeoutSecond"),
    ],
)
def test_misspelled_field_fails_validation(validators, name, path, misspelled):
    (doc,) = load_docs(KUBERAY_DIR / name)
    assert schema_errors(validators, doc) == []
    node = doc
    for step in path:
        node = node[step]
    node[misspelled] = node.get(misspelled + "s", 1)
    errors = schema_errors(validators, doc)
    assert any(misspelled in err and "Additional properties" in err for err in errors), errors


def test_configmap_holds_a_config_yaml():
    (doc,) = load_docs(KUBERAY_DIR / "configmap.yaml")
    assert doc["apiVersion"] == "v1" and doc["kind"] == "ConfigMap"
    assert set(doc["data"]) == {"config.yaml"}
    config = yaml.safe_load(doc["data"]["config.yaml"])
    assert isinstance(config, dict) and config["output"]["uri"].startswith("s3://")


def test_secret_example_is_a_template_with_placeholders():
    text = (KUBERAY_DIR / "secret.example.yaml").read_text()
    assert "EXAMPLE ONLY" in text and "PLACEHOLDER" in text
    (doc,) = load_docs(KUBERAY_DIR / "secret.example.yaml")
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Secret" and doc["type"] == "Opaque"
    assert doc["metadata"]["name"] == kuberay.DEFAULT_SECRET_NAME
    data = doc["stringData"]
    assert {"accessKey", "secretKey"} <= set(data)
    assert all(value.startswith("REPLACE-WITH-") for value in data.values()), data


def test_manifests_read_the_example_secret_keys():
    """Required keys are in the example; optional keys are documented there and marked optional."""
    text = (KUBERAY_DIR / "secret.example.yaml").read_text()
    (secret,) = load_docs(KUBERAY_DIR / "secret.example.yaml")
    for name in CRD_MANIFESTS:
        (doc,) = load_docs(KUBERAY_DIR / name)
        for container in containers(doc):
            for env in container["env"]:
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                assert ref["name"] == secret["metadata"]["name"], (name, env)
                if ref.get("optional"):
                    assert re.search(rf"^\s*#\s*{re.escape(ref['key'])}:", text, re.M), ref["key"]
                else:
                    assert ref["key"] in secret["stringData"], ref["key"]


def test_raycluster_spec_equals_rayjob_cluster_spec():
    (cluster,) = load_docs(KUBERAY_DIR / "raycluster.yaml")
    (job,) = load_docs(KUBERAY_DIR / "rayjob.yaml")
    assert cluster["spec"] == job["spec"]["rayClusterSpec"]


def test_checked_in_configmap_and_rayjob_are_what_the_renderer_produces():
    (config_map,) = load_docs(KUBERAY_DIR / "configmap.yaml")
    (job,) = load_docs(KUBERAY_DIR / "rayjob.yaml")
    rendered = render_docs(config_map["data"]["config.yaml"], namespace=None)
    assert rendered == [config_map, job]


# -- properties every manifest (checked-in or rendered) must have ----------------------------------


def all_ray_docs() -> list[tuple[str, dict]]:
    docs = [(name, load_docs(KUBERAY_DIR / name)[0]) for name in CRD_MANIFESTS]
    for variant, kwargs in RENDER_VARIANTS.items():
        docs += [(f"rendered:{variant}", d) for d in render_docs(**kwargs) if d["kind"] == "RayJob"]
    return docs


@pytest.mark.parametrize("label, doc", all_ray_docs(), ids=lambda v: v if isinstance(v, str) else "")
def test_ray_manifest_properties(label, doc):
    spec = cluster_spec(doc)
    assert spec["rayVersion"] == kuberay.RAY_VERSION
    # Autoscaling from zero.
    assert spec["enableInTreeAutoscaling"] is True
    assert "autoscalerOptions" in spec
    (workers,) = spec["workerGroupSpecs"]
    assert workers["minReplicas"] == 0 and workers.get("replicas", 0) == 0
    assert workers["maxReplicas"] >= 1
    # The head runs no generator actor.
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    # Credentials only through secretKeyRef; no inline value looks like one.
    for container in containers(doc):
        names = {env["name"] for env in container["env"]}
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= names, label
        for env in container["env"]:
            if env["name"] in CREDENTIAL_ENV:
                assert "value" not in env and set(env["valueFrom"]) == {"secretKeyRef"}, (label, env)
        assert "envFrom" not in container
        # Requests and limits are set and equal (Ray reads CPUs from them).
        resources = container["resources"]
        assert resources["requests"] == resources["limits"], label
    # Object store in a memory-backed /dev/shm at least as large as Ray is told to use.
    for group in [spec["headGroupSpec"], workers]:
        store = int(group["rayStartParams"]["object-store-memory"])
        pod = group["template"]["spec"]
        (shm,) = [v for v in pod["volumes"] if v["name"] == "shm"]
        assert shm["emptyDir"]["medium"] == "Memory"
        assert parse_quantity(shm["emptyDir"]["sizeLimit"]) >= store
        (container,) = pod["containers"]
        assert {"name": "shm", "mountPath": "/dev/shm"} in container["volumeMounts"]
        assert parse_quantity(container["resources"]["limits"]["memory"]) > store
        # The config is mounted where the entrypoint reads it.
        (config,) = [v for v in pod["volumes"] if v["name"] == "lakebench-config"]
        assert config["configMap"]["name"].endswith("-config")
        assert any(
            m["name"] == "lakebench-config" and kuberay.CONFIG_PATH.startswith(m["mountPath"] + "/")
            for m in container["volumeMounts"]
        )
    # Worker memory covers 0.5 GiB per actor (1 CPU each) + object store + Ray.
    (worker,) = workers["template"]["spec"]["containers"]
    cpus = int(worker["resources"]["limits"]["cpu"])
    store = int(workers["rayStartParams"]["object-store-memory"])
    assert parse_quantity(worker["resources"]["limits"]["memory"]) >= cpus * (1 << 29) + store + (1 << 30)
    if doc["kind"] == "RayJob":
        job = doc["spec"]
        assert job["shutdownAfterJobFinishes"] is True
        assert "ttlSecondsAfterFinished" in job and "backoffLimit" in job
        words = shlex.split(job["entrypoint"])
        assert words[:6] == ["python", "-m", "lakebench_ray", "generate", "--config", kuberay.CONFIG_PATH]
        assert words[6] == "resume=true"


# -- the renderer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(RENDER_VARIANTS))
def test_rendered_manifests_validate_against_strict_schema(validators, variant):
    docs = render_docs(**RENDER_VARIANTS[variant])
    assert [d["kind"] for d in docs] == ["ConfigMap", "RayJob"]
    assert schema_errors(validators, by_kind(docs, "RayJob")) == []


def test_render_round_trip_keeps_the_config_verbatim():
    docs = render_docs()
    config_map, job = by_kind(docs, "ConfigMap"), by_kind(docs, "RayJob")
    assert config_map["data"] == {"config.yaml": CONFIG}
    assert config_map["metadata"]["name"] == "lakebench-datagen-config"
    assert job["metadata"]["name"] == "lakebench-datagen"
    assert config_map["metadata"]["namespace"] == job["metadata"]["namespace"] == "default"
    # The entrypoint reads exactly the file the ConfigMap is mounted as.
    assert job["spec"]["entrypoint"] == (
        "python -m lakebench_ray generate --config /etc/lakebench/config.yaml resume=true"
    )
    for pod in pod_specs(job):
        (volume,) = [v for v in pod["volumes"] if v.get("configMap")]
        assert volume["configMap"]["name"] == config_map["metadata"]["name"]
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
        directory, _, key = kuberay.CONFIG_PATH.rpartition("/")
        assert mount["mountPath"] == directory and key in config_map["data"]


@pytest.mark.parametrize(
    "config",
    [
        "output: {uri: 's3://b'}\n",
        "output:\n  uri: s3://b\n# trailing comment, no newline",
        "output:\n  uri: s3://b\n  prefix: 'trailing spaces   '\n\n\n",
        "output:\n  uri: s3://b\n  prefix: \"# not: a comment\"   \n",
    ],
)
def test_render_round_trip_of_awkward_yaml(config):
    assert by_kind(render_docs(config), "ConfigMap")["data"]["config.yaml"] == config


@pytest.mark.parametrize("prefix", ["trailing spaces   ", "# not: a comment", "'quoted'", "run 2: {x}", "null", "1e3"])
def test_the_rendered_config_loads_back_to_the_same_config(prefix):
    """Without a text to show, the ConfigMap holds the config itself, awkward strings included."""
    base = config_from_yaml(CONFIG)
    config = dataclasses.replace(base, output=dataclasses.replace(base.output, prefix=prefix))
    (config_map,) = [d for d in yaml.safe_load_all(kuberay.render_manifests(config)) if d and d["kind"] == "ConfigMap"]
    assert config_from_yaml(config_map["data"]["config.yaml"]) == config


def test_a_config_text_that_says_something_else_is_refused():
    with pytest.raises(ConfigError, match="config_text"):
        kuberay.render_manifests(config_from_yaml(CONFIG), config_text=CONFIG.replace("seed: 7", "seed: 8"))


def test_rendered_text_is_plain_yaml():
    text = render(CONFIG)
    assert "&id" not in text and "*id" not in text, "no YAML anchors in rendered manifests"
    assert text.count("\n---\n") == 2
    assert "config.yaml: |" in text, "the config is shown as a readable block"


def test_render_parameters_land_in_the_manifest():
    kwargs = RENDER_VARIANTS["custom"]
    job = by_kind(render_docs(**kwargs), "RayJob")
    assert job["metadata"] == {
        "name": "bench-10tb",
        "namespace": "lakebench",
        "labels": {
            "app.kubernetes.io/name": "lakebench-ray",
            "app.kubernetes.io/instance": "bench-10tb",
            "app.kubernetes.io/component": "datagen",
        },
    }
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["ttlSecondsAfterFinished"] == 0
    assert shlex.split(spec["entrypoint"])[6:] == ["resume=true"]
    shipped = config_from_yaml(by_kind(render_docs(**kwargs), "ConfigMap")["data"]["config.yaml"])
    assert shipped.ray.max_actors == 400 and shipped.output.prefix == "run 2"  # the ConfigMap holds them
    (workers,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert workers["maxReplicas"] == 50
    (worker,) = workers["template"]["spec"]["containers"]
    assert worker["resources"]["limits"] == {"cpu": "16", "memory": "32Gi"}
    assert workers["rayStartParams"]["object-store-memory"] == str(4 << 30)
    for container in containers(job):
        assert container["image"] == kwargs["image"]
        refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
        assert refs and {r["name"] for r in refs} == {"my-s3"}
        assert {"name": "S3_CA_CERT", "value": "/etc/ssl/lakebench/ca.crt"} in container["env"]
        ca_mount = {"name": "s3-ca", "mountPath": "/etc/ssl/lakebench", "readOnly": True}
        assert ca_mount in container["volumeMounts"]
    for pod in pod_specs(job):
        (ca,) = [v for v in pod["volumes"] if v["name"] == "s3-ca"]
        assert ca["secret"] == {
            "secretName": "lakebench-ca-certificate",
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
        }


def test_default_worker_memory_is_sized_from_cpus():
    job = by_kind(render_docs(worker_cpus=4), "RayJob")
    (worker,) = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"]
    assert worker["resources"]["limits"] == {"cpu": "4", "memory": "7Gi"}  # 4 x 1 + 2 + 1 GiB


def test_the_submitters_credentials_never_reach_a_manifest(monkeypatch, capsys, tmp_path):
    """The environment of whoever renders the manifests holds real-looking credentials; none of
    their values appears in what is rendered (API or CLI): pods get them from a Secret only."""
    from lakebench_ray.cli import main

    values = {"AWS_ACCESS_KEY_ID": "AKIAZQXW4RENDERTEST7", "AWS_SECRET_ACCESS_KEY": "wJalrXUt/K7MDENG+bPxRfiCYRENDERKEY01",
              "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjRENDERTOKEN99"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    assert main(["kuberay", "--config", str(config)]) == 0
    outputs = [capsys.readouterr().out, *(render(**kwargs) for kwargs in RENDER_VARIANTS.values())]
    assert all("kind: RayJob" in text for text in outputs)
    for text in outputs:
        for name, value in values.items():
            assert value not in text, f"{name}'s value is in a manifest"
            assert f"name: {name}" in text  # each variable is there, from a secretKeyRef


def test_credentials_in_the_config_are_refused():
    with pytest.raises(ValueError, match=re.escape("AWS access key id")) as info:
        render(CONFIG, ["output.prefix=keys/AKIAIOSFODNN7EXAMPLE"])
    assert isinstance(info.value, ConfigError)
    assert "Secret" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("endpoint", ["http://u:p@minio:9000", "https://me:pw@host"])
def test_credentials_in_the_endpoint_are_refused_when_the_config_loads(endpoint):
    """S3Options checks the endpoint as the config loads, before any manifest is rendered."""
    with pytest.raises(ConfigError, match="s3.endpoint_url: must not contain a user name or password") as info:
        render(CONFIG, [f"s3.endpoint_url={endpoint}"])
    assert "\n" not in str(info.value) and "pw" not in str(info.value) and ":p@" not in str(info.value)


@pytest.mark.parametrize("key", ["s3.access_key", "s3.secretKey", "aws_secret_access_key", "s3.session_token"])
def test_a_config_has_no_place_for_credentials(key):
    """The config has no credential keys at all: the loader refuses them before any rendering."""
    with pytest.raises(ConfigError, match=re.escape(f"unknown config key '{key}'")):
        config_from_yaml(CONFIG, overrides=[f"{key}=abc"])


@pytest.mark.parametrize(
    "config, kwargs, message",
    [
        ("- a\n- b\n", {}, "must hold a mapping"),
        ("seed: [\n", {}, "not valid YAML"),
        ("seed: 1\n", {}, "output.uri"),
        ("output:\n  uri: ./lakebench-data\n", {}, "output.uri"),
        (CONFIG, {"overrides": ["output.uri=/tmp/x"]}, "output.uri"),
        (CONFIG, {"overrides": ["ray.address=local"]}, "ray.address"),
        (CONFIG, {"overrides": ["not an override"]}, "KEY=VALUE"),
        (CONFIG + "note: 1\n", {}, "unknown config key 'note'"),
        (CONFIG, {"name": "Bad_Name"}, "name"),
        (CONFIG, {"name": "x" * 48}, "47"),
        (CONFIG, {"namespace": "-bad"}, "namespace"),
        (CONFIG, {"secret_name": ""}, "secret_name"),
        (CONFIG, {"image": "has space:1"}, "image"),
        (CONFIG, {"worker_max_replicas": 0}, "worker_max_replicas"),
        (CONFIG, {"worker_cpus": True}, "worker_cpus"),
        (CONFIG, {"worker_memory": "lots"}, "worker_memory"),
        (CONFIG, {"worker_cpus": 16, "worker_memory": "8Gi"}, "too small for 16 generator actors"),
        (CONFIG, {"object_store_memory": "100Mi"}, "object_store_memory"),
        (CONFIG + "customer_id_max: 2000000000\n", {}, "loyalty table"),
        (CONFIG, {"ca_cert_secret": "ca", "ca_cert_key": "../x y"}, "ca_cert_key"),
    ],
)
def test_bad_input_gets_a_one_line_error(config, kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        render(config, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("module", sorted(p.name for p in (ROOT / "lakebench_ray" / "kuberay").glob("*.py")))
def test_renderer_does_not_import_ray(module):
    source = (ROOT / "lakebench_ray" / "kuberay" / module).read_text()
    imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, re.M)
    assert not [name for name in imports if name.split(".")[0] in {"ray", "boto3", "omegaconf", "kubernetes"}]


# -- image build files -----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def dockerignore_allowed() -> set[str]:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore must start by excluding everything"
    return {line[1:].rstrip("/") for line in lines if line.startswith("!")}


def test_dockerignore_keeps_the_build_context_minimal():
    assert dockerignore_allowed() == {"pyproject.toml", "README.md", "lakebench_ray", "docker/entrypoint.sh"}


def test_dockerfile_copies_only_what_exists_and_is_in_the_context():
    allowed = dockerignore_allowed()
    copies = [rest for word, rest in dockerfile_instructions() if word in {"COPY", "ADD"}]
    assert copies, "the Dockerfile copies the project"
    assert not [rest for word, rest in dockerfile_instructions() if word == "ADD"], "use COPY"
    sources = set()
    for rest in copies:
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        assert len(words) >= 2, rest
        sources |= {w.rstrip("/") for w in words[:-1]}
    assert sources == allowed
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_dockerfile_installs_the_package_without_extras_on_the_pinned_ray_image():
    instructions = dockerfile_instructions()
    args = {}
    for word, rest in instructions:
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value
    (base,) = [rest for word, rest in instructions if word == "FROM"]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    assert base == f"rayproject/ray:{kuberay.RAY_VERSION}-py311"
    runs = " ".join(rest for word, rest in instructions if word == "RUN")
    assert re.search(r"pip install --no-cache-dir \. ", runs), runs
    assert "[test]" not in runs and "[report]" not in runs and "-e " not in runs


def docker_build_commands() -> list[tuple[str, str]]:
    found = []
    for doc in [ROOT / "docs" / "kuberay.md", KUBERAY_DIR / "README.md", ROOT / "Dockerfile"]:
        for line in doc.read_text().splitlines():
            match = re.search(r"docker build\s+(.*?)\s*$", line)
            if match:
                found.append((doc.name, match.group(1)))
    return found


def test_docs_docker_build_commands_match_the_dockerfile():
    commands = docker_build_commands()
    assert any(name == "kuberay.md" for name, _ in commands), "docs/kuberay.md shows how to build the image"
    images = {c["image"] for name in CRD_MANIFESTS for c in containers(load_docs(KUBERAY_DIR / name)[0])}
    assert images == {kuberay.DEFAULT_IMAGE} == {f"lakebench-ray:{__version__}"}
    for name, args in commands:
        words = shlex.split(args.split("#")[0])
        assert words[-1] == ".", f"{name}: build from the repository root (context '.'): {args}"
        assert "-f" not in words[:-1] or words[words.index("-f") + 1] == "Dockerfile", (name, args)
        assert "--build-arg" not in words, (name, args)
        tag = words[words.index("-t") + 1]
        assert tag == kuberay.DEFAULT_IMAGE or tag.endswith("/" + kuberay.DEFAULT_IMAGE), (name, tag)


# -- the `lakebench-ray kuberay` command ----------------------------------------------------------


def test_cli_renders_the_users_effective_config(validators, tmp_path, capsys):
    """Round trip through the command (its entry point, in process): the ConfigMap carries
    exactly the effective config, and loading it back gives the same configuration as the user's
    file plus overrides."""
    from lakebench_ray.cli import main
    from lakebench_ray.config import load_config

    user = tmp_path / "run.yaml"
    user.write_text("scale: 10\noutput:\n  uri: s3://bronze\nray:\n  max_actors: 64\n")
    code = main(["kuberay", "--config", str(user), "seed=7",
                 "--max-workers", "20", "--worker-cpus", "4", "--namespace", "bench"])
    out = capsys.readouterr()
    assert code == 0, out.err
    docs = [d for d in yaml.safe_load_all(out.out) if d]
    configmap, rayjob = by_kind(docs, "ConfigMap"), by_kind(docs, "RayJob")
    assert schema_errors(validators, rayjob) == []
    shipped = tmp_path / "shipped.yaml"
    shipped.write_text(configmap["data"]["config.yaml"])
    assert load_config(shipped) == load_config(user, ["seed=7"])
    assert "--config /etc/lakebench/config.yaml" in rayjob["spec"]["entrypoint"]
    workers = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    assert workers["minReplicas"] == 0 and workers["maxReplicas"] == 20
    assert rayjob["metadata"]["namespace"] == "bench"
