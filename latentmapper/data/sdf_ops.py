"""Signed distance primitives and CSG in PyTorch, as small composable nodes.

Every node maps points ``(B, 3)`` (any device) to float32 signed distances ``(B,)``,
negative inside, and knows a conservative axis-aligned box around its surface
(``node.bounds()``), so that a whole shape's box comes from its tree without sampling.

Primitives sit at the origin; transforms (``translate``, ``rotate``, ``scale``) and mirror
symmetry move them. Every node returns an exact distance or a lower bound of it (a field
never steeper than 1), which keeps marching cubes and coarse-to-fine grid pruning safe.

Internally nodes work on three contiguous coordinate columns (``node.columns(x, y, z)``):
PyTorch is several times slower on ``(B, 3)`` tensors, whose inner size of 3 defeats
vectorisation, than on ``(B,)`` columns. No Python loop ever runs over points.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

_INF = 1.0e9
_AXES = {"x": 0, "y": 1, "z": 2}

Tensor = torch.Tensor
Bounds = tuple[np.ndarray, np.ndarray]


def _vec(values, n: int = 3) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)).copy()


def _length2(a: Tensor, b: Tensor) -> Tensor:
    return torch.sqrt(a * a + b * b)


def _length3(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    return torch.sqrt(torch.addcmul(a * a, b, b).addcmul_(c, c))


def _box2(qa: Tensor, qb: Tensor) -> Tensor:
    """Combine two per-axis signed distances like a 2D box: rounded outside, exact inside."""
    outside = _length2(qa.clamp(min=0.0), qb.clamp(min=0.0))
    return outside + torch.maximum(qa, qb).clamp(max=0.0)


def _split(axis: str, x: Tensor, y: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(first other axis, second other axis, ``axis``) coordinates, other axes in x, y, z order."""
    cols = (x, y, z)
    i = _AXES[axis]
    j, k = [d for d in range(3) if d != i]
    return cols[j], cols[k], cols[i]


def _revolution_bounds(radius: float, half_height: float, axis: str) -> Bounds:
    ext = np.full(3, radius)
    ext[_AXES[axis]] = half_height
    return -ext, ext


