"""Procedural airplanes: fuselage of round cones, airfoil-section wings and tails, engines.

Frame: y up, the nose towards -z, wings along x, fuselage axis on y = 0 before centring.
Lengths are drawn so that the larger of fuselage length and wingspan is about 2 units,
and every lifting surface keeps a thickness of at least ``MIN_THICKNESS`` so that it
survives 128^3 marching cubes after normalisation to the unit sphere.
"""

from __future__ import annotations

import math

import numpy as np

from .. import sdf_ops as ops
from .base import Params, ProceduralShape, assemble

SUBTYPES: tuple[str, ...] = ("airliner", "propeller", "fighter", "glider", "business_jet", "cargo")
PART_NAMES: tuple[str, ...] = ("fuselage", "wing", "tail", "engine", "intake", "window", "propeller", "store")
MIN_THICKNESS = 0.056  # glider surfaces use GLIDER_THICKNESS (the shape is smaller in its sphere)
GLIDER_THICKNESS = 0.05

COLORS: dict[str, tuple[int, int, int]] = {
    "white": (238, 238, 236),
    "light grey": (204, 206, 210),
    "grey": (142, 146, 152),
    "dark grey": (82, 86, 92),
    "silver": (190, 193, 198),
    "blue": (34, 80, 172),
    "dark blue": (22, 34, 92),
    "light blue": (118, 168, 214),
    "red": (182, 30, 36),
    "orange": (228, 110, 30),
    "yellow": (234, 196, 40),
    "green": (40, 116, 62),
    "dark green": (62, 78, 52),
    "tan": (176, 156, 118),
}
FIXED_COLORS = {
    "engine": (150, 153, 160),
    "intake": (40, 42, 48),
    "window": (40, 50, 66),
    "propeller": (52, 52, 56),
    "store": (214, 216, 220),
}
_LIVERIES = ("blue", "dark blue", "red", "orange", "green", "yellow", "light blue")


def _body_colors(draw: Params, subtype: str) -> None:
    """Main, wing and tail (livery) colours, by sub-type."""
    if subtype == "fighter":
        main = draw.choice("color", ["grey", "dark grey", "light grey", "dark green", "tan"], [4, 3, 2, 2, 1])
        draw.set("wing_color", main)
        draw.set("tail_color", main)
        return
    if subtype == "cargo":
        main = draw.choice("color", ["grey", "dark green", "white", "light grey", "dark grey"], [4, 2, 2, 2, 1])
        draw.set("wing_color", main)
        draw.set("tail_color", main)
        return
    if subtype == "glider":
        draw.choice("color", ["white", "light grey"], [5, 1])
        draw.set("wing_color", draw.params["color"])
        draw.choice("tail_color", ["white", "red", "orange"], [3, 1, 1])
        return
    main = draw.choice("color", ["white", "light grey", "silver", *_LIVERIES], [8, 2, 1, 1, 1, 1, 1, 1, 1, 1])
    draw.choice("wing_color", ["light grey", "silver", "white"], [3, 1, 1])
    tail = draw.choice("tail_color", list(_LIVERIES) + ["white"], [2, 2, 2, 1, 1, 1, 1, 1])
    if main not in ("white", "light grey", "silver") and tail == main:
        draw.set("tail_color", "white")


