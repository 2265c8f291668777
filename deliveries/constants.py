# Order ids looked up per query when checking which rows a tenant already has.
EXISTING_ID_LOOKUP_CHUNK = 5000
BULK_CREATE_BATCH_SIZE = 2000
# At most this many rows of earlier data are compared against a new batch for distribution change.
SHIFT_REFERENCE_SAMPLE = 50000
