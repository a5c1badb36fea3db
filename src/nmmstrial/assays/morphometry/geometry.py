"""Outline geometry as ImageJ 1.53 computes it: Feret pair, perimeters, ellipse, tracing."""

from __future__ import annotations

import contextlib
import math

import numpy as np
from scipy import spatial


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of 2-D points, counter-clockwise, collinear ones
    dropped (Andrew's monotone chain: exact for the integer corners of outlines)."""
    pts = np.asarray(points, dtype=float)
    if len(pts) > 64:
        # Qhull narrows thousands of outline points to the few hull candidates fast;
        # the exact chain below decides on those (and on collinear input Qhull refuses).
        with contextlib.suppress(spatial.QhullError):
            pts = pts[spatial.ConvexHull(pts).vertices]
    pts = np.unique(pts, axis=0)
    if len(pts) < 3:
        return pts

    def chain(seq: np.ndarray) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for q in seq:
            while len(out) >= 2:
                a, b = out[-2], out[-1]
                if (b[0] - a[0]) * (q[1] - a[1]) - (b[1] - a[1]) * (q[0] - a[0]) > 0:
                    break
                out.pop()
            out.append(q)
        return out[:-1]

    return np.array(chain(pts) + chain(pts[::-1]))


def feret_diameters(points: np.ndarray) -> tuple[float, float]:
    """(minimum, maximum) Feret diameter of a point set, as ImageJ's getFeretValues:
    the minimum is the smallest width over the hull's edge directions (rotating
    calipers), the maximum the largest distance between hull vertices."""
    hull = convex_hull(points)
    if len(hull) == 0:
        return 0.0, 0.0
    diffs = hull[:, None, :] - hull[None, :, :]
    longest = float(np.sqrt((diffs**2).sum(-1)).max())
    if len(hull) < 3:
        return 0.0, longest
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    rel = hull[None, :, :] - hull[:, None, :]
    heights = np.abs(rel[:, :, 0] * edges[:, None, 1] - rel[:, :, 1] * edges[:, None, 0])
    return float((heights.max(axis=1) / lengths).min()), longest


def polygon_area(x: np.ndarray, y: np.ndarray) -> float:
    """Shoelace area (absolute)."""
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def ellipse_minor(xx: float, yy: float, xy: float, area: float) -> float:
    """ImageJ EllipseFitter's minor axis: the axis ratio of the second central moments,
    scaled so that pi/4 * major * minor equals `area`."""
    half_trace, det = (xx + yy) / 2, xx * yy - xy * xy
    root = math.sqrt(max(half_trace**2 - det, 0.0))
    big, small = half_trace + root, max(half_trace - root, 1e-12)
    return math.sqrt(4 * area / (math.pi * math.sqrt(big / small)))


def _polygon_moments(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Area and central second moments (xx, yy, xy) of a simple polygon (Green)."""
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    a = cross.sum() / 2
    if a == 0:
        return 0.0, 0.0, 0.0, 0.0
    cx = ((x + x1) * cross).sum() / (6 * a)
    cy = ((y + y1) * cross).sum() / (6 * a)
    ixx = ((x * x + x * x1 + x1 * x1) * cross).sum() / (12 * a)
    iyy = ((y * y + y * y1 + y1 * y1) * cross).sum() / (12 * a)
    ixy = ((x * y1 + 2 * x * y + 2 * x1 * y1 + x1 * y) * cross).sum() / (24 * a)
    return abs(float(a)), ixx - cx * cx, iyy - cy * cy, ixy - cx * cy


def traced_perimeter(x: np.ndarray, y: np.ndarray) -> float:
    """ImageJ's perimeter of a traced (wand / particle analyzer) outline: boundary
    length minus 2 - sqrt(2) per non-adjacent corner (PolygonRoi.getTracedPerimeter)."""
    n = len(x)
    if n < 4:
        return 0.0
    dx, dy = np.diff(x, append=x[0]), np.diff(y, append=y[0])
    sides = np.abs(np.roll(dx, 1)) + np.abs(np.roll(dy, 1))
    corners, corner = 0, False
    for side in sides:
        if side > 1 or not corner:
            corner = True
            corners += 1
        else:
            corner = False
    return float(np.abs(dx).sum() + np.abs(dy).sum() - corners * (2 - math.sqrt(2)))


def smoothed_perimeter(x: np.ndarray, y: np.ndarray) -> float:
    """ImageJ's perimeter of a freehand outline: the closed polygon after a 3-point
    running average (PolygonRoi.getSmoothedPerimeter)."""
    n = len(x)
    if n < 3:
        return _edge_length(x, y)
    first = math.hypot((x[0] + x[1] + x[2]) / 3 - x[0], (y[0] + y[1] + y[2]) / 3 - y[0])
    middle = np.hypot((x[3:] - x[: n - 3]) / 3, (y[3:] - y[: n - 3]) / 3).sum()
    last = math.hypot(x[-1] - (x[-3] + x[-2] + x[-1]) / 3, y[-1] - (y[-3] + y[-2] + y[-1]) / 3)
    return float(first + middle + last + math.hypot(x[-1] - x[0], y[-1] - y[0]))


def _edge_length(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.hypot(np.diff(x, append=x[0]), np.diff(y, append=y[0])).sum())


def _is_traced(x: np.ndarray, y: np.ndarray) -> bool:
    """ImageJ treats an integer polygon with only axis-parallel edges as traced."""
    if not (np.all(x == np.round(x)) and np.all(y == np.round(y))):
        return False
    dx, dy = np.diff(x, append=x[0]), np.diff(y, append=y[0])
    return bool(np.all((dx == 0) | (dy == 0)))


def outline_measures(x: np.ndarray, y: np.ndarray, kind: str) -> dict[str, float]:
    """Area, perimeter, Feret pair, equivalent diameter and ellipse minor axis (px) of a
    closed outline; `kind` is "traced", "freehand", "polygon" or "rect" (ImageJ's ROI
    types), or "oval", measured as the ideal ellipse in the outline's bounding box
    (ImageJ's oval perimeter is Ramanujan's; its Feret pair comes from a pixel polygon
    and may differ from the ellipse's by under a pixel)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if kind == "oval":
        return _ellipse_measures((x.max() - x.min()) / 2, (y.max() - y.min()) / 2)
    area, xx, yy, xy = _polygon_moments(x, y)
    if kind == "traced" or (kind == "polygon" and _is_traced(x, y)):
        perimeter = traced_perimeter(x, y)
    elif kind == "freehand":
        perimeter = smoothed_perimeter(x, y)
    else:  # polygon, rect
        perimeter = _edge_length(x, y)
    min_feret, feret = feret_diameters(np.column_stack([x, y]))
    return {
        "area": area,
        "perimeter": perimeter,
        "min_feret": min_feret,
        "feret": feret,
        "eq_diameter": math.sqrt(4 * area / math.pi),
        "minor_axis": ellipse_minor(xx, yy, xy, area) if area > 0 else 0.0,
    }


def _ellipse_measures(a: float, b: float) -> dict[str, float]:
    area = math.pi * a * b
    return {
        "area": area,
        "perimeter": math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b))),
        "min_feret": 2 * min(a, b),
        "feret": 2 * max(a, b),
        "eq_diameter": math.sqrt(4 * area / math.pi),
        "minor_axis": 2 * min(a, b),
    }


