DEFAULT_TIME_ZONE = "Asia/Kolkata"
API_KEY_PREFIX_BYTES = 6
API_KEY_SECRET_BYTES = 32
API_KEY_SCHEME = "Api-Key"
# last_used_at is written at most this often per key, so authentication stays a read on the hot path.
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60
# Rate limits count requests per key in fixed windows of this length.
RATE_LIMIT_WINDOW_SECONDS = 60
