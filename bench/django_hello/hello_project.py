"""A minimal single-file Django project: one view that answers "Hello, world!\n".

Importing this module configures Django (DEBUG off, ALLOWED_HOSTS = ['127.0.0.1'],
no apps, no database) and exposes `application`, the project's WSGI callable.
It is the "Django hello world" the gale benchmark compares against; it is
served by serve_tornado.py (Tornado's WSGIContainer, as django-hurricane does).
"""

import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path

if not settings.configured:
    settings.configure(
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1"],
        SECRET_KEY="gale-bench-only-not-a-secret",
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        # What `startproject` would keep for a view that uses no sessions,
        # auth or templates.
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
        ],
        DATABASES={},
        USE_I18N=False,
        USE_TZ=True,
    )


def hello(request):
    return HttpResponse("Hello, world!\n", content_type="text/plain")


urlpatterns = [path("", hello)]

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402  (after setup)

application = get_wsgi_application()
