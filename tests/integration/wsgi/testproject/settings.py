"""A small Django project for gale-wsgi's tests: a model in SQLite, a CSRF form, streaming, a download, an
exception, a custom check tagged readiness, and hashed static files."""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK_DIR = os.environ.get("TESTPROJECT_DIR", os.getcwd())

SECRET_KEY = "gale-wsgi-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.staticfiles", "notes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware"]
ROOT_URLCONF = "testproject.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.csrf"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("TESTPROJECT_DB",
                                                 os.path.join(WORK_DIR, "testproject.sqlite3"))}}
# A database server instead, as a project's settings read it from the environment: only `deploy k8s` is tested on
# it (Django connects on first use, so rendering needs no server; it needs the driver, python3-psycopg2).
if os.environ.get("TESTPROJECT_DB_ENGINE") == "postgresql":
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "testproject",
                             "HOST": os.environ.get("TESTPROJECT_DB_HOST", "db")}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = os.path.join(WORK_DIR, "static")
STATICFILES_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.path.join(WORK_DIR, "media")
