# SPDX-License-Identifier: MIT
"""Django 3.2's side of gale's sessions interop test (src/django_test.cpp runs it with /usr/bin/python3).

usage: django_interop.py SECRET_KEY DB_PATH COMMAND ARGS...
  signed-dump JSON          print the cookie Django's signed_cookies backend writes for these session data
  signed-load COOKIE        print the session data Django loads from that cookie (JSON; {} when refused)
  db-save JSON              save a session with Django's database backend; print its key
  db-load KEY               print the data Django's database backend loads for that key (JSON; {} when none)
  csrf-token                print a CSRF cookie value and a form token that Django's middleware renders
  csrf-check COOKIE TOKEN   print "accepted" or Django's rejection reason for a POST carrying both
"""
import json
import sys

import django
from django.conf import settings

secret, db_path, command, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
settings.configure(
    SECRET_KEY=secret,
    USE_TZ=True,
    ALLOWED_HOSTS=["testserver"],
    INSTALLED_APPS=["django.contrib.sessions"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
    SESSION_SERIALIZER="django.contrib.sessions.serializers.JSONSerializer",
)
django.setup()

if command == "signed-dump":
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    s = SessionStore()
    s.update(json.loads(args[0]))
    s.save()
    print(s.session_key)
elif command == "signed-load":
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    print(json.dumps(dict(SessionStore(session_key=args[0]).load()), sort_keys=True))
elif command == "db-save":
    from django.contrib.sessions.backends.db import SessionStore
    s = SessionStore()
    s.update(json.loads(args[0]))
    s.save()
    print(s.session_key)
elif command == "db-load":
    from django.contrib.sessions.backends.db import SessionStore
    print(json.dumps(dict(SessionStore(session_key=args[0]).load()), sort_keys=True))
elif command in ("csrf-token", "csrf-check"):
    from django.http import HttpResponse
    from django.middleware.csrf import CsrfViewMiddleware, get_token
    from django.test import RequestFactory

    def view(request):
        return HttpResponse("ok")

    middleware = CsrfViewMiddleware(view)
    if command == "csrf-token":
        request = RequestFactory().get("/")
        middleware.process_request(request)
        token = get_token(request)
        print(request.META["CSRF_COOKIE"], token)
    else:
        request = RequestFactory().post("/", {"csrfmiddlewaretoken": args[1]})
        request.COOKIES[settings.CSRF_COOKIE_NAME] = args[0]
        middleware.process_request(request)
        reasons = []
        middleware._reject = lambda req, reason: reasons.append(reason) or HttpResponse(status=403)
        result = middleware.process_view(request, view, (), {})
        print("accepted" if result is None else reasons[0])
else:
    sys.exit("unknown command " + command)
