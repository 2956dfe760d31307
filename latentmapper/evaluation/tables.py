"""Markdown tables from the results JSON (paper Tables 3 and 5), and their place in a model card.

The text is a pure function of the results (and, when given, the details) file: the same
JSON always gives the same bytes, so the tables can be regenerated at any time with
``python evaluate/evaluate.py --category car --tables-only``. Systems appear in a fixed
order (the issue's five and the constant answer, then any other rows, e.g. GOEmbed's, by
name); a missing value prints as ``-``. The tables of issue 17 (identification, means per
family, the DIT's own fit) appear only when the JSON holds their numbers, so a results file
written before them still gives exactly its old text.
"""

from __future__ import annotations

import re

from .cross import IDENTIFICATION_POINTS
from .views import VIEW_SETS

DISPLAY_NAMES = {
    "latentmapper": "3D-LatentMapper",
    "imnet": "IM-NET-style (ResNet -> DIT latent)",
    "atlasnet25": "AtlasNet-25",
    "nearest_neighbour": "Nearest neighbour (CLIP)",
    "oracle": "Oracle (DIT latent fitted to the shape)",
    "constant": "Constant (most central training shape)",
    "ground_truth": "Ground truth mesh, sampled anew (the metric's floor)",
    "goembed": "GOEmbed (1 view)",
    "goembed_3views": "GOEmbed (3 views)",
}
ORDER = ("latentmapper", "imnet", "atlasnet25", "nearest_neighbour", "oracle", "constant", "ground_truth")
SET_TITLES = {"fixed_view": "fixed view (yaw 0)", "nine_views": "9 training views", "unseen_views": "unseen views"}
CONSTANT_NOTE = (" The constant row answers every input with one training shape, the one with the lowest mean "
                 "Chamfer to the other training shapes: what a system scores without looking at the input.")
GROUND_TRUTH_NOTE = (" The ground-truth row answers with each shape's own mesh: two independent samples of the "
                     "same surface, so it is what a perfect reconstruction scores, the floor under every row.")
TARGET_RATIO_IMNET = 0.7
TARGET_RATIO_UNSEEN = 1.25
CARD_START = "<!-- latentmapper-evaluation:start -->"
CARD_END = "<!-- latentmapper-evaluation:end -->"
DIT_FIT_START = "<!-- latentmapper-dit-fit:start -->"
DIT_FIT_END = "<!-- latentmapper-dit-fit:end -->"
DIT_FIT_HEADING = "## DIT fit"
DIT_FIT_ROWS = {"train_from_codes": "DIT training shapes from their codes",
                "oracle_test": "Oracle on the test split (code fitted to the shape)"}


def ordered_systems(systems: dict) -> list[str]:
    return [n for n in ORDER if n in systems] + sorted(n for n in systems if n not in ORDER)


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def _metric(entry: dict, view_set: str, metric: str):
    value = entry.get(view_set)
    return value.get(metric) if isinstance(value, dict) else None


def table3(results: dict) -> str:
    systems = results.get("systems", {})
    head = ("| system | " + " | ".join(f"CD x10^3, {SET_TITLES[s]}" for s in VIEW_SETS) + " | "
            + " | ".join(f"EMD x10^2, {SET_TITLES[s]}" for s in VIEW_SETS) + " |")
    lines = [head, "| --- |" + " ---: |" * (2 * len(VIEW_SETS))]
    for name in ordered_systems(systems):
        entry = systems[name]
        cells = [_fmt(_metric(entry, s, "chamfer_x1e3")) for s in VIEW_SETS]
        cells += [_fmt(_metric(entry, s, "emd_x1e2")) for s in VIEW_SETS]
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table5(results: dict, details: dict | None = None) -> str:
    systems = results.get("systems", {})
    detail = (details or {}).get("systems", {})
    devices = sorted({d for n in systems for d in detail.get(n, {}).get("seconds_per_image_by_device", {})} - {"cpu"})
    head = "| system | seconds per image, CPU |" + "".join(f" seconds per image, {d.upper()} |" for d in devices)
    lines = [head, "| --- | ---: |" + " ---: |" * len(devices)]
    for name in ordered_systems(systems):
        by_device = detail.get(name, {}).get("seconds_per_image_by_device", {})
        cpu = by_device.get("cpu", systems[name].get("seconds_per_image") if not by_device else None)
        cells = [_fmt(cpu)] + [_fmt(by_device.get(d)) for d in devices]
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def identification_table(results: dict) -> str | None:
    """Top-1 identification per system and input set; None when no system has it (rows without it print -)."""
    systems = results.get("systems", {})
    names = ordered_systems(systems)
    if all(_metric(systems[n], s, "identification_top1") is None for n in names for s in VIEW_SETS):
        return None
    lines = ["| system | " + " | ".join(f"top-1 identification, {SET_TITLES[s]}" for s in VIEW_SETS) + " |",
             "| --- |" + " ---: |" * len(VIEW_SETS)]
    for name in names:
        cells = [_fmt(_metric(systems[name], s, "identification_top1")) for s in VIEW_SETS]
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def family_table(results: dict, view_set: str = "nine_views") -> str | None:
    """Mean Chamfer x10^3 per family (columns) and system (rows) on ``view_set``; None without families."""
    systems = results.get("systems", {})
    names = [n for n in ordered_systems(systems) if isinstance(systems[n].get("by_family"), dict)]
    if not names:
        return None
    counts: dict[str, int] = {}
    for name in names:
        for family, entry in systems[name]["by_family"].items():
            counts.setdefault(family, entry.get("shapes"))
    families = sorted(counts)
    heads = [f"{f} ({counts[f] if counts[f] is not None else '?'})" for f in families]
    lines = ["| system | " + " | ".join(heads) + " |",
             "| --- |" + " ---: |" * len(families)]
    for name in names:
        entries = systems[name]["by_family"]
        cells = [_fmt(_metric(entries.get(f, {}), view_set, "chamfer_x1e3")) for f in families]
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(a, b) -> str:
    return "-" if a is None or not b else f"{float(a) / float(b):.3f}"


