# Rows an import reads, normalises and stages at a time: what bounds its memory, not the file's size. Peak
# resident memory of a whole import (Django, pandas, scipy and pyarrow loaded) measured here: 571-573 MB
# with 50,000 for files of 200,000 and of 1,000,000 rows, 453 MB with 20,000 (200,000 rows), at the same
# CPU time; per-chunk overhead (one COPY, a few dozen column operations) stays small at this size.
IMPORT_CHUNK_ROWS = 20_000
# At most this many rows of earlier data are compared against a new batch for distribution change.
SHIFT_REFERENCE_SAMPLE = 50000
# Ids of stored deliveries skipped as implausible that a report names (the count is always given).
IMPLAUSIBLE_IDS_SHOWN = 10
