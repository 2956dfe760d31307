"""Procedural cars: a side-silhouette body, a glass cabin, wheels in arches, lights, trim.

Frame: y up, the front towards -z, x sideways, ground at y = 0 before centring; all
lengths are fractions of the car's length (about 2 units). The body and cabin are
extruded side profiles (rounded), which is what lets one builder make sedans, hatchbacks,
SUVs, pickups, sports cars and vans by moving a handful of profile points; the beetle is
built from ellipsoids instead. Glass is the cabin surface inside window regions, grown by a
hair so that it wins the part vote there while the geometry stays one solid.
"""

from __future__ import annotations

import numpy as np

from .. import sdf_ops as ops
from .base import Params, ProceduralShape, assemble

SUBTYPES: tuple[str, ...] = ("sedan", "hatchback", "suv", "pickup", "sports", "van", "beetle")
PART_NAMES: tuple[str, ...] = ("paint", "window", "tyre", "rim", "headlight", "taillight", "trim")

PAINTS: dict[str, tuple[int, int, int]] = {
    "red": (178, 28, 34),
    "dark red": (110, 18, 24),
    "blue": (36, 82, 178),
    "dark blue": (24, 36, 88),
    "light blue": (120, 170, 215),
    "white": (236, 236, 234),
    "black": (28, 28, 30),
    "silver": (192, 194, 198),
    "grey": (118, 120, 124),
    "yellow": (236, 196, 38),
    "green": (38, 118, 62),
    "orange": (230, 108, 28),
}
_PAINT_WEIGHTS = {"white": 3, "black": 3, "silver": 3, "grey": 2, "red": 2, "blue": 2}
FIXED_COLORS = {
    "window": (46, 56, 72),
    "tyre": (26, 26, 28),
    "rim": (186, 188, 194),
    "headlight": (246, 240, 196),
    "taillight": (196, 28, 30),
    "trim": (36, 36, 40),
}

# Per sub-type ranges (fractions of the length). Profile stations run from the front (0) to
# the back (1): windshield base, roof front, roof rear, rear-glass base.
_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "sedan": dict(
        width=(0.38, 0.42), height=(0.28, 0.31), wheel=(0.063, 0.07), clearance=(0.028, 0.04),
        belt=(0.175, 0.195), hood_drop=(0.02, 0.04), tail_drop=(0.0, 0.02), windshield=(0.33, 0.37),
        roof_front=(0.46, 0.5), roof_rear=(0.68, 0.72), rear_glass=(0.81, 0.85), cabin_width=(0.84, 0.9),
        roundness=(0.025, 0.045), overhang_front=(0.18, 0.21), overhang_rear=(0.2, 0.24),
    ),
    "hatchback": dict(
        width=(0.42, 0.45), height=(0.35, 0.38), wheel=(0.072, 0.08), clearance=(0.035, 0.045),
        belt=(0.205, 0.225), hood_drop=(0.03, 0.05), tail_drop=(0.0, 0.01), windshield=(0.3, 0.34),
        roof_front=(0.45, 0.49), roof_rear=(0.77, 0.82), rear_glass=(0.94, 0.97), cabin_width=(0.86, 0.92),
        roundness=(0.03, 0.05), overhang_front=(0.16, 0.19), overhang_rear=(0.13, 0.16),
    ),
    "suv": dict(
        width=(0.4, 0.43), height=(0.38, 0.42), wheel=(0.085, 0.092), clearance=(0.06, 0.075),
        belt=(0.255, 0.28), hood_drop=(0.01, 0.025), tail_drop=(0.0, 0.005), windshield=(0.28, 0.31),
        roof_front=(0.39, 0.42), roof_rear=(0.9, 0.93), rear_glass=(0.955, 0.975), cabin_width=(0.88, 0.93),
        roundness=(0.02, 0.035), overhang_front=(0.16, 0.19), overhang_rear=(0.15, 0.18),
    ),
    "pickup": dict(
        width=(0.36, 0.39), height=(0.33, 0.36), wheel=(0.075, 0.085), clearance=(0.06, 0.075),
        belt=(0.215, 0.235), hood_drop=(0.015, 0.03), tail_drop=(0.0, 0.0), windshield=(0.26, 0.29),
        roof_front=(0.36, 0.39), roof_rear=(0.5, 0.56), rear_glass=(0.53, 0.58), cabin_width=(0.88, 0.93),
        roundness=(0.015, 0.03), overhang_front=(0.15, 0.18), overhang_rear=(0.17, 0.2),
    ),
    "sports": dict(
        width=(0.43, 0.46), height=(0.24, 0.265), wheel=(0.07, 0.075), clearance=(0.022, 0.03),
        belt=(0.145, 0.16), hood_drop=(0.05, 0.065), tail_drop=(0.0, 0.015), windshield=(0.38, 0.43),
        roof_front=(0.54, 0.58), roof_rear=(0.65, 0.69), rear_glass=(0.85, 0.89), cabin_width=(0.78, 0.86),
        roundness=(0.035, 0.05), overhang_front=(0.18, 0.21), overhang_rear=(0.16, 0.19),
    ),
    "van": dict(
        width=(0.38, 0.41), height=(0.4, 0.45), wheel=(0.065, 0.072), clearance=(0.04, 0.05),
        belt=(0.215, 0.235), hood_drop=(0.02, 0.04), tail_drop=(0.0, 0.0), windshield=(0.1, 0.15),
        roof_front=(0.22, 0.27), roof_rear=(0.975, 0.985), rear_glass=(0.99, 0.995), cabin_width=(0.94, 0.97),
        roundness=(0.02, 0.035), overhang_front=(0.12, 0.15), overhang_rear=(0.15, 0.2),
    ),
    "beetle": dict(
        width=(0.4, 0.43), height=(0.37, 0.4), wheel=(0.074, 0.082), clearance=(0.045, 0.055),
        belt=(0.21, 0.23), windshield=(0.3, 0.34), roof_front=(0.4, 0.44), roof_rear=(0.62, 0.66),
        rear_glass=(0.76, 0.8), cabin_width=(0.7, 0.76), roundness=(0.0, 1.0),
        overhang_front=(0.17, 0.2), overhang_rear=(0.2, 0.23),
    ),
}


