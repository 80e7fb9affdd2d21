"""Issue 6's targets, defined once for the model card (ship_cpu.py) and docs/ablations.md
(ablations.py): rows of (target, reached, measured) from an eval's `overall` table."""

from __future__ import annotations


def target_rows(overall: dict, dsd: str, satn: str, equal_budget_dsd: str | None = None
                ) -> list[tuple[str, bool, str]]:
    """`dsd`/`satn` name the single-frame and temporal rows; `equal_budget_dsd` the DSD trained
    on the same budget as Direct and Concat (Table 2), when those rows exist."""
    o = overall
    rows = []

    def change(a: str, b: str, key: str) -> float:  # negative: a is lower than b
        return 100.0 * (o[a][key] / o[b][key] - 1.0)

    if dsd in o:
        d = o[dsd]
        rows.append(("DSD PA-MPJPE ≤ 50 mm, MPJPE ≤ 75 mm", d["pa_mpjpe"] <= 50 and d["mpjpe"] <= 75,
                     f"{d['pa_mpjpe']:.1f} / {d['mpjpe']:.1f} mm"))
    if dsd in o and satn in o:
        for key, name, unit, limit in (("mpjae", "MPJAE", "mm/s²", -35.0),
                                       ("pa_mpjpe", "PA-MPJPE", "mm", -3.0)):
            c = change(satn, dsd, key)
            rows.append((f"DSD+SATN vs DSD: {name} −{abs(limit):.0f} %", c <= limit,
                         f"{c:+.1f} % ({o[dsd][key]:.1f} → {o[satn][key]:.1f} {unit})"))
    for other in ("Direct", "Concat"):
        if equal_budget_dsd in o and other in o:
            c = change(equal_budget_dsd, other, "pa_mpjpe")
            rows.append((f"DSD vs {other} (equal budget): PA-MPJPE −10 %", c <= -10.0,
                         f"{c:+.1f} % ({o[other]['pa_mpjpe']:.1f} → "
                         f"{o[equal_budget_dsd]['pa_mpjpe']:.1f} mm)"))
    return rows


def targets_markdown(rows: list[tuple[str, bool, str]]) -> str:
    lines = ["| target | measured | reached |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {'yes' if ok else 'no'} |" for name, ok, measured in rows]
    return "\n".join(lines)
