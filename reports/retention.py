"""The retention attestation: what the nightly `retention` run archived, verified and purged (HTML + JSON).

Pure writer: a plain `RetentionAttestation` in, two files out (same input, same bytes). The flow archives
both files right after writing them, so every attestation is itself a 17a-4 record. Purged items are
listed with their SHA-256 so the deletion of each record can be proven later against the manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from reports.markdown import table as md_table
from reports.ops_report import _table
from reports.svg import bar_chart


@dataclass
class RetentionAttestation:
    run_date: str  # the New York business date of the run
    run_at_utc: str  # ISO-8601 UTC of the run's clock
    policy_version: str
    store: dict[str, str]
    archived_by_class: dict[str, int] = field(default_factory=dict)  # new manifest entries this run
    new_objects: int = 0
    new_bytes: int = 0
    already_archived: int = 0
    holdings_by_class: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> objects, bytes, held
    skipped: list[dict[str, str]] = field(default_factory=list)  # source, why
    absent_sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)  # VerifyResult.to_dict()
    purge_dry_run: dict[str, Any] = field(default_factory=dict)  # PurgePlan.to_dict()
    purged: list[dict[str, Any]] = field(default_factory=list)  # PurgeItem.to_dict(), with sha256
    purge_executed: bool = False
    mirror: str = ""
    manifest_head: str = ""
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)  # policy: years, rule per class
    accessible_note: str = ""


def render_html(a: RetentionAttestation) -> str:
    v = a.verification
    ok = bool(v.get("ok"))
    classes = sorted(set(a.holdings_by_class) | set(a.archived_by_class))
    chart = bar_chart(
        classes,
        {"objects held": [a.holdings_by_class.get(c, {}).get("objects", 0) for c in classes],
         "archived this run": [a.archived_by_class.get(c, 0) for c in classes]},
        title="Archive by retention class",
        empty=f"nothing held or archived as of {a.run_date}",
    )
    holdings = [
        [c, a.classes.get(c, {}).get("years", ""), a.classes.get(c, {}).get("rule", ""),
         a.archived_by_class.get(c, 0), a.holdings_by_class.get(c, {}).get("objects", 0),
         a.holdings_by_class.get(c, {}).get("bytes", 0), a.holdings_by_class.get(c, {}).get("on_hold", 0)]
        for c in classes
    ]
    findings = [[f.get("check"), f.get("copy"), f.get("object_id") or "", f.get("line") or "", f.get("message")]
                for f in v.get("findings", [])]
    plan = a.purge_dry_run
    eligible = [[i["object_id"], i["record_class"], i["retain_until"], ", ".join(i["sources"])]
                for i in plan.get("eligible", [])]
    held = [[i["object_id"], i["retain_until"], ", ".join(i["holds"])] for i in plan.get("held", [])]
    purged = [[i["object_id"], i["sha256"], i["size"], i["record_class"], i["retain_until"], ", ".join(i["sources"])]
              for i in a.purged]
    status = "VERIFIED" if ok else f"FAILED ({len(findings)} finding(s))"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Retention attestation {escape(a.run_date)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:90%}} .bad{{color:#b91c1c}}
.ok{{color:#15803d}}</style></head><body>
<h1>Record retention attestation (SEC 17a-4) — {escape(a.run_date)}</h1>
<p>Run at {escape(a.run_at_utc)} · policy {escape(a.policy_version)} · primary {escape(a.store.get("primary", ""))}
· duplicate set {escape(a.store.get("duplicate", ""))} · manifest head <code>{escape(a.manifest_head)}</code></p>
<h2>Verification: <span class="{'ok' if ok else 'bad'}">{escape(status)}</span></h2>
<p>Mode {escape(str(v.get("mode", "")))}: {v.get("manifest_entries", 0)} manifest entries chained,
{v.get("objects_live", 0)} live objects present in both copies, {v.get("objects_hashed", 0)} re-hashed
({v.get("bytes_hashed", 0):,} bytes).</p>
{_table(["check", "copy", "object", "manifest line", "finding"], findings)}
<h2>Holdings and this run's archiving</h2>{chart}
<p>{a.new_objects} new object(s), {a.new_bytes:,} bytes; {a.already_archived} record(s) already archived.</p>
{_table(["class", "years", "rule", "archived this run", "objects", "bytes", "on hold"], holdings)}
<p>{escape(a.accessible_note)}</p>
<h2>Purge</h2>
<p>Dry run as of {escape(str(plan.get("as_of", "")))}: {len(eligible)} eligible, {len(held)} past retain-until but on
legal hold. Executed: {"yes" if a.purge_executed else "no (dry run only)"}.</p>
<h3>Eligible (dry run)</h3>{_table(["object", "class", "retain until", "sources"], eligible)}
<h3>Kept on legal hold</h3>{_table(["object", "retain until", "holds"], held)}
<h3>Purged</h3>{_table(["object", "sha256", "bytes", "class", "retain until", "sources"], purged)}
<h2>Not archived this run</h2>{_table(["source", "why"], [[s["source"], s["why"]] for s in a.skipped])}
<p>Sources not present yet: {escape(", ".join(a.absent_sources) or "none")}</p>
<p>Warnings: {escape("; ".join(a.warnings) or "none")}</p>
<p>Ops DB mirror: {escape(a.mirror)}</p>
</body></html>
"""


