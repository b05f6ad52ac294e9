# Stands in for django-logpipe's 0006_alter_kafkaoffset_options_and_more: model options (verbose names) only, which
# change nothing in the database.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("logpipe", "0005_auto_20180917_1348")]
    operations = [
        migrations.AlterModelOptions(
            name="kafkaoffset",
            options={"ordering": ("topic", "partition", "offset"), "verbose_name": "Kafka Offset"},
        ),
        migrations.AlterModelOptions(
            name="kinesisoffset",
            options={"ordering": ("stream", "shard", "sequence_number"), "verbose_name": "AWS Kinesis Offset"},
        ),
    ]
