"""The final state of django-logpipe's two offset models (their schema; labels and choices left out)."""
from django.db import models

from . import defaults


class KafkaOffset(models.Model):
    topic = models.CharField(max_length=200)
    partition = models.PositiveIntegerField()
    offset = models.PositiveIntegerField(default=0)

    class Meta:
        unique_together = ("topic", "partition")
        ordering = ("topic", "partition", "offset")


class KinesisOffset(models.Model):
    region = models.CharField(max_length=20, default=defaults.aws_region)
    stream = models.CharField(max_length=200)
    shard = models.CharField(max_length=200)
    sequence_number = models.CharField(max_length=200)

    class Meta:
        unique_together = ("region", "stream", "shard")
        ordering = ("stream", "shard", "sequence_number")
