from django.urls import path

from . import views, views_genealogy, views_labfiles, views_station, views_station_after

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("station/", views_station.station_pick, name="station-pick"),
    path("station/<str:code>/", views_station.station, name="station"),
    path("station/<str:code>/scan/", views_station.station_scan, name="station-scan"),
    path("station/<str:code>/start/", views_station.station_start, name="station-start"),
    path("station/<str:code>/inputs/<str:item>/remove/", views_station.station_remove_input, name="station-remove"),
    path("station/<str:code>/cancel/", views_station.station_cancel, name="station-cancel"),
    path("station/<str:code>/finish/", views_station.station_finish, name="station-finish"),
    path("station/<str:code>/run/", views_station.station_run_start, name="station-run-start"),
    path("station/<str:code>/runs/<int:pk>/finish/", views_station_after.station_run_finish, name="station-run-finish"),
    path("station/<str:code>/measure/", views_station_after.station_measure, name="station-measure"),
    path("station/<str:code>/operations/<int:pk>/", views_station_after.station_done, name="station-done"),
    path("labels/", views_station_after.labels, name="labels"),
    path("items/", views.items, name="items"),
    path("items/<path:code>/genealogy/", views_genealogy.genealogy, name="genealogy"),
    path("items/<path:code>/track.csv", views_genealogy.track_csv, name="track-csv"),
    path("items/<path:code>/", views.item, name="item"),
    path("measurements/<int:pk>/file/", views.measurement_file, name="measurement-file"),
    path("holds/", views.holds, name="holds"),
    path("holds/<int:pk>/", views.hold, name="hold"),
    path("holds/<int:pk>/release/", views.hold_release_view, name="hold-release"),
    path("datasets/", views.datasets, name="datasets"),
    path("datasets/<int:pk>/", views.export, name="export"),
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/<slug:code>/edit/", views.parameter_edit, name="parameter-edit"),
    path("lab-files/", views_labfiles.lab_files, name="lab-files"),
]
