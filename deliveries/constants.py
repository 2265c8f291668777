# Order ids looked up per query when checking which rows a tenant already has.
EXISTING_ID_LOOKUP_CHUNK = 5000
BULK_CREATE_BATCH_SIZE = 2000
# At most this many rows of earlier data are compared against a new batch for distribution change.
SHIFT_REFERENCE_SAMPLE = 50000
# Ids of stored deliveries skipped as implausible that a report names (the count is always given).
IMPLAUSIBLE_IDS_SHOWN = 10
