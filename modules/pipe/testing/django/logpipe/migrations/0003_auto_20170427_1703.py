# Stands in for django-logpipe's 0003_auto_20170427_1703: model KinesisOffset (shard and sequence_number 20 long)
# with a unique (stream, shard). (django-logpipe also sets help texts on KafkaOffset here: no schema change.)
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("logpipe", "0002_auto_20170427_1451")]
    operations = [
        migrations.CreateModel(
            name="KinesisOffset",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("stream", models.CharField(max_length=200)),
                ("shard", models.CharField(max_length=20)),
                ("sequence_number", models.CharField(max_length=20)),
            ],
            options={"ordering": ("stream", "shard", "sequence_number")},
        ),
        migrations.AlterUniqueTogether(name="kinesisoffset", unique_together={("stream", "shard")}),
    ]
