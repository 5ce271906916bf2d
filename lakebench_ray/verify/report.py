"""A self-contained HTML report of a verification: rules table and plots as embedded PNGs.

Needs matplotlib (the ``report`` extra); it runs on the Agg backend, no display needed.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

from ..core import vocab as V
from ..errors import LakebenchError
from .conformance import AMOUNT_BINS, DIRTY_FIELDS, ITYPES, NULL_COLUMNS, ZETA_1_5
from .run import VerifyResult

INSTALL_HINT = "pip install 'lakebench-ray[report]' (or pip install 'matplotlib>=3.8')"


def require_matplotlib():
    """The pyplot module on the Agg backend, or one clear error saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise LakebenchError(f"--report needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _empty(ax, text: str = "no rows checked") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_interaction_mix(plt, result: VerifyResult) -> str:
    counts = result.conformance.dist_counts["interaction_type"]
    total = counts.sum()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(ITYPES))
    expected = np.array(V.weights(V.INTERACTION_TYPES))
    ax.bar(x - 0.2, expected, 0.4, label="spec", color="#9db4d0")
    if total:
        ax.bar(x + 0.2, counts / total, 0.4, label=f"observed (n={total:,})", color="#2a6cb0")
    ax.set_xticks(x, ITYPES)
    ax.set_ylabel("share of events")
    ax.set_title("Interaction mix")
    ax.legend()
    return _png(fig)


def plot_rank_frequency(plt, result: VerifyResult) -> str:
    counts = result.conformance.rank_frequency()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    if len(counts) == 0:
        _empty(ax)
    else:
        ranks = np.arange(1, len(counts) + 1)
        keep = np.unique(np.geomspace(1, len(counts), num=min(len(counts), 4000)).astype(np.int64)) - 1
        ax.loglog(ranks[keep], counts[keep], ".", ms=3, color="#2a6cb0", label="observed")
        rows = result.conformance.rows
        line = rows * ranks[keep].astype(float) ** -V.ZIPF_ALPHA / ZETA_1_5
        ax.loglog(ranks[keep], line, "-", color="#d0542a", label=f"Zipf {V.ZIPF_ALPHA}: n·r^-{V.ZIPF_ALPHA}/ζ({V.ZIPF_ALPHA})")
        ax.set_ylim(bottom=0.5)
        ax.legend()
    ax.set_xlabel("customer rank")
    ax.set_ylabel("events")
    ax.set_title("Customer rank–frequency")
    return _png(fig)


def _normal_cdf(z):
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def plot_amounts(plt, result: VerifyResult) -> str:
    conf = result.conformance
    fig, ax = plt.subplots(figsize=(7, 4.2))
    if conf.purchases == 0:
        _empty(ax, "no purchases checked")
    else:
        edges = AMOUNT_BINS
        widths = np.diff(edges)
        density = conf.amount_hist / (conf.purchases * widths)
        ax.bar(edges[:-1], density, width=widths, align="edge", color="#9db4d0", edgecolor="#2a6cb0",
               linewidth=0.4, label=f"observed purchases (n={conf.purchases:,})")
        mass = np.diff(_normal_cdf((np.log(edges) - V.AMOUNT_MU) / V.AMOUNT_SIGMA))
        ax.plot(np.sqrt(edges[:-1] * edges[1:]), mass / widths, "-", color="#d0542a",
                label=f"log-normal({V.AMOUNT_MU}, {V.AMOUNT_SIGMA})")
        ax.set_xscale("log")
        ax.legend()
    ax.set_xlabel("transaction_amount")
    ax.set_ylabel("density (per unit amount)")
    ax.set_title("Purchase amounts")
    return _png(fig)


def plot_null_pattern(plt, result: VerifyResult) -> str:
    conf = result.conformance
    fig, ax = plt.subplots(figsize=(7.5, 6))
    rows = conf.itype_rows
    if rows.sum() == 0:
        _empty(ax)
    else:
        share = np.divide(conf.null_counts, rows, out=np.full(conf.null_counts.shape, np.nan), where=rows > 0)
        im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(ITYPES)), ITYPES, rotation=20)
        ax.set_yticks(range(len(NULL_COLUMNS)), NULL_COLUMNS)
        for i in range(share.shape[0]):
            for j in range(share.shape[1]):
                if not np.isnan(share[i, j]):
                    ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.6 else "black")
        fig.colorbar(im, ax=ax, label="share null")
    ax.set_title("Null pattern by interaction type")
    return _png(fig)


def plot_dirty(plt, result: VerifyResult) -> str:
    conf = result.conformance
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if conf.rows == 0:
        _empty(ax)
    else:
        shares = [conf.dirty_counts[f] / conf.rows for f in DIRTY_FIELDS]
        ax.bar(range(len(DIRTY_FIELDS)), shares, color="#2a6cb0", label="observed")
        ratio = result.conformance.params.dirty_ratio
        ax.axhline(ratio, color="#d0542a", linestyle="--", label=f"dirty_ratio {ratio:g}")
        ax.set_xticks(range(len(DIRTY_FIELDS)), DIRTY_FIELDS)
        ax.set_ylim(0, max(max(shares), ratio, 0.01) * 1.4)
        ax.legend(loc="upper right", ncols=2)
    ax.set_ylabel("share of rows not clean")
    ax.set_title("Dirty share by field")
    return _png(fig)


