"""Issues 6 and 12's targets, defined once for the model card (ship_cpu.py) and docs/ablations.md
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


def issue12_rows(overall: dict, dsd: str, skeleton: str, concat: str,
                 health: dict | None = None, folder_mb: float | None = None
                 ) -> list[tuple[str, bool, str]]:
    """Issue 12: DSD <= 100 mm PA-MPJPE (held-out, detector keypoints), >= 5 % better than the
    skeleton-only variant and than Concat at equal budget, both branches alive, <= 20 MB."""
    o = overall
    rows = []
    if dsd in o:
        rows.append(("DSD single-frame PA-MPJPE ≤ 100 mm (detector keypoints)",
                     o[dsd]["pa_mpjpe"] <= 100.0, f"{o[dsd]['pa_mpjpe']:.1f} mm"))
    for other in (skeleton, concat):
        if dsd in o and other in o:
            c = 100.0 * (o[dsd]["pa_mpjpe"] / o[other]["pa_mpjpe"] - 1.0)
            rows.append((f"DSD vs {other} (equal budget): PA-MPJPE −5 %", c <= -5.0,
                         f"{c:+.1f} % ({o[other]['pa_mpjpe']:.1f} → {o[dsd]['pa_mpjpe']:.1f} mm)"))
    if health:
        alive = min(health.get("detail_alive", 0.0), health.get("skeleton_active", 0.0))
        rows.append(("both branches alive: ≥ 50 % of each branch's units active on held-out",
                     alive >= 0.5, f"x_d units alive {health['detail_alive']:.0%}, x_s inputs "
                     f"non-zero {health['skeleton_active']:.0%}"))
    if folder_mb is not None:
        rows.append(("weights/dsd_satn_cpu ≤ 20 MB", folder_mb <= 20.0, f"{folder_mb:.1f} MB"))
    return rows


def targets_markdown(rows: list[tuple[str, bool, str]]) -> str:
    lines = ["| target | measured | reached |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {'yes' if ok else 'no'} |" for name, ok, measured in rows]
    return "\n".join(lines)
