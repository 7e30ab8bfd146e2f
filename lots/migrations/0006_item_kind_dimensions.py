from django.db import migrations, models


def seed_dimensions(apps, schema_editor):
    from lots.seed import KIND_DIMENSIONS

    ItemKind = apps.get_model("lots", "ItemKind")
    for code, dimensions in KIND_DIMENSIONS.items():
        ItemKind.objects.filter(code=code).update(dimensions=dimensions)


class Migration(migrations.Migration):
    dependencies = [("lots", "0005_value_ranges")]

    operations = [
        migrations.AddField(
            model_name="itemkind",
            name="dimensions",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(seed_dimensions, migrations.RunPython.noop),
    ]
