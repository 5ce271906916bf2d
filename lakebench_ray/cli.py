"""Command line: ``lakebench-ray {generate,plan,sample,...} [--config FILE] [KEY=VALUE ...]``.

User errors print one line on stderr and exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import LakebenchError, UsageError

EXIT_FAILED = 1
EXIT_USAGE = 2


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE", help="YAML config file (see configs/default.yaml)")
    parser.add_argument("--lakebench-config", metavar="FILE",
                        help="a Lakebench config: its S3 settings, bronze bucket and path, scale, file size, "
                             "dirty ratio and dates (after --config, before KEY=VALUE)")
    parser.add_argument("--cycle", type=int, metavar="K",
                        help="with a Lakebench config of N cycles: the K-th cycle's Job (1 to N)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. scale=10 output.uri=s3://bucket")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lakebench-ray",
        description="Generate the Lakebench Customer360 bronze dataset (Snappy Parquet) on Ray.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gen = sub.add_parser("generate", help="generate the dataset (local Ray or a cluster)")
    _config_args(gen)
    plan = sub.add_parser("plan", help="print files, rows, bytes and the effective config; for S3, what the store "
                          "enforces (probe keys written and removed again)")
    _config_args(plan)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    sample = sub.add_parser("sample", help="print the first rows of file 0 (no Ray, no output)")
    _config_args(sample)
    sample.add_argument("-n", type=int, default=5, help="number of rows (default 5)")
    sample.add_argument("--width", type=int, default=60, help="truncate values to this many characters")
    kube = sub.add_parser("kuberay", help="render the KubeRay RayJob + ConfigMap of a config to stdout")
    _config_args(kube)
    kube.add_argument("--name", default="lakebench-datagen", help="RayJob name (ConfigMap: NAME-config)")
    kube.add_argument("--namespace", default=None,
                      help="Kubernetes namespace (default: the Lakebench config's, else default)")
    kube.add_argument("--image", default=None,
                      help="container image with lakebench-ray installed (see Dockerfile; default: the Lakebench "
                           "config's images.datagen, else lakebench-ray:VERSION)")
    kube.add_argument("--max-workers", type=int, default=10, help="worker group maxReplicas (autoscaling ceiling)")
    kube.add_argument("--worker-cpus", type=int, default=8, help="CPUs per worker pod (one generator actor each)")
    kube.add_argument("--worker-memory", default=None, help="memory per worker pod, e.g. 16Gi (default: sized from CPUs)")
    kube.add_argument("--secret-name", default=None,
                      help="Secret with accessKey/secretKey (default: the Lakebench config's secret_ref, "
                           "else lakebench-s3-credentials)")
    kube.add_argument("--ca-cert-secret", default=None,
                      help="Secret holding ca.crt of a private S3 CA (default with a Lakebench config "
                           "naming ca_cert: lakebench-ca-certificate, the Secret Lakebench makes)")
    _kuberay_options(kube)
    # Parsed by lakebench/job.py itself (Lakebench's argument names, not KEY=VALUE); listed for --help.
    sub.add_parser("lakebench-job", add_help=False,
                   help="Lakebench's datagen Job contract (--target-tb ... --bucket ...); the image's entrypoint")
    verify = sub.add_parser("verify", help="check a generated dataset: every file present and sound, the spec's rules hold")
    _config_args(verify)
    verify.add_argument("--sample-files", type=int, default=None, metavar="N",
                        help="check the rows of N evenly spaced files (default: all); completeness always covers all")
    verify.add_argument("--deep", action="store_true",
                        help="also generate the files again (all, or the --sample-files sample) and compare their bytes; "
                             "on the Ray cluster of ray.address / RAY_ADDRESS when set, else in this process")
    verify.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    verify.add_argument("--report", metavar="PATH.html", help="also write an HTML report with plots (needs matplotlib)")
    return parser


#: ``lakebench-ray kuberay`` options that set a key of the config's ``kuberay`` section:
#: (option, key, argparse keywords). Given ones form a layer over the config file.
KUBERAY_OPTIONS = (
    ("--service-account", "service_account",
     {"metavar": "NAME", "help": "every pod runs as this ServiceAccount; without --secret-name no static keys are "
                                 "rendered and the pods use its web identity (EKS IRSA, GKE Workload Identity)"}),
    ("--keep-on-failure", "keep_on_failure",
     {"action": "store_true", "default": None, "help": "keep the Ray cluster of a failed run for debugging "
                                                       "(a successful run's is still deleted after 600 s)"}),
    ("--active-deadline", "active_deadline_s",
     {"metavar": "SECONDS", "help": "RayJob activeDeadlineSeconds: fail the run (retries included) after this"}),
    ("--pre-running-deadline", "pre_running_deadline_s",
     {"metavar": "SECONDS", "help": "RayJob preRunningDeadlineSeconds: fail if not running after this"}),
    ("--image-pull-secret", "image_pull_secrets",
     {"action": "append", "metavar": "NAME", "help": "imagePullSecrets of every pod (repeatable)"}),
    ("--image-pull-policy", "image_pull_policy",
     {"metavar": "POLICY", "help": "Always, IfNotPresent (default) or Never"}),
    ("--node-selector", "node_selector",
     {"action": "append", "metavar": "K=V", "help": "nodeSelector of every pod (repeatable)"}),
    ("--toleration", "tolerations",
     {"action": "append", "metavar": "KEY[=VALUE]:EFFECT", "help": "toleration of every pod (repeatable)"}),
    ("--priority-class", "priority_class", {"metavar": "NAME", "help": "priorityClassName of every pod"}),
    ("--pod-label", "pod_labels", {"action": "append", "metavar": "K=V", "help": "label of every pod (repeatable)"}),
    ("--pod-annotation", "pod_annotations",
     {"action": "append", "metavar": "K=V", "help": "annotation of every pod (repeatable)"}),
    ("--queue", "queue", {"metavar": "NAME", "help": "Kueue LocalQueue: label the RayJob for it and start it suspended"}),
    ("--pod-monitor", "pod_monitor",
     {"action": "store_true", "default": None, "help": "also render a PodMonitor for the pods' metrics port"}),
    ("--patch", "patch", {"metavar": "FILE", "help": "strategic-merge patches applied to the rendered objects, last"}),
    ("--ray-version", "ray_version",
     {"metavar": "X.Y.Z", "help": "KubeRay rayVersion (default: the Ray release in the image's tag, else 2.60.0)"}),
)
_KUBERAY_MAPPINGS = {"node_selector", "pod_labels", "pod_annotations"}


def _kuberay_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pods and job (also the config's kuberay.* keys)")
    for option, key, kwargs in KUBERAY_OPTIONS:
        group.add_argument(option, dest=f"kuberay_{key}", **kwargs)


def _kuberay_layer(args) -> dict:
    """The ``kuberay`` options given on the command line, as a config layer: they replace the
    file's values (lists too), and add ``K=V`` pairs to its mappings."""
    from .kuberay.options import parse_pair

    section = {}
    for option, key, _ in KUBERAY_OPTIONS:
        value = getattr(args, f"kuberay_{key}", None)
        if value is None:
            continue
        if key in _KUBERAY_MAPPINGS:
            value = dict(parse_pair(option, item) for item in value)
        section[key] = value
    return {"kuberay": section} if section else {}


