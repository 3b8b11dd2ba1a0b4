"""The retention attestation: what the nightly `retention` run archived, verified and purged (HTML + JSON).

Pure writer: a plain `RetentionAttestation` in, two files out (same input, same bytes). The flow archives
both files right after writing them, so every attestation is itself a 17a-4 record. Purged items are
listed with their SHA-256 so the deletion of each record can be proven later against the manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reports.markdown import table as md_table
from reports.render import markup, render
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

    def cells(rows: list[list[Any]]) -> list[list[str]]:
        return [["" if c is None else str(c) for c in r] for r in rows]

    return render("retention.html.j2", title=f"Retention attestation {a.run_date}",
                  report_name="Record retention attestation (SEC 17a-4)", business_date=a.run_date, sources=[],
                  generated_at=a.run_at_utc, a=a, v=v, ok=ok, status=status, chart=markup(chart), plan=plan,
                  findings=cells(findings), holdings=cells(holdings), eligible=cells(eligible), held=cells(held),
                  purged=cells(purged), skipped=cells([[x["source"], x["why"]] for x in a.skipped]))


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
