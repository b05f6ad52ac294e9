# Stands in for django-logpipe's 0002_auto_20170427_1451: Offset becomes KafkaOffset (table logpipe_kafkaoffset;
# the unique index keeps its name).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("logpipe", "0001_initial")]
    operations = [migrations.RenameModel("Offset", "KafkaOffset")]