# Continuous ranges per sub-type (lengths are fractions of the fuselage length, radius
# multiples where noted, angles in degrees). A range (v, v) fixes a value.
_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "airliner": dict(
        span_ratio=(0.88, 1.08), radius=(0.05, 0.06), nose=(1.6, 2.2), tail_cone=(3.4, 4.4), upsweep=(0.35, 0.6),
        root_chord=(0.16, 0.2), taper=(0.24, 0.34), sweep=(24, 36), dihedral=(4, 7), wing_height=(-0.55, -0.55),
        wing_pos=(0.46, 0.52), engine_radius=(0.032, 0.042), tailplane_span=(0.32, 0.4), fin_height=(0.14, 0.17),
        fin_sweep=(34, 42),
    ),
    "propeller": dict(
        span_ratio=(1.05, 1.22), radius=(0.045, 0.055), nose=(1.4, 1.9), tail_cone=(3.0, 3.8), upsweep=(0.35, 0.55),
        root_chord=(0.1, 0.125), taper=(0.5, 0.65), sweep=(0, 5), wing_pos=(0.4, 0.46), engine_radius=(0.026, 0.032),
        prop_radius=(0.07, 0.09), tailplane_span=(0.3, 0.36), fin_height=(0.15, 0.18), fin_sweep=(25, 40),
    ),
    "fighter": dict(
        span_ratio=(0.55, 0.7), radius=(0.045, 0.055), nose=(4.0, 5.0), tail_cone=(1.2, 1.8), upsweep=(0.0, 0.05),
        dihedral=(-3, 0), wing_height=(-0.2, 0.1), fin_sweep=(40, 52), tailplane_span=(0.38, 0.46),
    ),
    "glider": dict(
        span_ratio=(2.1, 2.5), radius=(0.05, 0.058), nose=(1.5, 2.0), tail_cone=(0.0, 0.0), upsweep=(0.0, 0.0),
        root_chord=(0.13, 0.16), taper=(0.4, 0.5), sweep=(-1, 2), dihedral=(2.5, 5), wing_height=(0.5, 0.7),
        wing_pos=(0.33, 0.38), tailplane_span=(0.16, 0.2), fin_height=(0.17, 0.21), fin_sweep=(15, 28),
    ),
    "business_jet": dict(
        span_ratio=(0.85, 1.0), radius=(0.05, 0.06), nose=(2.4, 3.0), tail_cone=(3.0, 3.8), upsweep=(0.3, 0.5),
        root_chord=(0.17, 0.21), taper=(0.3, 0.42), sweep=(24, 34), dihedral=(3, 6), wing_height=(-0.6, -0.6),
        wing_pos=(0.5, 0.56), engine_radius=(0.028, 0.034), tailplane_span=(0.3, 0.38), fin_height=(0.15, 0.18),
        fin_sweep=(38, 50),
    ),
    "cargo": dict(
        span_ratio=(1.0, 1.15), radius=(0.065, 0.08), nose=(1.3, 1.7), tail_cone=(3.0, 3.8), upsweep=(0.7, 1.0),
        root_chord=(0.15, 0.18), taper=(0.3, 0.42), sweep=(14, 26), dihedral=(-4, -1), wing_height=(0.88, 0.88),
        wing_pos=(0.42, 0.47), engine_radius=(0.03, 0.038), tailplane_span=(0.3, 0.38), fin_height=(0.16, 0.2),
        fin_sweep=(30, 42),
    ),
}


def sample_params(subtype: str, seed: int) -> dict:
    """Draw every parameter of an airplane of ``subtype`` from ``seed`` (a plain JSON dict)."""
    rng = np.random.default_rng(seed)
    d = Params(rng, {"subtype": subtype, "seed": int(seed)})
    for name, (lo, hi) in _RANGES[subtype].items():
        d.uniform(name, lo, hi)
    if subtype == "airliner":
        d.set("engines", 4 if rng.random() < 0.35 else 2)
        d.set("t_tail", False)
    elif subtype == "propeller":
        high = d.flag("high_wing", 0.65)
        d.uniform("dihedral", *((0, 2.5) if high else (4, 6)))
        d.set("wing_height", 0.78 if high else -0.55)
        d.set("engines", 4 if rng.random() < 0.2 else 2)
        d.set("blades", int(rng.choice([3, 4, 6])))
        d.flag("t_tail", 0.5)
    elif subtype == "fighter":
        delta = d.flag("delta", 0.5)
        if delta:
            ranges = dict(root_chord=(0.44, 0.54), taper=(0.06, 0.1), sweep=(50, 60), wing_pos=(0.6, 0.66))
        else:
            ranges = dict(root_chord=(0.28, 0.34), taper=(0.22, 0.32), sweep=(36, 46), wing_pos=(0.58, 0.64))
        for name, (lo, hi) in ranges.items():
            d.uniform(name, lo, hi)
        d.set("engines", 2 if rng.random() < 0.5 else 1)
        twin = d.flag("twin_fins", 0.75)
        if twin:  # twin fins lean outwards and are shorter
            d.uniform("fin_cant", 12, 25)
            d.uniform("fin_height", 0.13, 0.16)
        else:
            d.set("fin_cant", 0.0)
            d.uniform("fin_height", 0.15, 0.19)
        d.flag("stores", 0.6)
        d.flag("canards", 0.3 if delta else 0.0)
    elif subtype == "glider":
        d.set("engines", 0)
        d.set("t_tail", True)
    elif subtype == "business_jet":
        d.set("engines", 2)
        d.set("t_tail", True)
    elif subtype == "cargo":
        d.set("engines", 4 if rng.random() < 0.7 else 2)
        d.flag("t_tail", 0.7)
    # the longer of fuselage and span is about 2 units
    biggest = d.uniform("size", 1.9, 2.05)
    d.set("length", round(biggest / max(1.0, d.params["span_ratio"]), 4))
    _body_colors(d, subtype)
    return d.params


