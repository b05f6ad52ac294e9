# Stands in for django-logpipe's 0001_initial: model Offset (table logpipe_offset) and its unique (topic, partition),
# whose index name Django derives from that first table name: logpipe_offset_topic_partition_8988af52_uniq.
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Offset",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("topic", models.CharField(max_length=200)),
                ("partition", models.PositiveIntegerField()),
                ("offset", models.PositiveIntegerField(default=0)),
            ],
            options={"ordering": ("topic", "partition", "offset")},
        ),
        migrations.AlterUniqueTogether(name="offset", unique_together={("topic", "partition")}),
    ]