def dit_fit_markdown(results: dict) -> str:
    """The DIT's own fit against the constant answer (``dit_fit`` of the JSON); "" when it is not there."""
    fit = results.get("dit_fit")
    rows = {k: fit[k] for k in DIT_FIT_ROWS if isinstance(fit, dict) and isinstance(fit.get(k), dict)}
    if not rows:
        return ""
    floor = any(isinstance(entry.get("ground_truth"), dict) for entry in rows.values())
    lines = ["| | shapes | CD x10^3 | top-1 identification | constant: CD x10^3 | constant: top-1 identification "
             "| CD / constant CD |" + " ground truth resampled: CD x10^3 |" * floor,
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * floor]
    for key, entry in rows.items():
        const = entry.get("constant") or {}
        cells = [str(entry.get("shapes", "-")), _fmt(entry.get("chamfer_x1e3")), _fmt(entry.get("identification_top1")),
                 _fmt(const.get("chamfer_x1e3")), _fmt(const.get("identification_top1")),
                 _ratio(entry.get("chamfer_x1e3"), const.get("chamfer_x1e3"))]
        if floor:
            cells.append(_fmt((entry.get("ground_truth") or {}).get("chamfer_x1e3")))
        lines.append(f"| {DIT_FIT_ROWS[key]} | " + " | ".join(cells) + " |")
    shape = fit.get("constant_shape")
    parts = ["How well the DIT itself reconstructs shapes (`benchmarks/benchmark.py`): training shapes decoded from "
             "their own codes, and test shapes from codes fitted to their SDF samples (the oracle), each against "
             "the constant answer" + (f" (`{shape}`)" if shape else "") + " on the same shapes. Chamfer x10^3; "
             "a CD / constant CD near 1 or an identification near 1/shapes means the latent space holds "
             "little more than one shape."
             + (" The last column is each shape's own ground-truth mesh sampled anew: what a perfect decoder "
                "scores, since two samples of one surface are never at Chamfer 0." if floor else ""),
             "", "\n".join(lines)]
    families = sorted({f for entry in rows.values() for f in (entry.get("by_family") or {})})
    if families:
        head = "| family | " + " | ".join(f"{DIT_FIT_ROWS[k].split(' (')[0]} | constant" for k in rows) + " |"
        table = [head, "| --- |" + " ---: | ---: |" * len(rows)]
        for family in families:
            cells = []
            for entry in rows.values():
                by = (entry.get("by_family") or {}).get(family, {})
                cells += [_fmt(by.get("chamfer_x1e3")), _fmt(by.get("constant_chamfer_x1e3"))]
            table.append(f"| {family} | " + " | ".join(cells) + " |")
        parts += ["", "Mean Chamfer x10^3 per family:", "", "\n".join(table)]
    return "\n".join(parts) + "\n"