def _lakebench_settings(args):
    """The ``--lakebench-config`` file, read and translated (None without the option); its
    notes and warnings on stderr, one line each."""
    if not getattr(args, "lakebench_config", None):
        if getattr(args, "cycle", None) is not None:
            raise UsageError("--cycle: picks a cycle of a --lakebench-config file; give one")
        return None
    from .lakebench.config_file import read_lakebench_config

    settings = read_lakebench_config(args.lakebench_config, cycle=args.cycle)
    for kind, lines in (("note", settings.notes), ("warning", settings.warnings)):
        for line in lines:
            print(f"lakebench-ray: {kind}: {line}", file=sys.stderr, flush=True)
    return settings


def _load(args, settings=None, *, use_credentials: bool = True, options_layer=None, reaches_storage: bool = False):
    """The command's config; ``reaches_storage``: a placeholder endpoint is refused, not warned about."""
    from .config import load_config

    settings = settings if settings is not None else _lakebench_settings(args)
    layers = []
    if settings is not None:
        if reaches_storage:
            settings.require_endpoint()
        if use_credentials:
            settings.apply_credentials()
        layers.append((settings.source, settings.layer))
    if options_layer:
        layers.append(("the command line's options", options_layer))
    return load_config(args.config, args.overrides, layers=layers)


def cmd_generate(args) -> int:
    from .runtime.driver import generate

    generate(_load(args, reaches_storage=True))
    return 0


def cmd_plan(args) -> int:
    from .planning import make_plan

    settings = _lakebench_settings(args)
    config = _load(args, settings)
    plan = make_plan(config)
    summary = plan.summary()
    storage, storage_lines = _storage_findings(config)
    if args.json:
        doc = {"plan": {**summary, **plan.settings(config)}, "config": config.to_dict(), **storage}
        if settings is not None:
            doc["lakebench_job"] = settings.job
        print(json.dumps(doc, indent=1))
        return 0
    print("plan:")
    print(f"  files            {summary['files']:,} (this partition: {summary['files_in_partition']:,}, {summary['partition']})")
    print(f"  rows per file    {summary['rows_per_file']:,} ({summary['rows_per_file_rule']}), "
          f"{summary['row_group_rows']:,} per row group")
    print(f"  total rows       {summary['total_rows']:,}")
    print(f"  estimated bytes  {summary['estimated_bytes'] / 2**30:,.2f} GiB ({summary['bytes_per_row']} B/row)")
    print(f"  customers        {summary['customers']:,}")
    print(f"  fingerprint      {summary['config_fingerprint']}")
    for line in storage_lines:
        print(line)
    print("effective config:")
    print("  " + config.to_yaml().rstrip().replace("\n", "\n  "))
    return 0


