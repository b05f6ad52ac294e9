# Stands in for django-logpipe's 0004_auto_20170502_1403: shard and sequence_number widened to 200.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("logpipe", "0003_auto_20170427_1703")]
    operations = [
        migrations.AlterField(
            model_name="kinesisoffset", name="sequence_number", field=models.CharField(max_length=200)
        ),
        migrations.AlterField(model_name="kinesisoffset", name="shard", field=models.CharField(max_length=200)),
    ]
