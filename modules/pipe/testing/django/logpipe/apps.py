from django.apps import AppConfig


class LogpipeConfig(AppConfig):
    name = "logpipe"
    label = "logpipe"
