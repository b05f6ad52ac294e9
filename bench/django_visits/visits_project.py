# hello's two database views in Django, for bench/db.sh: POST /visits/<name> creates a visit and answers
# 201 {"id": …}; GET /visits/<name> answers {"name": …, "visits": count}. Same table, same PostgreSQL as hello.
# Production-like settings: DEBUG off, persistent connections (CONN_MAX_AGE), only the middleware the views need.
import os

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="bench-only",
    USE_TZ=True,
    USE_I18N=False,
    INSTALLED_APPS=["visits"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ["DATABASE_HOST"],
            "PORT": os.environ["DATABASE_PORT"],
            "NAME": os.environ["DATABASE_NAME"],
            "USER": os.environ["DATABASE_USERNAME"],
            "PASSWORD": os.environ.get("DATABASE_PASSWORD", ""),
            "CONN_MAX_AGE": 600,
        }
    },
)
django.setup()

from visits.models import Visit  # noqa: E402  (needs the settings)


@csrf_exempt
def visits(request, name):
    if request.method == "POST":
        visit = Visit.objects.create(name=name)
        return JsonResponse({"id": visit.id}, status=201)
    return JsonResponse({"name": name, "visits": Visit.objects.filter(name=name).count()})


urlpatterns = [path("visits/<str:name>", visits)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
