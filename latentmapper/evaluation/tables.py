"""Markdown tables from the results JSON (paper Tables 3 and 5), and their place in a model card.

The text is a pure function of the results (and, when given, the details) file: the same
JSON always gives the same bytes, so the tables can be regenerated at any time with
``python train/evaluate.py --category car --tables-only``. Systems appear in a fixed
order (the issue's five, then any other rows, e.g. GOEmbed's, by name); a missing value
prints as ``-``.
"""

from __future__ import annotations

import re

from .views import VIEW_SETS

DISPLAY_NAMES = {
    "latentmapper": "3D-LatentMapper",
    "imnet": "IM-NET-style (ResNet -> DIT latent)",
    "atlasnet25": "AtlasNet-25",
    "nearest_neighbour": "Nearest neighbour (CLIP)",
    "oracle": "Oracle (DIT latent fitted to the shape)",
    "goembed": "GOEmbed (1 view)",
    "goembed_3views": "GOEmbed (3 views)",
}
ORDER = ("latentmapper", "imnet", "atlasnet25", "nearest_neighbour", "oracle")
SET_TITLES = {"fixed_view": "fixed view (yaw 0)", "nine_views": "9 training views", "unseen_views": "unseen views"}
TARGET_RATIO_IMNET = 0.7
TARGET_RATIO_UNSEEN = 1.25
CARD_START = "<!-- latentmapper-evaluation:start -->"
CARD_END = "<!-- latentmapper-evaluation:end -->"


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


def results_markdown(results: dict, details: dict | None = None, category: str | None = None) -> str:
    """The evaluation section's text: Table 3, Table 5, targets and (with details) the view spread."""
    detail = (details or {}).get("systems", {})
    counts = sorted({detail[n]["shapes"] for n in ordered_systems(results.get("systems", {}))
                     if isinstance(detail.get(n), dict) and detail[n].get("shapes") is not None})
    subject = f"the {category} test split" if category else "the test split"
    shapes = f", {'/'.join(str(c) for c in counts)} shapes" if counts else ""
    parts = [
        f"Single-view reconstruction on {subject}{shapes} (paper Table 3). Chamfer distance x10^3 (mean squared "
        "nearest-neighbour distance both ways, 5000 points) and EMD x10^2 (exact matching of 1024 points), in the "
        "unit-sphere frame; inputs are the fixed view (yaw 0), the 9 training views (yaw 0-240, elevation 20) and "
        "unseen views (yaws between those, elevation +-10 degrees). Empty predictions are left out of the means "
        "(counted below). The oracle fits the DIT latent to the shape itself and sees no image.",
        "",
        table3(results),
        "",
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
    return "\n".join(parts) + "\n"


def update_card(text: str, section: str) -> str:
    """``text`` (a model card) with its evaluation region replaced by ``section``.

    The region lies between the marker comments; a card without them gets them around the
    body of its ``## Evaluation`` section, and a card without that section gets one appended.
    """
    block = f"{CARD_START}\n{section.rstrip()}\n{CARD_END}"
    if CARD_START in text and CARD_END in text:
        start, end = text.index(CARD_START), text.index(CARD_END) + len(CARD_END)
        return text[:start] + block + text[end:]
    match = re.search(r"^## Evaluation[ \t]*\n", text, flags=re.M)
    if match is None:
        return text.rstrip("\n") + "\n\n## Evaluation\n\n" + block + "\n"
    following = re.search(r"^## ", text[match.end():], flags=re.M)
    end = match.end() + following.start() if following else len(text)
    return text[: match.end()] + "\n" + block + "\n\n" + text[end:]


__all__ = ["CARD_END", "CARD_START", "DISPLAY_NAMES", "results_markdown", "table3", "table5", "targets",
           "update_card"]
