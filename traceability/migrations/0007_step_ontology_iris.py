from django.db import migrations, models


def seed(apps, schema_editor):
    from lots.ontology_terms import STEP_IRIS, STEP_PROCESS_IRIS

    Step = apps.get_model("traceability", "Step")
    for code, iri in STEP_IRIS.items():
        Step.objects.filter(code=code).update(ontology_iri=iri, process_iri=STEP_PROCESS_IRIS.get(code, ""))


class Migration(migrations.Migration):
    dependencies = [("traceability", "0006_hold_stretch_half_open")]
    operations = [
        migrations.AddField(
            model_name="step",
            name="ontology_iri",
            field=models.URLField(blank=True, default="", max_length=300),
        ),
        migrations.AddField(
            model_name="step",
            name="process_iri",
            field=models.URLField(blank=True, default="", max_length=300),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
