"""The lab files page: an engineer picks the instrument's mapping and a file, checks it (what
would be stored, every error by row and column) and imports it, all or nothing, through the
services the API uses."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from core.errors import DomainError
from core.roles import Role
from labfiles.models import ImportMapping, LabImport
from labfiles.services import LabCheck, LabFileInvalid, lab_file_check, lab_file_import
from measurements.files import FileSizeLimitHandler

from .access import explain, role_required, signed_in

engineer = role_required(Role.ENGINEER)


class LabFileForm(forms.Form):
    mapping = forms.ModelChoiceField(
        queryset=ImportMapping.objects.order_by("code"),
        to_field_name="code",
        empty_label=None,
        help_text="the instrument's file layout",
    )
    file = forms.FileField(label="lab file", help_text="CSV or Excel (.xlsx), as the mapping says")


def _form(request: HttpRequest) -> LabFileForm | None:
    """The posted form; None when the upload itself is refused (too large), said on the page."""
    if request.method != "POST":
        return LabFileForm()
    try:
        return LabFileForm(request.POST, request.FILES)
    except DomainError as error:
        explain(request, error)
        return None


@csrf_exempt  # only until the upload handler is in place: _lab_files checks the token
@engineer
def lab_files(request: HttpRequest) -> HttpResponseBase:
    # Before the body is read (the CSRF check reads it): a file past CELLTRACE_MAX_FILE_BYTES is
    # refused as it arrives, not first written whole to a temporary file.
    handlers = request.upload_handlers
    assert isinstance(handlers, list), "set before the body is read"
    handlers.insert(0, FileSizeLimitHandler(request))
    return _lab_files(request)


@csrf_protect
def _lab_files(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    check: LabCheck | None = None
    if form is not None and request.method == "POST" and form.is_valid():
        mapping: ImportMapping = form.cleaned_data["mapping"]
        upload = form.cleaned_data["file"]
        data = upload.read()
        try:
            if request.POST.get("action") == "import":
                record = lab_file_import(actor=signed_in(request), mapping=mapping, name=upload.name, data=data)
                messages.success(request, f"{record.stored} values of {record.file_name} stored (import {record.pk}).")
                return redirect("web:lab-files")
            check = lab_file_check(actor=signed_in(request), mapping=mapping, data=data)
        except LabFileInvalid as error:
            check = error.check
            explain(request, error)
        except DomainError as error:
            explain(request, error)
    context = {
        "form": form or LabFileForm(),
        "check": check,
        "imports": LabImport.objects.select_related("mapping", "created_by").order_by("-pk")[:20],
    }
    return render(request, "web/lab_files.html", context)
