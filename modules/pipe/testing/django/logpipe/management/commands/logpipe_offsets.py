"""manage.py logpipe_offsets [--set-kafka T P O] [--set-kinesis R S H N]: the ORM writing and reading both tables."""
import json

from django.core.management.base import BaseCommand

from logpipe.models import KafkaOffset, KinesisOffset


class Command(BaseCommand):
    help = "Print (and optionally set) django-logpipe's offset rows as JSON"

    def add_arguments(self, parser):
        parser.add_argument("--set-kafka", nargs=3, metavar=("TOPIC", "PARTITION", "OFFSET"))
        parser.add_argument("--set-kinesis", nargs=4, metavar=("REGION", "STREAM", "SHARD", "SEQUENCE"))

    def handle(self, *args, **options):
        if options["set_kafka"]:
            topic, partition, offset = options["set_kafka"]
            KafkaOffset.objects.update_or_create(
                topic=topic, partition=int(partition), defaults={"offset": int(offset)}
            )
        if options["set_kinesis"]:
            region, stream, shard, sequence = options["set_kinesis"]
            KinesisOffset.objects.update_or_create(
                region=region, stream=stream, shard=shard, defaults={"sequence_number": sequence}
            )
        rows = {
            "kafka": [[o.topic, o.partition, o.offset] for o in KafkaOffset.objects.all()],
            "kinesis": [[o.region, o.stream, o.shard, o.sequence_number] for o in KinesisOffset.objects.all()],
        }
        self.stdout.write(json.dumps(rows))