def trace_outline(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outer outline of the 8-connected object holding the top-left pixel of `region`
    (boolean), as pixel-corner vertices (x, y) where the direction turns, clockwise
    on screen as ImageJ's wand traces it."""
    grid = np.pad(np.asarray(region, dtype=bool), 1)
    rows, cols = np.nonzero(grid)
    if len(rows) == 0:
        return np.empty(0), np.empty(0)
    start = (int(cols[0]), int(rows[0]))  # top-left corner of the first pixel in scan order
    # Directions 0 +x, 1 +y (down), 2 -x, 3 -y; the object stays on the right-hand side.
    step = ((1, 0), (0, 1), (-1, 0), (0, -1))
    # Pixels ahead-left and ahead-right of vertex (x, y) moving in direction d.
    ahead = (
        ((0, -1), (0, 0)),
        ((0, 0), (-1, 0)),
        ((-1, 0), (-1, -1)),
        ((-1, -1), (0, -1)),
    )
    xs, ys = [start[0]], [start[1]]
    x, y, d = start[0] + 1, start[1], 0
    while (x, y) != start:
        (lx, ly), (rx, ry) = ahead[d]
        if grid[y + ly, x + lx]:  # blocked ahead, or a diagonal neighbour joins (8-connected)
            turn = (d - 1) % 4
        elif grid[y + ry, x + rx]:
            turn = d
        else:
            turn = (d + 1) % 4
        if turn != d:
            xs.append(x)
            ys.append(y)
        d = turn
        x, y = x + step[d][0], y + step[d][1]
    return np.array(xs, dtype=float) - 1, np.array(ys, dtype=float) - 1