def _storage_findings(config) -> tuple[dict, list[str]]:
    """For an S3 output: what the store enforces and the mechanisms a run would use (the run's
    own preflight, whose probe keys it removes), or why it could not be checked; a plan is still
    printed either way."""
    from . import layout
    from .errors import SinkError
    from .sinks import open_store

    if not layout.is_s3(config.output.uri):
        return {}, []
    try:
        findings = open_store(**config.store_spec(writing=False)).preflight()
    except SinkError as exc:
        return {"storage": {"error": str(exc)}}, [f"  storage          not checked: {exc}"]
    lines = [f"  storage          {findings.summary}"]
    if findings.warning:
        lines.append(f"  storage warning  {findings.warning}")
    return {"storage": findings.record}, lines


def cmd_sample(args) -> int:
    import pyarrow as pa

    from .core import SCHEMA, build_loyalty_table, build_row_group
    from .planning import make_plan

    if args.n < 1:
        raise LakebenchError(f"-n: must be at least 1, got {args.n}")
    config = _load(args)
    loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
    plan = make_plan(config, loyalty)
    n = min(args.n, plan.params.rows_per_file)
    # The whole first row group, so the rows are exactly those of part-000000.
    first = min(plan.params.row_group_rows, plan.params.rows_per_file)
    batch = build_row_group(plan.params, loyalty, 0, 0, 0, first).slice(0, n)
    table = pa.Table.from_batches([batch]).cast(SCHEMA)
    name_width = max(len(name) for name in SCHEMA.names)
    for i, row in enumerate(table.to_pylist()):
        print(f"-[ row {i} ]" + "-" * (name_width + 10))
        for name, value in row.items():
            text = "null" if value is None else str(value)
            if len(text) > args.width:
                text = f"{text[: args.width - 1]}… ({len(text)} chars)"
            print(f"{name:<{name_width}} | {text}")
    return 0


def cmd_kuberay(args) -> int:
    from .kuberay import DEFAULT_IMAGE, render_manifests

    from .lakebench.secret import pod_secrets

    settings = _lakebench_settings(args)
    secret_name, ca_cert_secret = pod_secrets(settings, args.secret_name, args.ca_cert_secret)
    namespace, image = args.namespace, args.image
    if settings is not None:
        # Lakebench's namespace holds its Secrets; its datagen image is this project's, dropped in.
        namespace = namespace or settings.namespace
        image = image or settings.image
        if namespace is None:
            raise UsageError(
                f"{settings.source} names no namespace (platform.kubernetes.namespace or name): pass --namespace"
            )
    # Rendering reaches no storage: a placeholder endpoint was a warning, the pods' Secret has it.
    config = _load(args, settings, use_credentials=False, options_layer=_kuberay_layer(args))
    print(
        render_manifests(
            config,
            name=args.name,
            namespace=namespace or "default",
            image=image or DEFAULT_IMAGE,
            worker_max_replicas=args.max_workers,
            worker_cpus=args.worker_cpus,
            worker_memory=args.worker_memory,
            secret_name=secret_name,
            ca_cert_secret=ca_cert_secret,
        ),
        end="",
    )
    return 0


def cmd_verify(args) -> int:
    from .verify import run_cli

    import os

    config = _load(args, reaches_storage=True)
    regenerate = None
    address = config.ray.address or os.environ.get("RAY_ADDRESS")
    if args.deep and address:
        from .runtime.deep import regenerate_on_ray

        regenerate = regenerate_on_ray(address)
    return run_cli(config, sample_files=args.sample_files, json_path=args.json, report_path=args.report,
                   deep=args.deep, regenerate=regenerate)


def cmd_lakebench_job(argv) -> int:
    from .lakebench.job import job_notes, load_job_config, parse_job_args
    from .runtime.driver import generate

    config = load_job_config(argv)
    for note in job_notes(parse_job_args(argv)):
        print(f"lakebench-ray: note: {note}", flush=True)
    generate(config)
    return 0


COMMANDS = {"generate": cmd_generate, "plan": cmd_plan, "sample": cmd_sample, "kuberay": cmd_kuberay, "verify": cmd_verify}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["lakebench-job"]:
        return _run(cmd_lakebench_job, argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from .version import __version__

        print(__version__)
        return 0
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return _run(COMMANDS[args.command], args)


def _run(command, args) -> int:
    """Run a command; a user error is one line on stderr and a non-zero exit, never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return command(args)
    except UsageError as exc:
        print(f"lakebench-ray: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LakebenchError as exc:
        # An error raised inside an actor arrives wrapped (RayTaskError); say only its own line.
        cause = getattr(exc, "cause", None)
        message = str(cause if isinstance(cause, LakebenchError) else exc).strip().splitlines()
        print(f"lakebench-ray: error: {message[-1] if message else type(exc).__name__}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_FAILED)
    except BrokenPipeError:  # output piped into e.g. head
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("lakebench-ray: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
