"""Fibre morphometry: fibre size and type from ImageJ files, label masks and hand tables.

Measures follow ImageJ 1.53 so a lab's numbers carry over: minimum Feret is the
smallest caliper width of the convex hull of the outline (rotating calipers), maximum
Feret the largest vertex distance of that hull, area the polygon's (a traced outline
encloses exactly its pixels), perimeter ImageJ's per ROI type (traced: edges with
corners cut by 2 - sqrt(2); freehand: 3-point running average; polygon: edge
lengths), ellipse minor axis ImageJ's EllipseFitter (second moments, scaled so the
ellipse has the fibre's area). Label images are traced as ImageJ's particle analyzer
traces them: the outline runs along pixel corners (8-connected), so the hull is of
pixel corners, not pixel centres (which reads about 1.3 px smaller).

Calibration (um per pixel) comes from the file where it carries one (ImageJ metadata,
TIFF resolution in cm, OME PhysicalSizeX); otherwise the user gives it, or asks for
pixels explicitly and every number is then in px. Exclusions are counted, never
silent: `border` (touches the image edge; needs the image or mask) and `min_area`
(below `MIN_AREA_UM2`, or below `MIN_AREA_PX` pixels whatever the calibration).

Modules: `geometry` (ImageJ's measures of an outline), `readers` (TIFF/PNG, ROI sets,
Results tables), `measures` (rules, calibration, `measure`), `fibre_types`,
`splitbody` (real vs sham), `segmentation` (mask from a membrane channel).
"""

from .fibre_types import TYPES, otsu_threshold, type_fibres
from .geometry import (
    convex_hull,
    ellipse_minor,
    feret_diameters,
    outline_measures,
    polygon_area,
    smoothed_perimeter,
    trace_outline,
    traced_perimeter,
)
from .measures import (
    FIBRE_COLUMNS,
    MIN_AREA_PX,
    MIN_AREA_UM2,
    MIN_FIBRES,
    ROLES,
    SIZE_MEASURES,
    Calibration,
    FibreMeasurement,
    calibration,
    default_min_area,
    measure,
    measure_labels,
    measure_results,
    measure_rois,
)
from .readers import Image, Outline, read_image, read_labels, read_results, read_rois
from .segmentation import (
    SEGMENT_GROW_UM,
    SEGMENT_H_UM,
    SEGMENT_MIN_AREA_UM2,
    SEGMENT_SIGMA_UM,
    match_score,
    rasterize_rois,
    segment,
    segment_file,
    write_labels,
)
from .splitbody import (
    ARM_LEVELS,
    CODED_ARMS,
    COMPARISON_COLUMNS,
    FIBRE_TABLE_COLUMNS,
    SplitBody,
    bw_nrd0,
    density,
    density_figure,
    read_fibre_table,
    split_body,
)

__all__ = [
    "ARM_LEVELS",
    "CODED_ARMS",
    "COMPARISON_COLUMNS",
    "FIBRE_COLUMNS",
    "FIBRE_TABLE_COLUMNS",
    "MIN_AREA_PX",
    "MIN_AREA_UM2",
    "MIN_FIBRES",
    "ROLES",
    "SEGMENT_GROW_UM",
    "SEGMENT_H_UM",
    "SEGMENT_MIN_AREA_UM2",
    "SEGMENT_SIGMA_UM",
    "SIZE_MEASURES",
    "TYPES",
    "Calibration",
    "FibreMeasurement",
    "Image",
    "Outline",
    "SplitBody",
    "bw_nrd0",
    "calibration",
    "convex_hull",
    "default_min_area",
    "density",
    "density_figure",
    "ellipse_minor",
    "feret_diameters",
    "match_score",
    "measure",
    "measure_labels",
    "measure_results",
    "measure_rois",
    "otsu_threshold",
    "outline_measures",
    "polygon_area",
    "rasterize_rois",
    "read_fibre_table",
    "read_image",
    "read_labels",
    "read_results",
    "read_rois",
    "segment",
    "segment_file",
    "smoothed_perimeter",
    "split_body",
    "trace_outline",
    "traced_perimeter",
    "type_fibres",
    "write_labels",
]
