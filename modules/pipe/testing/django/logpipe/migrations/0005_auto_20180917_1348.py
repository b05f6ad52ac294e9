# Stands in for django-logpipe's 0005_auto_20180917_1348 (0.3.0): column region (20 long, default: the AWS region
# when migrating) and the unique key (region, stream, shard), index
# logpipe_kinesisoffset_region_stream_shard_18abe976_uniq.
from django.db import migrations, models

import logpipe.defaults


class Migration(migrations.Migration):
    dependencies = [("logpipe", "0004_auto_20170502_1403")]
    operations = [
        migrations.AddField(
            model_name="kinesisoffset",
            name="region",
            field=models.CharField(default=logpipe.defaults.aws_region, max_length=20),
        ),
        migrations.AlterUniqueTogether(name="kinesisoffset", unique_together={("region", "stream", "shard")}),
    ]
