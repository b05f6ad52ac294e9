#!/usr/bin/env python3
"""manage.py of the stand-in Django project (see README.md)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "standin.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