class _Wing:
    """Placement of a mirrored wing: where a station along the span sits (for engines, stores)."""

    def __init__(self, half_span, root_chord, tip_chord, sweep_deg, dihedral_deg, y, z, tmin, rel_thick=0.12):
        self.s, self.cr, self.ct, self.y, self.z = half_span, root_chord, tip_chord, y, z
        self.rise = half_span * math.tan(math.radians(dihedral_deg))
        self.offset = half_span * math.tan(math.radians(sweep_deg)) + (max(tip_chord, 1.6 * tmin) - root_chord) / 2
        self.tr = max(rel_thick * root_chord, tmin)
        self.tt = max(rel_thick * tip_chord, tmin)
        self.ct = max(tip_chord, 1.6 * self.tt)  # a tip never thinner in chord than in thickness

    def node(self) -> ops.SDF:
        wing = ops.Wing(self.s, self.cr, self.ct, self.tr, self.tt, self.offset, self.rise)
        return ops.MirrorX(wing.translate(0.0, self.y, self.z))

    def station(self, eta: float) -> tuple[float, float, float, float, float]:
        """(x, y, leading-edge z, chord, thickness) at fraction ``eta`` of the half span."""
        chord = self.cr + (self.ct - self.cr) * eta
        z_le = self.z + self.offset * eta - chord / 2
        return eta * self.s, self.y + self.rise * eta, z_le, chord, self.tr + (self.tt - self.tr) * eta


def _fin(height, root_chord, tip_chord, sweep_deg, tmin, cant_deg=0.0) -> ops.SDF:
    """A vertical surface rooted at the origin, growing along +y (leaning out by ``cant_deg``)."""
    thick_r, thick_t = max(0.11 * root_chord, tmin), max(0.11 * tip_chord, tmin)
    tip_chord = max(tip_chord, 1.6 * thick_t)
    offset = height * math.tan(math.radians(sweep_deg)) + (tip_chord - root_chord) / 2
    fin = ops.Wing(height, root_chord, tip_chord, thick_r, thick_t, offset, 0.0, te_ratio=0.7)
    return fin.rotate("z", 90.0 - cant_deg)


def _jet_nacelle(radius: float, length: float) -> ops.SDF:
    """A turbofan pod centred on the origin along z: rounded cylinder and a tapered exhaust."""
    pod = ops.Cylinder(radius, length * 0.36, "z", rounding=0.22 * radius).translate(0.0, 0.0, -0.14 * length)
    exhaust = ops.Frustum(0.86 * radius, 0.5 * radius, 0.16 * length, "z").translate(0.0, 0.0, 0.36 * length)
    return ops.Union(pod, exhaust)


def _jet_intake(radius: float, length: float) -> ops.SDF:
    return ops.Cylinder(0.7 * radius, 0.012, "z").translate(0.0, 0.0, -0.5 * length - 0.004)


