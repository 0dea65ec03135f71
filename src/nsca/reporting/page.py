"""`nsca report`: one self-contained HTML page (and a Markdown twin) from the run folders of every
phase (nsca.reporting.phases), with the success table and the finding (nsca.reporting.findings)."""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsca.errors import UsageError
from nsca.reporting.findings import FINDING_RULE, SEED_KEY_RESULT, choose_finding, success_table
from nsca.reporting.phases import PHASES
from nsca.reporting.sections import Figure, Section, Table
from nsca.utils.io import atomic_write_bytes, atomic_write_text, ensure_writable_dir


@dataclass
class Report:
    sections: list[Section]
    success: Table
    finding: dict
    generated: str
    runs: str

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


def build_report(folders: dict[str, Path], runs: str = "runs") -> Report:
    """Read every phase's folder (`folders`: phase name -> folder, nsca.reporting.phases.folders)."""
    from nsca.utils.provenance import git_commit

    secs = [s for phase in PHASES for s in phase.build(folders[phase.name])]
    by = {s.id: s.data for s in secs}
    success = success_table(by["lethality"], by["curves"], by["physion"], by["babbling"])
    finding = choose_finding(by["lethality"], by["curves"])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return Report(secs, success, finding, f"{stamp}, code commit {git_commit()[:12]}", str(runs))


def write_report(report: Report, out: str | Path) -> dict[str, Path]:
    """report.html (figures inline), report.md and figures/*.png under `out`."""
    out = ensure_writable_dir(out)
    try:
        for fig in report.figures():
            atomic_write_bytes(out / "figures" / fig.name, fig.png)
        atomic_write_text(out / "report.html", render_html(report))
        atomic_write_text(out / "report.md", render_markdown(report))
    except OSError as exc:
        raise UsageError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    return {"html": out / "report.html", "markdown": out / "report.md"}


# ---- rendering -------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1150px;margin:24px auto;padding:0 16px;color:#222}
h1{margin-bottom:4px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:10px 0;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7}pre{background:#f7f7f7;padding:10px;font-size:12px;white-space:pre-wrap}
img{max-width:min(100%,900px);border:1px solid #ddd;margin:8px 0}figure{margin:0}figcaption{font-size:12px;color:#555}
.status{font-size:12px;padding:2px 8px;border-radius:10px;margin-left:8px;vertical-align:middle;font-weight:normal}
.done{background:#d9f2dd}.not-run{background:#eee}.unfinished{background:#fff1c2}.unreadable{background:#f9d0d0}
.finding{border-left:4px solid #2c5d8f;padding:6px 12px;background:#f3f7fb}.meta{color:#666;font-size:13px}
"""


def _status_class(status: str) -> str:
    return status.replace(" ", "-")


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_block(b: Any) -> str:
    if isinstance(b, Table):
        return _html_table(b)
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode()
        return (f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    if isinstance(b, tuple) and b[0] == "pre":
        return f"<pre>{html.escape(b[1])}</pre>"
    return f"<p>{html.escape(str(b))}</p>"


def render_html(r: Report) -> str:
    e = html.escape
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">', "<title>NSCA report</title>",
             f"<style>{_CSS}</style></head><body>", "<h1>NSCA report</h1>",
             f'<p class="meta">Built by <code>nsca report</code> from <code>{e(r.runs)}</code> on {e(r.generated)}. '
             "Every number is read from a run folder; a phase without one is listed as not run.</p>",
             '<h2 id="status">Phases</h2>',
             _html_table(Table(["phase", "status", "source"], [[s.title, s.note or s.status, s.source] for s in r.sections])),
             '<h2 id="success">What success looks like (seed §9), measured</h2>', _html_table(r.success),
             f"<p>Seed's key result: {e(SEED_KEY_RESULT)}</p>",
             '<h2 id="finding">The finding (seed §10)</h2>',
             f'<div class="finding"><p><b>{e(r.finding["title"])}</b> ({e(r.finding["kind"])}, rule {r.finding["rule_applied"]})</p>'
             f"<p>{e(r.finding['text'])}</p></div>", f"<p class=\"meta\">Rule: {e(FINDING_RULE)}</p>"]
    for s in r.sections:
        parts.append(f'<h2 id="{e(s.id)}">{e(s.title)}<span class="status {_status_class(s.status)}">{e(s.status)}</span></h2>')
        parts.append(f'<p class="meta">source: <code>{e(s.source)}</code></p>')
        if s.note:
            parts.append(f"<p>{e(s.note)}</p>")
        parts += [_html_block(b) for b in s.blocks]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_table(t: Table) -> str:
    def cell(c: str) -> str:
        return c.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render_markdown(r: Report) -> str:
    parts = ["# NSCA report", "",
             f"Built by `nsca report` from `{r.runs}` on {r.generated}. Every number is read from a run folder; "
             "a phase without one is listed as not run. Figures are in `figures/` (report.html has them inline).", "",
             "## Phases", "", _md_table(Table(["phase", "status", "source"],
                                              [[s.title, s.note or s.status, s.source] for s in r.sections])), "",
             "## What success looks like (seed §9), measured", "", _md_table(r.success), "",
             f"Seed's key result: {SEED_KEY_RESULT}", "",
             "## The finding (seed §10)", "",
             f"**{r.finding['title']}** ({r.finding['kind']}, rule {r.finding['rule_applied']})", "",
             r.finding["text"], "", f"Rule: {FINDING_RULE}", ""]
    for s in r.sections:
        parts += [f"## {s.title} ({s.status})", "", f"source: `{s.source}`", ""]
        if s.note:
            parts += [s.note, ""]
        for b in s.blocks:
            if isinstance(b, Table):
                parts += [_md_table(b), ""]
            elif isinstance(b, Figure):
                parts += [f"![{b.caption}](figures/{b.name})", ""]
            elif isinstance(b, tuple):
                parts += ["```", b[1], "```", ""]
            else:
                parts += [str(b), ""]
    return "\n".join(parts)
