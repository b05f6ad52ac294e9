# The table examples/hello's migration creates (visits: id identity, name, at): Django reads and writes it as is.
from django.db import models


class Visit(models.Model):
    name = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "visits"
        db_table = "visits"
        managed = False
