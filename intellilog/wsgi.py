import os

from django.core.wsgi import get_wsgi_application

from intellilog.tracing import tracing_configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "intellilog.settings")
# Before the application loads its middleware: the Django instrumentation adds one (no-op unless OTEL_ENABLED).
# Gunicorn imports this module in each worker (preload_app is off), so every process gets its own exporter.
tracing_configure(role="web")
application = get_wsgi_application()
