"""Settings of the stand-in project: the database is chosen by GALE_DJANGO_DB (see README.md)."""
import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = "gale-test-only"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "logpipe"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"


def _database(spec):
    if spec.startswith("sqlite:"):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": spec[len("sqlite:"):]}
    url = urlsplit(spec)
    if url.scheme not in ("postgresql", "postgres"):
        raise ValueError("GALE_DJANGO_DB must be sqlite:PATH or postgresql://…, not %r" % spec)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": url.path.lstrip("/"),
        "USER": unquote(url.username or ""),
        "PASSWORD": unquote(url.password or ""),
        "HOST": url.hostname or "",
        "PORT": str(url.port or 5432),
    }


DATABASES = {"default": _database(os.environ["GALE_DJANGO_DB"])}
LOGPIPE = {"KINESIS_REGION": "us-east-1"}
