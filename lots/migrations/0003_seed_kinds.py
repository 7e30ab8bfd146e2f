from django.db import migrations


def seed(apps, schema_editor):
    from lots.seed import KINDS

    ItemKind = apps.get_model("lots", "ItemKind")
    for spec in KINDS:
        ItemKind.objects.update_or_create(code=spec.code, defaults=spec._asdict())


class Migration(migrations.Migration):
    dependencies = [("lots", "0002_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
