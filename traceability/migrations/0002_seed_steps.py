from django.db import migrations


def seed(apps, schema_editor):
    from lots.seed import STEPS

    Step = apps.get_model("traceability", "Step")
    for sequence, (code, name) in enumerate(STEPS, start=1):
        Step.objects.update_or_create(code=code, defaults={"name": name, "sequence": sequence})


class Migration(migrations.Migration):
    dependencies = [("traceability", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