def sample_params(subtype: str, seed: int) -> dict:
    """Draw every parameter of a car of ``subtype`` from ``seed`` (a plain JSON dict)."""
    rng = np.random.default_rng(seed)
    draw = Params(rng, {"subtype": subtype, "seed": int(seed)})
    draw.uniform("length", 1.9, 2.05)
    for name, (lo, hi) in _RANGES[subtype].items():
        draw.uniform(name, lo, hi)
    names = list(PAINTS)
    draw.choice("color", names, [_PAINT_WEIGHTS.get(n, 1) for n in names])
    draw.uniform("tyre_width", 0.042, 0.05)
    six = subtype in ("pickup", "van") and rng.random() < 0.35
    draw.set("num_wheels", 6 if six else 4)
    draw.flag("spoiler", {"sports": 0.6, "sedan": 0.25, "hatchback": 0.2}.get(subtype, 0.0))
    draw.flag("black_trim", 0.5)
    draw.set("bed_cover", subtype == "pickup" and bool(rng.random() < 0.2))
    draw.set("side_windows", not (subtype == "van" and rng.random() < 0.4))
    draw.set("spare_wheel", subtype == "suv" and bool(rng.random() < 0.4))
    return draw.params


def _profile(z_y: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Side-view points given as (z, y) -> the (y, z) order an x-extrusion expects."""
    return [(y, z) for z, y in z_y]


def _mirror(node: ops.SDF, x: float, y: float, z: float) -> ops.SDF:
    return ops.MirrorX(node.translate(x, y, z))


def build(params: dict) -> ProceduralShape:
    """Rebuild a car from its parameters."""
    p = dict(params)
    subtype = p["subtype"]
    L = p["length"]
    W = p["width"] * L
    H = p["height"] * L
    R = p["wheel"] * L
    tw = p["tyre_width"]
    clear = p["clearance"] * L
    belt = p["belt"] * L
    rnd = p["roundness"] * L
    zf, zr = -L / 2, L / 2

    def station(name: str) -> float:
        return zf + p[name] * L

    z_ws, z_rf, z_rr, z_rg = (station(n) for n in ("windshield", "roof_front", "roof_rear", "rear_glass"))
    front_axle = zf + p["overhang_front"] * L
    rear_axle = zr - p["overhang_rear"] * L
    axles = [front_axle, rear_axle]
    if p["num_wheels"] == 6:
        axles = [front_axle, rear_axle - 2.25 * R, rear_axle]
    wheel_x = W / 2 - tw + 0.012

    parts: dict[str, ops.SDF] = {}
    if subtype == "beetle":
        body, cabin, lights = _beetle_body(p, L, W, H, R, tw, clear, belt, axles, wheel_x)
        parts.update(lights)
        deck_y = belt
    else:
        yn = belt - p["hood_drop"] * L
        ytail = belt - p["tail_drop"] * L
        deck_y = ytail
        body_outline = [
            (zf + 0.07, clear), (zf, clear + 0.35 * (yn - clear)), (zf, yn - 0.035), (zf + 0.05, yn),
            (z_ws, belt), *([(z_rg, belt)] if z_rg < zr - 0.08 else []), (zr - 0.04, ytail),
            (zr, ytail - 0.04), (zr, clear + 0.05), (zr - 0.07, clear),
        ]
        body = ops.Prism(_profile(body_outline), W / 2, "x", corner=0.3 * rnd, rounding=rnd)
        if subtype == "pickup":
            body = _pickup_bed(body, p, W, clear, belt, z_rg, zr)
        cabin_outline = [(z_ws, belt - 0.04), (z_rf, H), (z_rr, H), (z_rg, belt - 0.04)]
        cabin_half = W / 2 * p["cabin_width"]
        cabin_round = min(rnd * 1.6, 0.07)
        cabin = ops.Prism(_profile(cabin_outline), cabin_half, "x", corner=0.3 * cabin_round, rounding=cabin_round)
        slope = 0.22  # tumblehome: the cabin's sides lean inwards towards the roof
        lean = ops.MirrorX(ops.HalfSpace((1.0, slope, 0.0), cabin_half + slope * belt))
        cabin = ops.SmoothIntersection(cabin, lean, k=0.02)
        parts["headlight"] = _mirror(ops.Ellipsoid((0.075, 0.028, 0.04)), W / 2 - rnd - 0.09, yn - 0.05, zf + 0.012)
        parts["taillight"] = _mirror(ops.Ellipsoid((0.07, 0.03, 0.035)), W / 2 - rnd - 0.08, ytail - 0.06, zr - 0.01)
        grille = ops.Box((W * 0.2, 0.032, 0.03), rounding=0.01).translate(0.0, yn - 0.085, zf + 0.012)
        parts["trim"] = grille
    cabin = ops.Shared(cabin)

    arch = ops.Cylinder(R + 0.028, 0.4, "x")
    arches = ops.MirrorX(ops.Instances(arch, [(wheel_x - 0.5 * tw + 0.4, R, z) for z in axles]))
    paint = ops.SmoothSubtraction(ops.SmoothUnion(body, cabin, k=0.03), arches, k=0.015)

    tyre = ops.Cylinder(R, tw, "x", rounding=0.35 * tw)
    rim = ops.Cylinder(0.6 * R, tw + 0.006, "x", rounding=0.01)
    centers = [(wheel_x, R, z) for z in axles]
    parts["tyre"] = ops.MirrorX(ops.Instances(tyre, centers))
    parts["rim"] = ops.MirrorX(ops.Instances(rim, centers))
    if p["spare_wheel"]:  # on the tailgate, facing backwards
        at = (0.0, belt - 0.01, zr + tw - 0.01)
        parts["tyre"] = ops.Union(parts["tyre"], ops.Cylinder(R * 0.92, tw, "z", 0.35 * tw).translate(*at))
        parts["rim"] = ops.Union(parts["rim"], ops.Cylinder(0.55 * R, tw + 0.006, "z", 0.01).translate(*at))

    if p["spoiler"]:
        zs = zr - 0.09
        wing = ops.Box((W * 0.42, 0.025, 0.055), rounding=0.012).translate(0.0, deck_y + 0.08, zs)
        struts = _mirror(ops.Box((0.025, 0.07, 0.03)), W * 0.28, deck_y + 0.02, zs)  # rooted deep in the deck
        spoiler = ops.Union(wing, struts)
        if p["black_trim"]:
            parts["trim"] = ops.Union(parts["trim"], spoiler) if "trim" in parts else spoiler
        else:
            paint = ops.Union(paint, spoiler)

    parts["paint"] = paint
    glass = _window_region(p, subtype, W, H, belt, z_ws, z_rf, z_rr, z_rg)
    parts["window"] = ops.Intersection(cabin.offset(0.004), glass)

    colors = dict(FIXED_COLORS, paint=PAINTS[p["color"]])
    return assemble("car", p, PART_NAMES, parts, colors, caption(p))


def _pickup_bed(body: ops.SDF, p: dict, W: float, clear: float, belt: float, z_cab: float, zr: float) -> ops.SDF:
    """Carve the open cargo bed behind the cab (or leave a flat tonneau cover)."""
    if p["bed_cover"]:
        return body
    wall = 0.05
    floor = clear + 0.45 * (belt - clear)
    z0, z1 = z_cab + 0.04, zr - wall
    bed = ops.Box(((W / 2 - wall), 0.5, (z1 - z0) / 2), rounding=0.015).translate(0.0, floor + 0.5, (z0 + z1) / 2)
    return ops.Subtraction(body, bed)


def _beetle_body(p, L, W, H, R, tw, clear, belt, axles, wheel_x):
    """A rounded beetle: an ellipsoidal shell and cabin dome, bulging fenders, running boards."""
    roundness = p["roundness"]
    y0 = clear + 0.25 * (belt - clear)
    # a long ellipsoid cut square at both ends: a blunt rounded nose and tail, not a torpedo
    shell = ops.Ellipsoid((W / 2 * 0.86, belt - y0 + 0.05 + 0.03 * roundness, L / 2 * 1.15)).translate(0.0, y0, 0.0)
    ends = ops.Box((1.0, 1.0, L / 2))
    shell = ops.SmoothIntersection(shell, ends, ops.HalfSpace((0.0, -1.0, 0.0), -clear), k=0.05)
    zc = -L / 2 + 0.5 * (p["windshield"] + p["rear_glass"]) * L
    lc = 0.5 * (p["rear_glass"] - p["windshield"]) * L
    dome = ops.Ellipsoid((W / 2 * p["cabin_width"], H - belt + 0.12, lc + 0.05)).translate(0.0, belt - 0.12, zc)
    cabin = ops.SmoothIntersection(dome, ops.HalfSpace((0.0, -1.0, 0.0), -(belt - 0.1)), k=0.02)
    fw = tw * 1.25
    fender = ops.Ellipsoid((fw, R * 1.05, R * 1.75))
    fenders = ops.MirrorX(ops.Instances(fender, [(wheel_x - 0.2 * tw, R * 1.1, z) for z in axles]))
    board = ops.Box((0.05, 0.025, (axles[-1] - axles[0]) / 2), rounding=0.012)
    boards = ops.MirrorX(board.translate(W / 2 - 0.09, clear + 0.06, (axles[0] + axles[-1]) / 2))
    body = ops.SmoothUnion(shell, fenders, boards, k=0.06 + 0.04 * roundness)
    zl = axles[0] - R * 1.2
    lights = {
        "headlight": _mirror(ops.Ellipsoid((0.045, 0.045, 0.04)), wheel_x - 0.2 * tw, R * 1.1 + R * 0.72, zl),
        "taillight": _mirror(
            ops.Ellipsoid((0.035, 0.05, 0.035)), wheel_x - 0.2 * tw, R * 1.1 + R * 0.7, axles[-1] + R * 1.2
        ),
        "trim": ops.Box((W * 0.3, 0.02, 0.03), rounding=0.01).translate(0.0, clear + 0.1, -L / 2 + 0.02),
    }
    return body, cabin, lights


def _window_region(p, subtype, W, H, belt, z_ws, z_rf, z_rr, z_rg) -> ops.SDF:
    """Where the cabin surface is glass: windshield and rear glass in the middle, side windows
    between the pillars, all in a band between the beltline and the roof."""
    lo, hi = belt + 0.018, H - (0.075 if subtype == "beetle" else 0.035)
    band_c, band_h = (lo + hi) / 2, (hi - lo) / 2
    inner = W / 2 * p["cabin_width"] - 0.07 - 0.22 * (hi - belt)
    front_back = ops.Box((inner, band_h, 2.0)).translate(0.0, band_c, 0.0)
    z0, z1 = (z_ws + z_rf) / 2 + 0.02, (z_rr + z_rg) / 2 - 0.02
    if subtype == "van" and not p["side_windows"]:
        z1 = z_rf + 0.12  # cargo van: only the cab has side windows
    side = ops.MirrorX(ops.Box((0.3, band_h, (z1 - z0) / 2)).translate(inner + 0.3, band_c, (z0 + z1) / 2))
    pillars = [z0 + (z1 - z0) * f for f in ((0.5,) if z1 - z0 < 0.75 else (0.36, 0.68))]
    if subtype == "van" and not p["side_windows"]:
        pillars = []
    for zp in pillars:
        side = ops.Subtraction(side, ops.Box((2.0, 1.0, 0.022)).translate(0.0, band_c, zp))
    return ops.Union(front_back, side)


_NAMES = {"sedan": "sedan", "hatchback": "hatchback", "suv": "SUV", "pickup": "pickup truck",
          "sports": "sports car", "van": "van", "beetle": "beetle"}


def caption(p: dict) -> str:
    """A short natural description built from the parameters."""
    subtype, color = p["subtype"], p["color"]
    extras = []
    if subtype == "pickup":
        extras.append("a covered bed" if p["bed_cover"] else "an open bed")
    if subtype == "van" and not p["side_windows"]:
        extras.append("no rear side windows")
    if p["num_wheels"] == 6:
        extras.append("six wheels")
    if p["spoiler"]:
        extras.append("a rear spoiler")
    if subtype == "suv" and p["clearance"] > 0.068:
        extras.append("high ground clearance")
    if p["spare_wheel"]:
        extras.append("a spare wheel on the back")
    noun = "round beetle-like car" if subtype == "beetle" else _NAMES[subtype]
    article = "an" if color[0] in "aeiou" else "a"
    text = f"{article} {color} {noun}"
    if extras:
        text += " with " + (extras[0] if len(extras) == 1 else ", ".join(extras[:-1]) + " and " + extras[-1])
    return text