def markdown_summary(a: RetentionAttestation) -> str:
    """For the Prefect markdown artifact: verification, this run's archiving per class, the purge."""
    v, plan = a.verification, a.purge_dry_run
    classes = sorted(set(a.holdings_by_class) | set(a.archived_by_class))
    findings = [[f.get("check"), f.get("copy"), f.get("object_id") or "", f.get("message")]
                for f in v.get("findings", [])]
    lines = [
        f"# Retention {a.run_date}: {'VERIFIED' if v.get('ok') else 'VERIFICATION FAILED'}", "",
        f"policy {a.policy_version} · run at {a.run_at_utc} · manifest head `{a.manifest_head[:16]}`", "",
        f"Verification ({v.get('mode', '')}): {v.get('manifest_entries', 0)} manifest entries chained, "
        f"{v.get('objects_live', 0)} live objects in both copies, {v.get('objects_hashed', 0)} re-hashed "
        f"({v.get('bytes_hashed', 0):,} bytes).", "",
        md_table(["check", "copy", "object", "finding"], findings, "no findings"), "",
        f"Archived this run: {a.new_objects} new object(s), {a.new_bytes:,} bytes; {a.already_archived} already "
        "archived.", "",
        md_table(["class", "archived this run", "objects held", "bytes held", "on hold"],
                 [[c, a.archived_by_class.get(c, 0), a.holdings_by_class.get(c, {}).get("objects", 0),
                   a.holdings_by_class.get(c, {}).get("bytes", 0), a.holdings_by_class.get(c, {}).get("on_hold", 0)]
                  for c in classes], "nothing held or archived"), "",
        f"Purge: {len(plan.get('eligible', []))} eligible, {len(plan.get('held', []))} past retain-until but on "
        f"legal hold; executed: {'yes' if a.purge_executed else 'no (dry run only)'}; purged {len(a.purged)}.",
    ]
    if a.purged:
        lines += ["", md_table(["object", "sha256", "class"],
                               [[i["object_id"], i["sha256"], i["record_class"]] for i in a.purged])]
    if a.warnings:
        lines += ["", "Warnings: " + "; ".join(a.warnings)]
    return "\n".join(lines) + "\n"


def attestation_stem(a: RetentionAttestation) -> str:
    stamp = a.run_at_utc.replace("-", "").replace(":", "").split(".")[0]
    return f"attestation-{stamp}"


def write_attestation(a: RetentionAttestation, out_dir: Path) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.html` via temp names (a reader never sees half a file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = stem = attestation_stem(a)
    n = 1
    while (out_dir / f"{stem}.json").exists() or (out_dir / f"{stem}.html").exists():
        n += 1  # never overwrite an earlier run's attestation: it is a record already
        stem = f"{base}-{n}"
    js, html = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    for path, text in ((js, json.dumps(asdict(a), indent=2, sort_keys=True) + "\n"), (html, render_html(a))):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return js, html