def plot_files(plt, result: VerifyResult) -> str:
    files = sorted(result.completeness.files.values(), key=lambda f: f.file_id)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    if not files:
        _empty(top, "no files found")
        _empty(bottom, "no files found")
    else:
        ids = np.array([f.file_id for f in files])
        sizes = np.array([(f.size or 0) / 2**20 for f in files])
        rows = np.array([f.rows if f.rows is not None else np.nan for f in files], dtype=float)
        bad = np.array([not f.sound for f in files])
        if len(files) <= 200:
            top.bar(ids, sizes, color=np.where(bad, "#d0542a", "#2a6cb0"))
        else:
            top.plot(ids, sizes, ".", ms=2, color="#2a6cb0")
            top.plot(ids[bad], sizes[bad], "x", color="#d0542a")
        top.set_ylabel("size (MiB)")
        top.set_title(f"Files: {len(files):,} present of {len(result.completeness.planned):,} planned"
                      + (f", {len(result.completeness.missing):,} missing" if result.completeness.missing else ""))
        bottom.plot(ids, rows, ".", ms=4 if len(files) <= 200 else 2, color="#2a6cb0", label="rows in footer")
        bottom.axhline(result.plan["rows_per_file"], color="#d0542a", linestyle="--", label="rows_per_file")
        if result.completeness.missing:
            missing = np.array(result.completeness.missing)
            bottom.plot(missing, np.zeros(len(missing)), "x", color="#d0542a", label="missing")
        bottom.set_ylabel("rows")
        bottom.set_xlabel("file id")
        bottom.legend(loc="lower right")
    return _png(fig)


PLOTS = (
    ("interaction-mix", "Interaction mix: observed vs the spec's weights", plot_interaction_mix),
    ("rank-frequency", "Customer rank–frequency (log–log) against the Zipf 1.5 line", plot_rank_frequency),
    ("amounts", "Purchase amounts on a log axis against the log-normal(4.3, 1.2) density", plot_amounts),
    ("null-pattern", "Share null per column and interaction type", plot_null_pattern),
    ("dirty", "Dirty share by field against dirty_ratio", plot_dirty),
    ("files", "File sizes and row counts", plot_files),
)

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px}
.ok{color:#1f7a33;font-weight:600} .fail{color:#b3261e;font-weight:600} .skip{color:#777}
table{border-collapse:collapse;font-size:12px;width:100%} td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f3f5f8} td.num{font-variant-numeric:tabular-nums}
figure{margin:18px 0;display:inline-block;vertical-align:top} figcaption{font-size:12px;color:#555}
img{max-width:100%;border:1px solid #eee} ul.problems li{color:#b3261e;font-size:13px}
.meta{font-size:12px;color:#555}
"""


def render_html(result: VerifyResult) -> str:
    plt = require_matplotlib()
    esc = html.escape
    status = '<span class="ok">PASSED</span>' if result.ok else '<span class="fail">FAILED</span>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>lakebench-ray verify</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>lakebench-ray verify: {status}</h1>",
        f'<p class="meta">{esc(result.uri.rstrip("/"))}/{esc(result.prefix)} · partition {esc(str(result.plan["partition"]))}'
        f' · fingerprint {esc(str(result.plan["config_fingerprint"]))} · {result.seconds:.1f}s</p>',
        f"<p>{esc(result.summary_line())}</p>",
    ]
    if result.problems:
        parts.append("<h2>Problems</h2><ul class=\"problems\">")
        parts += [f"<li>{esc(p)}</li>" for p in result.problems[:200]]
        if len(result.problems) > 200:
            parts.append(f"<li>… and {len(result.problems) - 200} more</li>")
        parts.append("</ul>")
    parts.append("<h2>Plots</h2>")
    for slug, caption, plot in PLOTS:
        data = plot(plt, result)
        parts.append(
            f'<figure id="{slug}"><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    parts.append("<h2>Rules</h2><table><tr><th>rule</th><th>expected</th><th>observed</th><th>result</th><th>meaning</th></tr>")
    for r in result.rules:
        cls = {"pass": "ok", "FAIL": "fail", "skip": "skip"}[r.status]
        parts.append(
            f"<tr><td>{esc(r.name)}</td><td class=\"num\">{esc(r.expected)}</td><td class=\"num\">{esc(r.observed)}</td>"
            f'<td class="{cls}">{r.status}</td><td>{esc(r.description)}</td></tr>'
        )
    parts.append("</table>")
    sampled = ", ".join(f"part-{i:06d}" for i in result.sampled[:50])
    more = f" … (+{len(result.sampled) - 50})" if len(result.sampled) > 50 else ""
    parts.append(f'<p class="meta">Rows checked from {len(result.conformance.files):,} files: {esc(sampled)}{more}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: VerifyResult, path: str) -> None:
    text = render_html(result)
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise LakebenchError(f"--report: cannot write '{path}' ({exc.strerror or exc}): choose a writable path") from exc
