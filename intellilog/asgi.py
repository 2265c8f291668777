import os

from django.core.asgi import get_asgi_application

from intellilog.tracing import tracing_configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "intellilog.settings")
# Before the application loads its middleware: the Django instrumentation adds one (no-op unless OTEL_ENABLED).
tracing_configure(role="web")
application = get_asgi_application()