def build(params: dict) -> ProceduralShape:
    """Rebuild an airplane from its parameters."""
    p = dict(params)
    sub = p["subtype"]
    L = p["length"]
    span = L * p["span_ratio"]
    rf = p["radius"] * L
    tmin = GLIDER_THICKNESS if sub == "glider" else MIN_THICKNESS
    zn, zt = -L / 2, L / 2
    parts: dict[str, list[ops.SDF]] = {name: [] for name in PART_NAMES}

    # --- fuselage -------------------------------------------------------------------------
    nose_len = p["nose"] * rf
    if sub == "fighter":
        tip_r = 0.03
    elif sub == "glider":
        tip_r = 0.45 * rf
    else:
        tip_r = 0.3 * rf if sub != "business_jet" else 0.2 * rf
    nose = ops.RoundCone((0.0, -0.12 * rf, zn + tip_r), (0.0, 0.0, zn + nose_len), tip_r, rf)
    if sub == "glider":
        pod_end = zn + 0.36 * L
        boom_r = 0.5 * tmin + 0.004
        fuselage = ops.Union(
            nose,
            ops.RoundCone((0.0, 0.0, zn + nose_len), (0.0, 0.0, pod_end), rf, rf * 0.9),
            ops.RoundCone((0.0, 0.0, pod_end), (0.0, 0.25 * rf, zt - boom_r), rf * 0.9, boom_r),
        )
    else:
        tail_len = p["tail_cone"] * rf
        z_tail0 = zt - tail_len
        tail_r = 0.72 * rf if sub == "fighter" else max(0.22 * rf, 0.5 * tmin)
        main = ops.Capsule((0.0, 0.0, zn + nose_len), (0.0, 0.0, z_tail0), rf)
        tail = ops.RoundCone((0.0, 0.0, z_tail0), (0.0, p["upsweep"] * rf, zt - tail_r), rf, tail_r)
        fuselage = ops.Union(nose, main, tail)
    fuselage = ops.Shared(fuselage)
    parts["fuselage"].append(fuselage)

    # --- wings ----------------------------------------------------------------------------
    cr = p["root_chord"] * L
    ct = cr * p["taper"]
    wing_y = p["wing_height"] * rf
    wing_z = zn + p["wing_pos"] * L
    rel = 0.13 if sub in ("propeller", "cargo", "glider") else 0.11
    wing = _Wing(span / 2, cr, ct, p["sweep"], p["dihedral"], wing_y, wing_z, tmin, rel)
    parts["wing"].append(wing.node())
    if sub in ("cargo", "propeller") and p["wing_height"] > 0:
        # a fairing blends the high wing into the top of the fuselage
        fairing = ops.Ellipsoid((rf * 0.7, rf * 0.55, cr * 0.75)).translate(0.0, wing_y - 0.15 * rf, wing_z)
        parts["fuselage"].append(fairing)

    # --- tail -----------------------------------------------------------------------------
    _tail(p, sub, parts, L, span, rf, tmin, zt)

    # --- engines, propellers, stores, canopy ------------------------------------------------
    if sub in ("airliner", "cargo"):
        _underwing_jets(p, parts, wing, rf)
    elif sub == "propeller":
        _turboprops(p, parts, wing, rf)
    elif sub == "business_jet":
        _rear_jets(p, parts, L, rf, zt)
    elif sub == "fighter":
        _fighter_details(p, parts, wing, L, rf, zn, zt, nose_len, tmin)
    if sub == "cargo":
        pod = ops.Ellipsoid((rf * 0.35, rf * 0.42, 0.16 * L)).translate(rf * 0.8, -0.62 * rf, wing_z + 0.02 * L)
        parts["fuselage"].append(ops.MirrorX(pod))

    windows = _windows(p, sub, fuselage, L, rf, zn, nose_len)
    if windows is not None:
        parts["window"].append(windows)

    nodes = {name: (items[0] if len(items) == 1 else ops.Union(*items)) for name, items in parts.items() if items}
    # engines, propellers and stores are small and made of many primitives: skip them far away
    nodes = {k: (ops.Bounded(v) if k in ("engine", "intake", "propeller", "store") else v) for k, v in nodes.items()}
    colors = dict(FIXED_COLORS, fuselage=COLORS[p["color"]], wing=COLORS[p["wing_color"]], tail=COLORS[p["tail_color"]])
    if sub in ("fighter", "cargo"):
        colors["engine"] = tuple(int(c * 0.8) for c in COLORS[p["color"]])
    return assemble("airplane", p, PART_NAMES, nodes, colors, caption(p))


