from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import (
    views,
    views_bulk,
    views_catalog,
    views_connectors,
    views_epcis,
    views_epcis_capture,
    views_exports,
    views_labfiles,
    views_limits,
    views_measurements,
    views_passport,
)


class IdentifierConverter:
    """An item code, a URL-encoded Digital Link URI (slashes and all) or an EPC."""

    regex = ".+?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IdentifierConverter, "identifier")
ITEM = "items/<identifier:identifier>/"  # the routes of one item, however it is named
MEASUREMENT = "measurements/<int:pk>/"

urlpatterns = [
    path("health/", views.HealthView.as_view(), name="health"),
    path("epcis/capture/", views_epcis_capture.EPCISCaptureView.as_view(), name="epcis-capture"),
    path("epcis/gtin-kinds/", views_epcis_capture.GtinKindListView.as_view(), name="epcis-gtin-kinds"),
    path("epcis/gtin-kinds/<str:gtin>/", views_epcis_capture.GtinKindDetailView.as_view(), name="epcis-gtin-kind"),
    path("kinds/", views.KindListView.as_view(), name="kinds"),
    path("steps/", views.StepListView.as_view(), name="steps"),
    path("stations/", views.StationListView.as_view(), name="stations"),
    path("items/", views.ItemListView.as_view(), name="items"),
    path(f"{ITEM}trace/", views.GenealogyView.as_view(direction="upstream"), name="item-trace"),
    path(f"{ITEM}track/", views.GenealogyView.as_view(direction="downstream"), name="item-track"),
    path(f"{ITEM}label.<str:fmt>", views.ItemLabelView.as_view(), name="item-label"),
    path(f"{ITEM}scrap/", views.ItemScrapView.as_view(), name="item-scrap"),
    path(f"{ITEM}completeness/", views_measurements.CompletenessView.as_view(), name="item-completeness"),
    path(f"{ITEM}passport/", views_passport.PassportView.as_view(), name="item-passport"),
    path(f"{ITEM}status-changes/", views.ItemStatusChangeListView.as_view(), name="item-status-changes"),
    path(ITEM, views.ItemDetailView.as_view(), name="item-detail"),
    path("operations/", views.OperationListView.as_view(), name="operations"),
    path("operations/<int:pk>/", views.OperationDetailView.as_view(), name="operation-detail"),
    path("operations/<int:pk>/finish/", views.OperationFinishView.as_view(), name="operation-finish"),
    path("holds/", views.HoldListView.as_view(), name="holds"),
    path("holds/<int:pk>/", views.HoldDetailView.as_view(), name="hold-detail"),
    path("holds/<int:pk>/release/", views.HoldReleaseView.as_view(), name="hold-release"),
    path("parameters/", views_catalog.ParameterListView.as_view(), name="parameters"),
    path("parameters/<slug:code>/", views_catalog.ParameterDetailView.as_view(), name="parameter-detail"),
    path("limits/", views_limits.LimitListView.as_view(), name="limits"),
    path("limits/<int:pk>/", views_limits.LimitDetailView.as_view(), name="limit-detail"),
    path("measurements/bulk/", views_bulk.MeasurementBulkView.as_view(), name="measurement-bulk"),
    path("measurements/", views_measurements.MeasurementListView.as_view(), name="measurements"),
    path(MEASUREMENT, views_measurements.MeasurementDetailView.as_view(), name="measurement-detail"),
    path(f"{MEASUREMENT}file/", views_measurements.MeasurementFileView.as_view(), name="measurement-file"),
    path(f"{MEASUREMENT}correct/", views_measurements.MeasurementCorrectView.as_view(), name="measurement-correct"),
    path("import-mappings/", views_labfiles.MappingListView.as_view(), name="import-mappings"),
    path("import-mappings/<slug:code>/", views_labfiles.MappingDetailView.as_view(), name="import-mapping-detail"),
    path("imports/", views_labfiles.LabImportView.as_view(), name="imports"),
    path("exports/", views_exports.ExportListView.as_view(), name="exports"),
    path("exports/<int:pk>/", views_exports.ExportDetailView.as_view(), name="export-detail"),
    path("exports/<int:pk>/download/", views_exports.ExportDownloadView.as_view(), name="export-download"),
    path("exports/<int:pk>/dictionary/", views_exports.ExportDictionaryView.as_view(), name="export-dictionary"),
    path("connectors/", views_connectors.ConnectorListView.as_view(), name="connectors"),
    path("connectors/<slug:code>/", views_connectors.ConnectorDetailView.as_view(), name="connector-detail"),
    path("connectors/<slug:code>/status/", views_connectors.ConnectorStatusView.as_view(), name="connector-status"),
    path("epcis/events/", views_epcis.EPCISEventsView.as_view(), name="epcis-events"),
    path("scan/", views.ScanView.as_view(), name="scan"),
    path("audit/", views.AuditListView.as_view(), name="audit"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
