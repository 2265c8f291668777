#!/usr/bin/env python
"""Django's command-line utility for IntelliLog."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "intellilog.settings")
    from django.core.management import execute_from_command_line

    from intellilog.tracing import tracing_configure

    # Commands such as train_eta (the training Job) export their spans too; a no-op unless OTEL_ENABLED.
    tracing_configure(role="manage")

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