def _tail(p, sub, parts, L, span, rf, tmin, zt) -> None:
    """Fin(s) and tailplane; a T-tail puts the tailplane on the fin's tip."""
    fin_h = p["fin_height"] * L
    fin_cr = (0.2 if sub == "fighter" else 0.15) * L
    fin_ct = fin_cr * (0.35 if sub != "glider" else 0.55)
    fin_root_z = zt - 0.5 * fin_cr - (0.05 * L if sub == "fighter" else 0.02 * L)
    if sub == "glider":
        fin_root_z = zt - 0.5 * fin_cr
    fin_root_y = p["upsweep"] * rf + (0.3 * rf if sub != "fighter" else 0.5 * rf)
    tp_span = span * p["tailplane_span"]
    tp_cr = (0.1 if sub not in ("fighter", "glider") else 0.12) * L
    if sub == "glider":
        tp_cr = 0.075 * L
    tp_sweep = 8.0 if sub == "glider" else p["fin_sweep"] - 6.0

    if sub == "fighter" and p["twin_fins"]:
        fin = _fin(fin_h, fin_cr, fin_ct, p["fin_sweep"], tmin, p["fin_cant"])
        parts["tail"].append(ops.MirrorX(fin.translate(0.75 * rf, 0.35 * rf, fin_root_z)))
    else:
        fin = _fin(fin_h, fin_cr, fin_ct, p["fin_sweep"], tmin)
        parts["tail"].append(fin.translate(0.0, fin_root_y - 0.4 * rf, fin_root_z))

    if sub == "fighter" and p["delta"]:
        return  # tailless delta
    if p.get("t_tail"):
        off = fin_h * math.tan(math.radians(p["fin_sweep"])) + (fin_ct - fin_cr) / 2
        tp_y = fin_root_y - 0.4 * rf + fin_h - 0.3 * max(tmin, 0.11 * fin_ct)
        tp_z = fin_root_z + off
        tp_cr = min(tp_cr, fin_ct * 1.7)
    else:
        tp_y = p["upsweep"] * rf * 0.8 + (0.0 if sub != "fighter" else -0.1 * rf)
        tp_z = zt - 0.5 * tp_cr - (0.04 * L if sub == "fighter" else 0.03 * L)
    tp = _Wing(tp_span / 2, tp_cr, tp_cr * 0.45, tp_sweep, 4.0 if sub != "fighter" else -4.0, tp_y, tp_z, tmin, 0.1)
    parts["tail"].append(tp.node())


def _underwing_jets(p, parts, wing: _Wing, rf) -> None:
    """Turbofans hung under the wing on pylons (2 or 4)."""
    re = p["engine_radius"] * p["length"]
    le = 4.4 * re
    etas = [0.34] if p["engines"] == 2 else [0.28, 0.6]
    if p["subtype"] == "cargo":
        etas = [0.3] if p["engines"] == 2 else [0.24, 0.5]
    nacelles, intakes, pylons = [], [], []
    for eta in etas:
        x, y, z_le, chord, thick = wing.station(eta)
        x = max(x, rf + re + 0.04)
        cy = y - 0.5 * thick - re - 0.3 * re
        cz = z_le - 0.12 * le
        nacelles.append((x, cy, cz))
        top, bottom = y, cy + 0.6 * re
        pylon = ops.Box((0.03, (top - bottom) / 2, 0.3 * le), rounding=0.01)
        pylons.append(pylon.translate(x, (top + bottom) / 2, cz + 0.12 * le))
    parts["engine"].append(ops.MirrorX(ops.Instances(_jet_nacelle(re, le), nacelles)))
    parts["engine"].extend(ops.MirrorX(pl) for pl in pylons)
    parts["intake"].append(ops.MirrorX(ops.Instances(_jet_intake(re, le), nacelles)))


