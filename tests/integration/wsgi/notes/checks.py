"""A check tagged readiness, as django-hurricane's users write them: it fails while a file named 'not-ready'
exists in the working directory."""
import os

from django.conf import settings
from django.core.checks import Error, register


@register("readiness")
def maintenance_flag(app_configs, **kwargs):
    if os.path.exists(os.path.join(settings.WORK_DIR, "not-ready")):
        return [Error("the maintenance flag is set", id="notes.E001")]
    return []