class SDF:
    """Base node: call it on points ``(B, 3)``; combine with ``|`` (union), ``&``, ``-``."""

    def __call__(self, p: Tensor) -> Tensor:
        p = torch.as_tensor(p)
        if p.ndim != 2 or p.shape[1] != 3:
            raise ValueError(f"points must have shape (B, 3), got {tuple(p.shape)}")
        p = p.to(torch.float32)
        return self.columns(p[:, 0].contiguous(), p[:, 1].contiguous(), p[:, 2].contiguous())

    def columns(self, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
        raise NotImplementedError

    def bounds(self) -> Bounds:
        raise NotImplementedError

    # --- chaining helpers -------------------------------------------------------------
    def translate(self, *offset) -> "SDF":
        return Translate(self, offset[0] if len(offset) == 1 else offset)

    def rotate(self, axis: str, degrees: float) -> "SDF":
        return Rotate(self, rotation_matrix(axis, degrees))

    def scale(self, factor) -> "SDF":
        return Scale(self, factor)

    def mirror_x(self) -> "SDF":
        return MirrorX(self)

    def offset(self, amount: float) -> "SDF":
        return Offset(self, amount)

    def __or__(self, other: "SDF") -> "SDF":
        return Union(self, other)

    def __and__(self, other: "SDF") -> "SDF":
        return Intersection(self, other)

    def __sub__(self, other: "SDF") -> "SDF":
        return Subtraction(self, other)


# --- primitives -------------------------------------------------------------------------


class Sphere(SDF):
    def __init__(self, radius: float):
        self.r = float(radius)

    def columns(self, x, y, z):
        return _length3(x, y, z) - self.r

    def bounds(self):
        return np.full(3, -self.r), np.full(3, self.r)


class Box(SDF):
    """Axis-aligned box of half extents ``half``; ``rounding`` rounds its edges (same outer size)."""

    def __init__(self, half, rounding: float = 0.0):
        self.half = _vec(half)
        self.rounding = float(min(rounding, self.half.min()))
        self._inner = [float(h - self.rounding) for h in self.half]

    def columns(self, x, y, z):
        qx, qy, qz = (c.abs() - h for c, h in zip((x, y, z), self._inner))
        outside = _length3(qx.clamp(min=0.0), qy.clamp(min=0.0), qz.clamp(min=0.0))
        inside = torch.maximum(torch.maximum(qx, qy), qz).clamp(max=0.0)
        return outside + inside - self.rounding

    def bounds(self):
        return -self.half, self.half.copy()


def RoundedBox(half, rounding: float) -> Box:
    """A box whose edges and corners are rounded with ``rounding`` (outer size unchanged)."""
    return Box(half, rounding)


class Capsule(SDF):
    """Segment ``a``-``b`` thickened by ``radius`` (struts, missiles, fuselage barrels)."""

    def __init__(self, a, b, radius: float):
        self.a, self.b, self.r = _vec(a), _vec(b), float(radius)
        self._ba = [float(v) for v in self.b - self.a]
        self._inv = 1.0 / max(float(np.dot(self.b - self.a, self.b - self.a)), 1e-12)

    def columns(self, x, y, z):
        px, py, pz = x - float(self.a[0]), y - float(self.a[1]), z - float(self.a[2])
        bx, by, bz = self._ba
        t = ((px * bx + py * by + pz * bz) * self._inv).clamp(0.0, 1.0)
        return _length3(px - t * bx, py - t * by, pz - t * bz) - self.r

    def bounds(self):
        return np.minimum(self.a, self.b) - self.r, np.maximum(self.a, self.b) + self.r


class RoundCone(SDF):
    """Convex hull of two spheres (radius ``ra`` at ``a``, ``rb`` at ``b``): fuselages, nacelles.

    Exact: in the (axial, radial) half-plane the side is the common tangent of the two
    circles; a point projects onto it, or lies before it (sphere a) or past it (sphere b).
    """

    def __init__(self, a, b, ra: float, rb: float):
        self.a, self.b = _vec(a), _vec(b)
        self.ra, self.rb = float(ra), float(rb)
        axis = self.b - self.a
        self.length = float(np.linalg.norm(axis))
        if self.length <= abs(self.ra - self.rb) + 1e-9:
            raise ValueError("RoundCone: one sphere contains the other; use a Sphere instead")
        self._axis = [float(v) for v in axis / self.length]
        self.sin = (self.ra - self.rb) / self.length
        self.cos = math.sqrt(1.0 - self.sin**2)

    def columns(self, x, y, z):
        px, py, pz = x - float(self.a[0]), y - float(self.a[1]), z - float(self.a[2])
        ax, ay, az = self._axis
        t = px * ax + py * ay + pz * az
        rr = torch.addcmul(px * px, py, py).addcmul_(pz, pz)
        q = (rr - t * t).clamp(min=0.0).sqrt()
        along = t * self.cos - q * self.sin  # coordinate along the tangent line
        side = t * self.sin + q * self.cos - self.ra
        near_a = rr.sqrt() - self.ra
        near_b = _length2(t - self.length, q) - self.rb
        return torch.where(along < 0.0, near_a, torch.where(along > self.length * self.cos, near_b, side))

    def bounds(self):
        lo = np.minimum(self.a - self.ra, self.b - self.rb)
        hi = np.maximum(self.a + self.ra, self.b + self.rb)
        return lo, hi


class Cylinder(SDF):
    """Capped cylinder about ``axis`` ('x', 'y' or 'z'), optionally with rounded rims."""

    def __init__(self, radius: float, half_height: float, axis: str = "y", rounding: float = 0.0):
        self.r, self.h, self.axis = float(radius), float(half_height), axis
        self.rounding = float(min(rounding, self.r, self.h))

    def columns(self, x, y, z):
        a, b, w = _split(self.axis, x, y, z)
        c = self.rounding
        return _box2(_length2(a, b) - (self.r - c), w.abs() - (self.h - c)) - c

    def bounds(self):
        return _revolution_bounds(self.r, self.h, self.axis)


class Frustum(SDF):
    """Capped cone about ``axis``: radius ``r0`` at axial -h, ``r1`` at +h (a cone: one radius 0).

    Exact: distance to the trapezoid's three edges in the (radial, axial) half-plane.
    """

    def __init__(self, r0: float, r1: float, half_height: float, axis: str = "y"):
        self.r0, self.r1, self.h, self.axis = float(r0), float(r1), float(half_height), axis

    def columns(self, x, y, z):
        a, b, w = _split(self.axis, x, y, z)
        q = _length2(a, b)
        h, r0, r1 = self.h, self.r0, self.r1
        cap0 = _length2(q - q.clamp(max=r0), w + h)
        cap1 = _length2(q - q.clamp(max=r1), w - h)
        ex, ew = r1 - r0, 2.0 * h  # the slanted side: segment (r0, -h) -> (r1, h)
        t = (((q - r0) * ex + (w + h) * ew) / (ex * ex + ew * ew)).clamp(0.0, 1.0)
        side = _length2(q - r0 - t * ex, w + h - t * ew)
        dist = torch.minimum(torch.minimum(cap0, cap1), side)
        inside = (w.abs() <= h) & ((q - r0) * ew - (w + h) * ex <= 0.0)
        return torch.where(inside, -dist, dist)

    def bounds(self):
        return _revolution_bounds(max(self.r0, self.r1), self.h, self.axis)


def Cone(radius: float, half_height: float, axis: str = "y") -> Frustum:
    """A cone with its base (``radius``) at axial -h and its tip at +h."""
    return Frustum(radius, 0.0, half_height, axis)


class Ellipsoid(SDF):
    """Ellipsoid with semi-axes ``radii`` (approximate distance, exact zero set).

    Outside: the k0 (k0 - 1) / k1 estimate, close to the true distance. Inside, where that
    estimate collapses towards the centre: (k0 - 1) * smallest radius, a 1-Lipschitz bound.
    """

    def __init__(self, radii):
        self.radii = _vec(radii)

    def columns(self, x, y, z):
        rx, ry, rz = (float(r) for r in self.radii)
        k0 = _length3(x / rx, y / ry, z / rz)
        k1 = _length3(x / (rx * rx), y / (ry * ry), z / (rz * rz)).clamp(min=1e-9)
        return torch.where(k0 > 1.0, k0 * (k0 - 1.0) / k1, (k0 - 1.0) * float(self.radii.min()))

    def bounds(self):
        return -self.radii, self.radii.copy()


class Torus(SDF):
    """Ring of major radius ``major`` and tube radius ``minor`` around ``axis``."""

    def __init__(self, major: float, minor: float, axis: str = "y"):
        self.R, self.r, self.axis = float(major), float(minor), axis

    def columns(self, x, y, z):
        a, b, w = _split(self.axis, x, y, z)
        return _length2(_length2(a, b) - self.R, w) - self.r

    def bounds(self):
        return _revolution_bounds(self.R + self.r, self.r, self.axis)


def _round_cone_2d(t: Tensor, q: Tensor, length: Tensor, r0: Tensor, r1: Tensor) -> Tensor:
    """2D hull of a circle (radius r0) at t=0 and one (r1) at t=length; q >= 0 is the other axis."""
    s = ((r0 - r1) / length).clamp(-0.999, 0.999)
    c = (1.0 - s * s).sqrt()
    along = t * c - q * s
    side = t * s + q * c - r0
    near0 = _length2(t, q) - r0
    near1 = _length2(t - length, q) - r1
    return torch.where(along < 0.0, near0, torch.where(along > length * c, near1, side))


class Wing(SDF):
    """A tapered, swept lifting surface with a teardrop (airfoil-like) section.

    Span runs along +x from the root (x=0) to the tip (x=span), chord along z, thickness
    along y. The root chord is centred at the origin; ``sweep`` is how far the tip chord's
    centre sits behind (+z) the root's, ``dihedral`` how far it sits above. Each section is
    the hull of a leading-edge circle (radius: half the thickness) and a smaller trailing-edge
    circle (``te_ratio`` of it): a rounded nose and a thinner tail. Rotate it by 90 degrees
    about z for a fin. The field is divided by its Lipschitz bound so that sweep and taper
    never make it steeper than a true distance.
    """

    def __init__(
        self,
        span: float,
        root_chord: float,
        tip_chord: float,
        root_thickness: float,
        tip_thickness: float,
        sweep: float = 0.0,
        dihedral: float = 0.0,
        te_ratio: float = 0.6,
    ):
        self.span, self.cr, self.ct = float(span), float(root_chord), float(tip_chord)
        self.tr, self.tt = float(root_thickness), float(tip_thickness)
        self.sweep, self.dihedral, self.te_ratio = float(sweep), float(dihedral), float(te_ratio)
        if self.cr < self.tr or self.ct < self.tt:
            raise ValueError("Wing: root and tip chords must be at least as long as their thickness")
        dz = abs(self.sweep) + 0.5 * abs(self.cr - self.ct) + 0.5 * abs(self.tr - self.tt)
        dy = abs(self.dihedral) + 0.5 * abs(self.tr - self.tt)
        self._lip = math.sqrt(1.0 + (dz / self.span) ** 2 + (dy / self.span) ** 2)

    def columns(self, x, y, z):
        u = (x / self.span).clamp(0.0, 1.0)
        half_chord = 0.5 * self.cr + (0.5 * (self.ct - self.cr)) * u
        r_le = 0.5 * self.tr + (0.5 * (self.tt - self.tr)) * u
        r_te = r_le * self.te_ratio
        c_le = r_le - half_chord  # centres of the leading- and trailing-edge circles
        length = (half_chord - r_te - c_le).clamp(min=1e-6)
        section = _round_cone_2d(z - self.sweep * u - c_le, (y - self.dihedral * u).abs(), length, r_le, r_te)
        spanwise = (x - 0.5 * self.span).abs() - 0.5 * self.span
        return _box2(section, spanwise) / self._lip

    def bounds(self):
        z_lo = min(-0.5 * self.cr, self.sweep - 0.5 * self.ct)
        z_hi = max(0.5 * self.cr, self.sweep + 0.5 * self.ct)
        t = 0.5 * max(self.tr, self.tt)
        y_lo, y_hi = min(0.0, self.dihedral) - t, max(0.0, self.dihedral) + t
        return np.array([0.0, y_lo, z_lo]), np.array([self.span, y_hi, z_hi])


class Extrusion(SDF):
    """Any simple 2D polygon extruded along ``axis`` to half depth ``half_depth``, edges rounded.

    ``polygon`` lists (u, v) vertices in the plane of the two other axes in x, y, z order
    (for 'x': (y, z)). The 2D distance is exact (nearest edge, sign by crossing number);
    ``rounding`` rounds the edges along the extrusion. Costs one pass per polygon edge: for
    convex outlines ``Prism`` is several times cheaper.
    """

    def __init__(self, polygon, half_depth: float, axis: str = "x", rounding: float = 0.0):
        self.poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        self.h, self.axis, self.rounding = float(half_depth), axis, float(min(rounding, half_depth))
        v = self.poly
        e = np.roll(v, -1, axis=0) - v
        self._v = torch.tensor(v, dtype=torch.float32)
        self._vn = torch.tensor(np.roll(v, -1, axis=0), dtype=torch.float32)
        self._e = torch.tensor(e, dtype=torch.float32)
        self._inv = torch.tensor(1.0 / np.maximum((e * e).sum(1), 1e-12), dtype=torch.float32)

    def polygon_distance(self, pu: Tensor, pv: Tensor) -> Tensor:
        """Exact signed distance to the polygon; (edges, points) layout, fused ops."""
        v, vn, e, inv = (t.to(pu.device) for t in (self._v, self._vn, self._e, self._inv))
        wu = pu[None, :] - v[:, 0:1]
        wv = pv[None, :] - v[:, 1:2]
        eu, ev = e[:, 0:1], e[:, 1:2]
        t = torch.addcmul(wu * eu, wv, ev).mul_(inv[:, None]).clamp_(0.0, 1.0)
        du = torch.addcmul(wu, eu, t, value=-1.0)
        dv = torch.addcmul(wv, ev, t, value=-1.0)
        dist = torch.addcmul(du * du, dv, dv).amin(dim=0).sqrt_()
        # crossing number of a ray towards +u: an edge counts when it spans pv and the point
        # is on its left (upward edge) or its right (downward edge)
        up = pv[None, :] >= v[:, 1:2]
        below_next = pv[None, :] < vn[:, 1:2]
        left = (eu * wv) > (ev * wu)
        odd = ((up == below_next) & (up == left)).sum(dim=0) % 2 == 1
        return torch.where(odd, -dist, dist)

    def columns(self, x, y, z):
        u, v, w = _split(self.axis, x, y, z)
        c = self.rounding
        return _box2(self.polygon_distance(u, v) + c, w.abs() - (self.h - c)) - c

    def bounds(self):
        i = _AXES[self.axis]
        j, k = [d for d in range(3) if d != i]
        lo, hi = np.zeros(3), np.zeros(3)
        lo[i], hi[i] = -self.h, self.h
        lo[[j, k]], hi[[j, k]] = self.poly.min(0), self.poly.max(0)
        return lo, hi


class Prism(SDF):
    """A convex 2D polygon extruded along ``axis``; soft profile corners, rounded side edges.

    The profile field is a log-sum-exp (softness ``corner``) over the edges' line distances:
    exact inside away from corners, 1-Lipschitz everywhere, rounded corners of radius about
    ``2 * corner``, and only a few passes for all edges together. Car bodies and cabins are
    convex side silhouettes, so this is what they use. ``rounding`` rounds the edges along
    the extrusion, as in ``Extrusion``.
    """

    def __init__(self, polygon, half_depth: float, axis: str = "x", corner: float = 0.01, rounding: float = 0.0):
        v = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        e = np.roll(v, -1, axis=0) - v
        area2 = float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))
        normals = np.stack([e[:, 1], -e[:, 0]], axis=1) * (1.0 if area2 > 0 else -1.0)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        offsets = (normals * v).sum(1)
        cross = e[:, 0] * np.roll(e[:, 1], -1) - e[:, 1] * np.roll(e[:, 0], -1)
        if np.any(cross * np.sign(area2) < -1e-12):
            raise ValueError("Prism needs a convex polygon; use Extrusion for concave outlines")
        self.poly, self.h, self.axis = v, float(half_depth), axis
        self.corner, self.rounding = float(corner), float(min(rounding, half_depth))
        self._n = torch.tensor(normals, dtype=torch.float32)
        self._c = torch.tensor(offsets, dtype=torch.float32)

    def polygon_distance(self, pu: Tensor, pv: Tensor) -> Tensor:
        n, c = self._n.to(pu.device), self._c.to(pu.device)
        lines = torch.addcmul(pu[None, :] * n[:, 0:1], pv[None, :], n[:, 1:2]).sub_(c[:, None])
        top = lines.amax(dim=0)
        # clamp before exp: tiny terms would be float32 denormals, which are very slow on CPUs
        soft = lines.sub_(top).div_(self.corner).clamp_(min=-30.0).exp_().sum(dim=0).log_()
        return top + self.corner * soft

    columns = Extrusion.columns
    bounds = Extrusion.bounds