def _turboprops(p, parts, wing: _Wing, rf) -> None:
    """Nacelles through the wing with a spinner and bladed propeller in front."""
    L = p["length"]
    re = p["engine_radius"] * L
    rp = p["prop_radius"] * L
    x0 = rf + rp + 0.05
    etas = [x0 / wing.s] if p["engines"] == 2 else [x0 / wing.s, (x0 + 2 * rp + 0.06) / wing.s]
    centers, props = [], []
    for eta in etas:
        x, y, z_le, chord, thick = wing.station(min(eta, 0.8))
        front = z_le - 0.7 * chord
        centers.append((x, y - 0.25 * re, front))
    nacelle = ops.RoundCone((0.0, 0.0, 0.4 * re), (0.0, -0.1 * re, 2.2 * wing.cr), re, 0.45 * re)
    parts["engine"].append(ops.MirrorX(ops.Instances(nacelle, centers)))
    spinner = ops.Frustum(0.55 * re, 0.12 * re, 0.45 * re, "z").rotate("y", 180.0).translate(0.0, 0.0, -0.05 * re)
    blade = ops.Box((0.03, rp / 2, 0.028), rounding=0.008).translate(0.0, rp / 2, -0.1 * re)
    n = p["blades"]
    blades = ops.Union(*[blade.rotate("z", 360.0 * i / n + 15.0) for i in range(n)])
    parts["propeller"].append(ops.MirrorX(ops.Instances(ops.Union(spinner, blades), centers)))


def _rear_jets(p, parts, L, rf, zt) -> None:
    """Two engines on short stubs at the rear fuselage (business jets)."""
    re = p["engine_radius"] * L
    le = 4.6 * re
    x = rf + re + 0.035
    y = 0.45 * rf + p["upsweep"] * rf * 0.3
    z = zt - p["tail_cone"] * rf - 0.1 * le
    parts["engine"].append(ops.MirrorX(_jet_nacelle(re, le).translate(x, y, z)))
    stub = ops.Box(((x - 0.5 * rf) / 2, 0.03, 0.22 * le), rounding=0.01).translate((x + 0.5 * rf) / 2, y, z + 0.1 * le)
    parts["engine"].append(ops.MirrorX(stub))
    parts["intake"].append(ops.MirrorX(_jet_intake(re, le).translate(x, y, z)))


def _fighter_details(p, parts, wing: _Wing, L, rf, zn, zt, nose_len, tmin) -> None:
    """Canopy, side intakes, nozzles, optional canards and under-wing stores."""
    canopy = ops.Ellipsoid((0.55 * rf, 0.62 * rf, 0.12 * L)).translate(0.0, 0.72 * rf, zn + nose_len + 0.06 * L)
    parts["window"].append(canopy)
    zi = zn + nose_len + 0.14 * L
    duct = ops.Box((0.42 * rf, 0.55 * rf, 0.2 * L), rounding=0.02).translate(0.78 * rf, -0.15 * rf, zi + 0.2 * L)
    parts["fuselage"].append(ops.MirrorX(duct))
    mouth = ops.Box((0.3 * rf, 0.42 * rf, 0.012), rounding=0.008).translate(0.8 * rf, -0.15 * rf, zi + 0.002)
    parts["intake"].append(ops.MirrorX(mouth))
    nozzle_r = 0.55 * rf if p["engines"] == 2 else 0.68 * rf
    nozzle = ops.Frustum(nozzle_r, nozzle_r * 0.9, 0.04 * L, "z")
    nz = zt + 0.02 * L
    if p["engines"] == 2:
        parts["engine"].append(ops.MirrorX(nozzle.translate(0.42 * rf, 0.0, nz)))
    else:
        parts["engine"].append(nozzle.translate(0.0, 0.0, nz))
    if p["canards"]:
        canard = _Wing(1.9 * rf, 0.1 * L, 0.035 * L, 45.0, 0.0, 0.2 * rf, zn + nose_len + 0.12 * L, tmin, 0.1)
        parts["wing"].append(canard.node())
    if p["stores"]:
        mr = 0.03
        ml = 0.2 * L
        for eta in (0.45, 0.75):
            x, y, z_le, chord, thick = wing.station(eta)
            cy = y - 0.5 * thick - mr - 0.025
            cz = z_le + 0.5 * chord
            missile = ops.Capsule((x, cy, cz - ml / 2), (x, cy, cz + ml / 2), mr)
            pylon = ops.Box((0.028, 0.035, 0.05)).translate(x, cy + mr + 0.01, cz)
            parts["store"].append(ops.MirrorX(ops.Union(missile, pylon)))
        tank = ops.Ellipsoid((0.5 * rf, 0.5 * rf, 0.13 * L)).translate(0.0, -1.35 * rf, zn + 0.55 * L)
        strut = ops.Box((0.028, 0.3 * rf, 0.05)).translate(0.0, -0.85 * rf, zn + 0.55 * L)
        parts["store"].extend([tank, strut])


