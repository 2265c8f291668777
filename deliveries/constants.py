# Rows an import reads, normalises and stages at a time: what bounds its memory (about 1 KB a row while
# read), large enough that per-chunk overhead (one COPY, a few dozen column operations) stays small.
IMPORT_CHUNK_ROWS = 50_000
# At most this many rows of earlier data are compared against a new batch for distribution change.
SHIFT_REFERENCE_SAMPLE = 50000
# Ids of stored deliveries skipped as implausible that a report names (the count is always given).
IMPLAUSIBLE_IDS_SHOWN = 10