class HalfSpace(SDF):
    """Everything on the side of the plane ``n . p = offset`` that ``n`` points away from."""

    def __init__(self, normal, offset: float = 0.0):
        n = _vec(normal)
        norm = float(np.linalg.norm(n))
        self.n, self.d = n / norm, float(offset) / norm

    def columns(self, x, y, z):
        out = None
        for c, k in zip((x, y, z), self.n):
            if k != 0.0:
                out = c * float(k) if out is None else out.add(c, alpha=float(k))
        return out - self.d

    def bounds(self):
        lo, hi = np.full(3, -_INF), np.full(3, _INF)
        for i in range(3):  # an axis-aligned plane bounds one side
            if abs(self.n[i]) > 1 - 1e-9:
                (hi if self.n[i] > 0 else lo)[i] = self.d * np.sign(self.n[i])
        return lo, hi


# --- transforms -------------------------------------------------------------------------


def rotation_matrix(axis: str, degrees: float) -> np.ndarray:
    """Right-handed rotation about a coordinate axis (local -> world)."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    i = _AXES[axis]
    j, k = (i + 1) % 3, (i + 2) % 3
    m = np.eye(3)
    m[j, j], m[j, k], m[k, j], m[k, k] = c, -s, s, c
    return m


def _box_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.array([[(lo, hi)[(i >> d) & 1][d] for d in range(3)] for i in range(8)])


class Translate(SDF):
    def __init__(self, child: SDF, offset):
        self.child, self.offset = child, _vec(offset)

    def columns(self, x, y, z):
        cols = [c - float(o) if o != 0.0 else c for c, o in zip((x, y, z), self.offset)]
        return self.child.columns(*cols)

    def bounds(self):
        lo, hi = self.child.bounds()
        return lo + self.offset, hi + self.offset


class Rotate(SDF):
    """Rotate ``child`` by the orthonormal ``matrix`` (local -> world)."""

    def __init__(self, child: SDF, matrix):
        self.child, self.m = child, np.asarray(matrix, dtype=np.float64)

    def columns(self, x, y, z):
        local = []
        for j in range(3):  # local_j = sum_i m[i, j] * world_i  (R^T p)
            out = None
            for c, k in zip((x, y, z), self.m[:, j]):
                if abs(k) > 1e-12:
                    out = c * float(k) if out is None else out.add(c, alpha=float(k))
            local.append(out if out is not None else torch.zeros_like(x))
        return self.child.columns(*local)

    def bounds(self):
        corners = _box_corners(*self.child.bounds()) @ self.m.T
        return corners.min(0), corners.max(0)


class Scale(SDF):
    """Non-uniform scale; the result is multiplied by the smallest factor so it stays a lower
    bound of the true distance (never steeper than 1)."""

    def __init__(self, child: SDF, factor):
        self.child, self.s = child, _vec(factor)
        if np.any(self.s <= 0):
            raise ValueError("scale factors must be positive")

    def columns(self, x, y, z):
        cols = [c / float(s) for c, s in zip((x, y, z), self.s)]
        return self.child.columns(*cols) * float(self.s.min())

    def bounds(self):
        lo, hi = self.child.bounds()
        return lo * self.s, hi * self.s


class MirrorX(SDF):
    """Left/right symmetry about x = 0: evaluate the child at (|x|, y, z)."""

    def __init__(self, child: SDF):
        self.child = child

    def columns(self, x, y, z):
        return self.child.columns(x.abs(), y, z)

    def bounds(self):
        lo, hi = self.child.bounds()
        m = max(hi[0], 0.0)
        return np.array([-m, lo[1], lo[2]]), np.array([m, hi[1], hi[2]])


class Instances(SDF):
    """Copies of ``child`` at ``offsets`` (wheels on their axles, engines along a wing).

    When the copies stand in a row along one axis, each point is measured against its
    nearest copy only, so one child evaluation serves them all. That equals the union near
    the copies, and is continuous, when the child is mirror-symmetric across that axis about
    its own centre (wheels, rings, spheres), which is what rows are meant for. Copies spread
    over several axes are combined as an ordinary union.
    """

    def __init__(self, child: SDF, offsets: Sequence[Sequence[float]]):
        self.child = child
        self.offsets = np.asarray(offsets, dtype=np.float64).reshape(-1, 3)
        self._varying = [d for d in range(3) if np.ptp(self.offsets[:, d]) > 1e-12]

    def columns(self, x, y, z):
        cols = [x, y, z]
        offs = self.offsets
        if len(self._varying) != 1:
            d = None
            for o in offs:
                v = self.child.columns(*(c - float(k) if k != 0.0 else c for c, k in zip(cols, o)))
                d = v if d is None else torch.minimum(d, v)
            return d
        axis = self._varying[0]
        values = np.sort(offs[:, axis])
        sel = torch.full_like(cols[axis], float(values[0]))
        for lo, hi in zip(values[:-1], values[1:]):
            sel = torch.where(cols[axis] > 0.5 * (lo + hi), float(hi), sel)
        local = [c - float(o) if o != 0.0 else c for c, o in zip(cols, offs[0])]
        local[axis] = cols[axis] - sel
        return self.child.columns(*local)

    def bounds(self):
        lo, hi = self.child.bounds()
        return lo + self.offsets.min(0), hi + self.offsets.max(0)


class Offset(SDF):
    """Grow (positive) or shrink (negative) a shape by ``amount``: round it, or thicken it."""

    def __init__(self, child: SDF, amount: float):
        self.child, self.amount = child, float(amount)

    def columns(self, x, y, z):
        return self.child.columns(x, y, z) - self.amount

    def bounds(self):
        lo, hi = self.child.bounds()
        return lo - self.amount, hi + self.amount


# --- CSG ---------------------------------------------------------------------------------


class Union(SDF):
    def __init__(self, *children: SDF):
        self.children = [c for c in children if c is not None]

    def columns(self, x, y, z):
        d = self.children[0].columns(x, y, z)
        for child in self.children[1:]:
            d = torch.minimum(d, child.columns(x, y, z))
        return d

    def bounds(self):
        los, his = zip(*(c.bounds() for c in self.children))
        return np.min(los, axis=0), np.max(his, axis=0)


class Intersection(SDF):
    def __init__(self, *children: SDF):
        self.children = list(children)

    def columns(self, x, y, z):
        d = self.children[0].columns(x, y, z)
        for child in self.children[1:]:
            d = torch.maximum(d, child.columns(x, y, z))
        return d

    def bounds(self):
        los, his = zip(*(c.bounds() for c in self.children))
        return np.max(los, axis=0), np.min(his, axis=0)


class Subtraction(SDF):
    """``a`` with ``b`` carved out of it (wheel arches, a pickup's bed)."""

    def __init__(self, a: SDF, b: SDF):
        self.a, self.b = a, b

    def columns(self, x, y, z):
        return torch.maximum(self.a.columns(x, y, z), -self.b.columns(x, y, z))

    def bounds(self):
        return self.a.bounds()


def smin(a: Tensor, b: Tensor, k: float) -> Tensor:
    """Polynomial smooth minimum: blends within ``k`` and dips at most ``k / 4`` below min."""
    if k <= 0:
        return torch.minimum(a, b)
    h = (0.5 + (0.5 / k) * (b - a)).clamp(0.0, 1.0)
    return torch.lerp(b, a, h) - k * h * (1.0 - h)


class SmoothUnion(SDF):
    """Union with a fillet of size ``k`` where the parts meet (a cabin onto a body, fenders)."""

    def __init__(self, *children: SDF, k: float):
        self.children, self.k = list(children), float(k)

    def columns(self, x, y, z):
        d = self.children[0].columns(x, y, z)
        for child in self.children[1:]:
            d = smin(d, child.columns(x, y, z), self.k)
        return d

    def bounds(self):
        los, his = zip(*(c.bounds() for c in self.children))
        pad = 0.25 * self.k * (len(self.children) - 1)
        return np.min(los, axis=0) - pad, np.max(his, axis=0) + pad


class SmoothIntersection(SDF):
    """Intersection with the new edges rounded by ``k`` (trimming a shape with planes)."""

    def __init__(self, *children: SDF, k: float):
        self.children, self.k = list(children), float(k)

    def columns(self, x, y, z):
        d = self.children[0].columns(x, y, z)
        for child in self.children[1:]:
            d = -smin(-d, -child.columns(x, y, z), self.k)
        return d

    def bounds(self):
        los, his = zip(*(c.bounds() for c in self.children))
        return np.max(los, axis=0), np.min(his, axis=0)


class SmoothSubtraction(SDF):
    """``a`` minus ``b`` with the cut's edges rounded by ``k``."""

    def __init__(self, a: SDF, b: SDF, k: float):
        self.a, self.b, self.k = a, b, float(k)

    def columns(self, x, y, z):
        return -smin(-self.a.columns(x, y, z), self.b.columns(x, y, z), self.k)

    def bounds(self):
        return self.a.bounds()


# --- evaluation helpers ----------------------------------------------------------------------


class Bounded(SDF):
    """Skip ``child`` for points far from its bounding box (a pure speed-up).

    Outside the box, the largest per-axis distance to the box is a lower bound of the
    distance to the child (and costs a few passes); only the points within ``margin`` of the
    box evaluate the (costlier) child. Worth it for parts that are small and costly.
    """

    def __init__(self, child: SDF, margin: float = 0.05):
        self.child, self.margin = child, float(margin)
        lo, hi = child.bounds()
        self._c = [float(v) for v in (hi + lo) / 2.0]
        self._h = [float(v) for v in (hi - lo) / 2.0]

    def columns(self, x, y, z):
        d = None
        for col, c, h in zip((x, y, z), self._c, self._h):
            dist = (col - c).abs_().sub_(h)
            d = dist if d is None else torch.maximum(d, dist)
        idx = (d < self.margin).nonzero().squeeze(1)
        if idx.numel() == d.numel():
            return self.child.columns(x, y, z)
        if idx.numel():
            d = d.index_put((idx,), self.child.columns(x[idx], y[idx], z[idx]))
        return d

    def bounds(self):
        return self.child.bounds()


class Shared(SDF):
    """A node used by several parts (a cabin that is both paint and glass), computed once.

    The value for the last input columns is kept and reused when the very same tensors come
    again, as they do when a shape evaluates all its parts on one set of columns.
    """

    def __init__(self, child: SDF):
        self.child = child
        self._key: tuple[Tensor, Tensor, Tensor] | None = None
        self._value: Tensor | None = None

    def columns(self, x, y, z):
        key = self._key
        if key is not None and key[0] is x and key[1] is y and key[2] is z:
            return self._value
        value = self.child.columns(x, y, z)
        self._key, self._value = (x, y, z), value
        return value

    def clear(self) -> None:
        self._key = self._value = None

    def bounds(self):
        return self.child.bounds()