def _windows(p, sub, fuselage: ops.SDF, L, rf, zn, nose_len) -> ops.SDF | None:
    """Cockpit glazing and a row of cabin windows: the fuselage surface inside glass regions."""
    if sub == "fighter":
        return None  # the canopy is its own part
    regions = []
    if sub == "glider":
        regions.append(ops.Box((1.0, 0.5 * rf, 0.5 * nose_len)).translate(0.0, 0.85 * rf, zn + 1.1 * nose_len))
    else:
        regions.append(ops.Box((1.0, 0.22 * rf, 0.3 * nose_len)).translate(0.0, 0.38 * rf, zn + 0.72 * nose_len))
    if sub in ("airliner", "propeller", "business_jet"):
        z0 = zn + nose_len + 0.6 * rf
        z1 = L / 2 - p["tail_cone"] * rf - (0.2 * L if sub == "business_jet" else 0.3 * rf)
        band = ops.Box((0.3, 0.07 * rf + 0.004, (z1 - z0) / 2)).translate(0.55 * rf + 0.3, 0.3 * rf, (z0 + z1) / 2)
        regions.append(ops.MirrorX(band))
    return ops.Intersection(fuselage.offset(0.004), ops.Union(*regions))


def caption(p: dict) -> str:
    """A short natural description built from the parameters."""
    sub, color = p["subtype"], p["color"]
    article = "an" if color[0] in "aeiou" else "a"
    count = {1: "single-engine", 2: "twin-engine", 4: "four-engine"}
    tail_color = p["tail_color"]
    tail = f" and {'an' if tail_color[0] in 'aeiou' else 'a'} {tail_color} tail" if tail_color != color else ""
    if sub == "airliner":
        return f"{article} {color} {count[p['engines']]} airliner with swept wings{tail}"
    if sub == "propeller":
        wing = "a high wing" if p["high_wing"] else "a low wing"
        extra = " and a T-tail" if p["t_tail"] else tail
        return f"{article} {color} {count[p['engines']]} turboprop plane with {wing}{extra}"
    if sub == "fighter":
        wing = "delta-wing" if p["delta"] else "swept-wing"
        things = ["twin tails" if p["twin_fins"] else "a single tail"]
        if p["stores"]:
            things.append("missiles under the wings")
        if p["canards"]:
            things.append("canards")
        joined = things[0] if len(things) == 1 else ", ".join(things[:-1]) + " and " + things[-1]
        return f"{article} {color} {wing} fighter jet with {joined}"
    if sub == "glider":
        return f"{article} {color} glider with long slender wings and a T-tail"
    if sub == "business_jet":
        return f"{article} {color} business jet with rear-mounted engines and a T-tail"
    tail_kind = " and a T-tail" if p["t_tail"] else ""
    return f"{article} {color} {count[p['engines']]} cargo plane with a high wing{tail_kind}"