def spread_table(results: dict, details: dict) -> str:
    systems, detail = results.get("systems", {}), details.get("systems", {})
    lines = ["| system | std over the 9 views | max - min over the 9 views | std over unseen views | "
             "max - min over unseen views | empty meshes (9 views / unseen) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in ordered_systems(systems):
        if name not in detail:
            continue
        spread, empty = detail[name].get("view_spread", {}), detail[name].get("empty_meshes", {})
        cells = []
        for view_set in ("nine_views", "unseen_views"):
            s = spread.get(view_set, {})
            cells += [_fmt(s.get("mean_std")), _fmt(s.get("mean_max_minus_min"))]
        cells.append(f"{empty.get('nine_views', '-')} / {empty.get('unseen_views', '-')}")
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(results: dict) -> list[str]:
    """The issue's targets, checked on the table's own numbers."""
    systems = results.get("systems", {})

    def cd(name: str, view_set: str):
        return _metric(systems.get(name, {}), view_set, "chamfer_x1e3")

    ours, imnet, nn = cd("latentmapper", "nine_views"), cd("imnet", "nine_views"), cd("nearest_neighbour", "nine_views")
    unseen = cd("latentmapper", "unseen_views")
    lines = []
    if ours is not None and imnet:
        ratio = ours / imnet
        lines.append(f"- 3D-LatentMapper / IM-NET-style Chamfer on the 9 views: {ratio:.3f} "
                     f"(target <= {TARGET_RATIO_IMNET}): {'met' if ratio <= TARGET_RATIO_IMNET else 'not met'}")
    if ours is not None and nn is not None:
        lines.append(f"- 3D-LatentMapper below nearest neighbour on the 9 views: {ours:.3f} vs {nn:.3f}: "
                     f"{'met' if ours < nn else 'not met'}")
    if ours and unseen is not None:
        ratio = unseen / ours
        lines.append(f"- 3D-LatentMapper unseen / 9-view Chamfer: {ratio:.3f} (target <= {TARGET_RATIO_UNSEEN}): "
                     f"{'met' if ratio <= TARGET_RATIO_UNSEEN else 'not met'}")
    return lines


def results_markdown(results: dict, details: dict | None = None, category: str | None = None,
                     include_dit_fit: bool = True) -> str:
    """The evaluation section's text: Table 3, identification, Table 5, targets, (with details) the view
    spread, the means per family and (``include_dit_fit``; a model card has its own place for it) the DIT's fit."""
    detail = (details or {}).get("systems", {})
    counts = sorted({detail[n]["shapes"] for n in ordered_systems(results.get("systems", {}))
                     if isinstance(detail.get(n), dict) and detail[n].get("shapes") is not None})
    splits = sorted({detail[n]["run"].get("split", "test") for n in ordered_systems(results.get("systems", {}))
                     if isinstance(detail.get(n), dict) and isinstance(detail[n].get("run"), dict)}) or ["test"]
    split = "/".join(splits)
    subject = f"the {category} {split} split" if category else f"the {split} split"
    shapes = f", {'/'.join(str(c) for c in counts)} shapes" if counts else ""
    parts = [
        f"Single-view reconstruction on {subject}{shapes} (paper Table 3). Chamfer distance x10^3 (mean squared "
        "nearest-neighbour distance both ways, 5000 points) and EMD x10^2 (exact matching of 1024 points), in the "
        "unit-sphere frame; inputs are the fixed view (yaw 0), the 9 training views (yaw 0-240, elevation 20) and "
        "unseen views (yaws between those, elevation +-10 degrees). Empty predictions are left out of the means "
        "(counted below). The oracle fits the DIT latent to the shape itself and sees no image."
        + CONSTANT_NOTE * ("constant" in results.get("systems", {}))
        + GROUND_TRUTH_NOTE * ("ground_truth" in results.get("systems", {})),
        "",
        table3(results),
        "",
    ]
    identification = identification_table(results)
    if identification:
        parts += ["Top-1 identification: the fraction of inputs whose prediction is nearer (Chamfer, "
                  f"{IDENTIFICATION_POINTS} points each side) to its own shape than to every other evaluated "
                  "shape. One answer for every input scores 1/shapes, however good its mean Chamfer.", "",
                  identification, ""]
    parts += [
        "Inference time per image, image to mesh (features + mapping + meshing at 128^3; AtlasNet outputs its "
        "patches directly), median over the evaluated inputs (paper Table 5):",
        "",
        table5(results, details),
    ]
    checks = targets(results)
    if checks:
        parts += ["", "Targets (issue 7):", "", *checks]
    if details and details.get("systems"):
        parts += ["", "View-agnosticism: spread of each shape's Chamfer x10^3 across its input views, "
                  "averaged over shapes:", "", spread_table(results, details)]
    families = family_table(results)
    if families:
        parts += ["", "Mean Chamfer x10^3 on the 9 training views per family (shapes in brackets): a family a "
                  "system cannot make stands out here, where the overall mean hides it.", "", families]
    fit = dit_fit_markdown(results) if include_dit_fit else ""
    if fit:
        parts += ["", fit.rstrip("\n")]
    return "\n".join(parts) + "\n"


def update_card(text: str, section: str, *, start: str = CARD_START, end: str = CARD_END,
                heading: str = "## Evaluation") -> str:
    """``text`` (a model card) with its evaluation region (or another marked region) replaced by ``section``.

    The region lies between the marker comments; a card without them gets them around the
    body of its ``heading`` section, and a card without that section gets one appended.
    """
    block = f"{start}\n{section.rstrip()}\n{end}"
    if start in text and end in text:
        first, last = text.index(start), text.index(end) + len(end)
        return text[:first] + block + text[last:]
    match = re.search(rf"^{re.escape(heading)}[ \t]*\n", text, flags=re.M)
    if match is None:
        return text.rstrip("\n") + f"\n\n{heading}\n\n" + block + "\n"
    following = re.search(r"^## ", text[match.end():], flags=re.M)
    stop = match.end() + following.start() if following else len(text)
    return text[: match.end()] + "\n" + block + "\n\n" + text[stop:]


__all__ = ["CARD_END", "CARD_START", "DISPLAY_NAMES", "DIT_FIT_END", "DIT_FIT_HEADING", "DIT_FIT_START",
           "dit_fit_markdown", "family_table", "identification_table", "results_markdown", "table3", "table5",
           "targets", "update_card"]
