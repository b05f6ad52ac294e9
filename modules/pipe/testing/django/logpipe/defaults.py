"""The region default of KinesisOffset (django-logpipe: logpipe.settings.get_aws_region)."""
from django.conf import settings


def aws_region():
    return settings.LOGPIPE.get("KINESIS_REGION") or "us-east-1"
