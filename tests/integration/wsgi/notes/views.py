import json
import os
import time

from django.conf import settings
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from .models import Note


@csrf_exempt
def notes(request):
    if request.method == "POST":
        note = Note.objects.create(text=json.loads(request.body)["text"])
        return JsonResponse({"id": note.id}, status=201)
    return JsonResponse({"notes": [n.text for n in Note.objects.order_by("id")]})


def form(request):
    if request.method == "POST":  # CsrfViewMiddleware has checked the token by now
        Note.objects.create(text=request.POST["text"])
        return HttpResponse("saved\n")
    return render(request, "notes/form.html")


def stream(request):
    return StreamingHttpResponse((b"%05d" % i * 200 for i in range(100)), content_type="text/plain")


def download(request):
    return FileResponse(open(os.path.join(settings.WORK_DIR, "download.bin"), "rb"), as_attachment=True,
                        filename="download.bin")


@csrf_exempt
def upload(request):
    """A multipart upload as Django's upload handlers saw it: per file its size, its lines (b"line%07d\\n" each) and
    how many were out of place, and whether Django spooled it to disk; and the form's fields."""
    files = {}
    for name, f in request.FILES.items():
        size, lines, tail, unordered = 0, 0, b"", 0
        for chunk in f.chunks():
            size += len(chunk)
            *complete, tail = (tail + chunk).split(b"\n")
            for line in complete:
                unordered += line != b"line%07d" % lines
                lines += 1
        files[name] = {"size": size, "lines": lines, "unordered": unordered, "rest": tail.decode("latin-1"),
                       "on_disk": hasattr(f, "temporary_file_path")}
    return JsonResponse({"files": files, "fields": request.POST.dict()})


def boom(request):
    raise RuntimeError("the view broke on purpose")


def slow(request):
    time.sleep(float(request.GET.get("s", "1")))
    return HttpResponse("slept\n")


def spin(request):
    end = time.monotonic() + float(request.GET.get("s", "1"))
    n = 0
    while time.monotonic() < end:  # holds the GIL (pure Python), as a CPU-bound view does
        n += 1
    return HttpResponse("spun %d\n" % n)
