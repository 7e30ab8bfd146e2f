from django.db import migrations, models


def seed(apps, schema_editor):
    from lots.ontology_terms import KIND_IRIS

    ItemKind = apps.get_model("lots", "ItemKind")
    for code, iri in KIND_IRIS.items():
        ItemKind.objects.filter(code=code).update(ontology_iri=iri)


class Migration(migrations.Migration):
    dependencies = [("lots", "0007_item_status_change")]
    operations = [
        migrations.AddField(
            model_name="itemkind",
            name="ontology_iri",
            field=models.URLField(blank=True, default="", max_length=300),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
