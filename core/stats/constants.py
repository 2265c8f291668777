"""Named numbers of the drift and A/B statistics that are not operator settings (those live in `DriftThresholds`
and `ABTestSettings`): fixed choices of the methods, each with the reason it has the value it has."""

from __future__ import annotations

# PSI takes the log of a share ratio; an empty bin would make it infinite. A share of 1e-4 (one in ten
# thousand) is the usual floor: small enough not to hide a real empty-vs-full change, finite in any window.
PSI_EPSILON = 1e-4
# Numeric PSI uses the reference's deciles as bin edges, the industry convention (10 bins of 10% each).
PSI_QUANTILE_BINS = 10

# Cochran's rule for the chi-square approximation: every expected cell count at least 5. Categories whose
# expected count is smaller are pooled (see `univariate.pool_sparse_categories`).
MIN_EXPECTED_CELL_COUNT = 5.0
# The name of the pooled column of sparse categories in the contingency table.
POOLED_CATEGORY_LABEL = "__pooled__"
# The two levels of the missing-share check, which is a categorical test on "is the value present?".
PRESENT_LABEL = "present"
MISSING_LABEL = "missing"

# Jensen-Shannon in bits is bounded by 1, so the categorical effect size reads the same for any category count.
JENSEN_SHANNON_BASE = 2.0

# Histograms stored with a report for the admin's reference-vs-current plots: 20 bins keeps the JSON small
# (a few hundred numbers per feature) and still shows the shape; the plot range is cut at these quantiles so
# one outlier does not squash the rest into a single bin (values outside land in the end bins).
HISTOGRAM_BINS = 20
HISTOGRAM_LOWER_QUANTILE = 0.005
HISTOGRAM_UPPER_QUANTILE = 0.995
# Most categories drawn in a categorical histogram; the rest are summed into `POOLED_CATEGORY_LABEL`.
HISTOGRAM_MAX_CATEGORIES = 30

# The Hodges-Lehmann estimate is found by bisection on the value; stop when the bracket is this narrow
# (minutes: a millionth of a minute is far below any effect anyone would act on).
HODGES_LEHMANN_TOLERANCE = 1e-6
