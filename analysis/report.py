"""The verify table and its JSON form."""

from __future__ import annotations

import json
import textwrap

from ganlab.analysis import claims as C
from ganlab.analysis.claims import Report
from ganlab.analysis.families import all_claims

COLUMNS = (("claim", 17), ("plugin", 30), ("measured", 50), ("expected", 38), ("tolerance", 24), ("status", 6))
# Arrays too large for a summary (plots get them from the Result objects).
JSON_SKIP = {"path", "x", "f"}


def table(report: Report) -> str:
    header = "  ".join(name.ljust(width) for name, width in COLUMNS)
    lines = [header, "-" * len(header)]
    for r in report.results:
        cells = [textwrap.wrap(str(getattr(r, name)) or "-", width) or ["-"] for name, width in COLUMNS]
        for i in range(max(len(c) for c in cells)):
            lines.append("  ".join((c[i] if i < len(c) else "").ljust(w)
                                   for c, (_, w) in zip(cells, COLUMNS)).rstrip())
        if r.note and (r.status not in (C.PASS, C.INFO) or "float64_status" in r.data):
            lines.extend(textwrap.wrap(r.note, len(header), initial_indent="    ↳ ", subsequent_indent="      "))
    lines.append("-" * len(header))
    lines.append(summary(report))
    return "\n".join(lines)


def summary(report: Report) -> str:
    line = (f"{report.count(C.PASS)} passed, {report.count(C.FAIL)} failed, {report.count(C.INFO)} info, "
            f"{report.count(C.NA)} not applicable; {len(report.results)} checks in {report.elapsed:.1f} s")
    for name in report.undeclared:
        ran = sorted({r.claim for r in report.results if r.plugin.split("[")[0] == name
                      and r.status in (C.PASS, C.FAIL)})
        line += (f"\n{name} declares no claims: only the generic checks speak for it "
                 f"({', '.join(ran) or 'none ran'})")
    return line


def as_json(report: Report) -> str:
    rows = []
    for r in report.results:
        d = r.as_dict()
        d["data"] = _trim(d["data"])
        rows.append(d)
    claims = {name: {"title": c.title, "source": c.source, "formula": c.formula, "conditions": c.conditions}
              for name, c in all_claims().items()}
    return json.dumps({"ok": report.ok, "elapsed_s": round(report.elapsed, 3),
                       "counts": {s: report.count(s) for s in C.STATUSES},
                       "undeclared": report.undeclared,
                       "claims": claims, "results": rows}, indent=2, ensure_ascii=False)


def _trim(value):
    if isinstance(value, dict):
        return {k: _trim(v) for k, v in value.items() if k not in JSON_SKIP}
    return value
