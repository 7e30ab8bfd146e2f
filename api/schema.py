"""The OpenAPI document: every operation documents the API's error answers (api.errors)."""

from typing import Any

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from rest_framework import serializers

_ALWAYS = {
    "400": "Bad input: the field (or row) is named in `errors`.",
    "401": "No token, or not a valid one.",
    "403": "The user's role may not do this.",
    "404": "An unknown code or id.",
}
_WRITES = {
    "409": "A conflict with the state of the line, or an idempotency key reused with another body.",
    "413": "The request body is larger than the server accepts.",
    "415": "The body is not in a type the operation reads.",
}


class ErrorSerializer(serializers.Serializer[Any]):
    """The one error shape of the API (api.errors.error_response)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    # The metaclass moves fields out of the class: `errors` does not shadow Serializer.errors.
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]

    class Meta:
        ref_name = "Error"


class AutoSchema(BaseAutoSchema):
    """Adds the error responses to each operation, keeping any the view documents itself."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        errors = dict(_ALWAYS)
        if self.method in ("POST", "PUT", "PATCH"):
            errors.update(_WRITES)
        elif getattr(self.view, "read_conflicts", False):
            errors["409"] = "The export is not done (or failed): nothing to read yet."
        for code, description in errors.items():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = description
                responses[code] = response
        return responses

    def _get_request_body(self, direction: Any = "request") -> dict[str, Any] | None:
        # drf-spectacular calls a body of plain text optional; a view that needs one says so.
        body: dict[str, Any] | None = super()._get_request_body(direction)
        if body is not None and getattr(self.view, "request_body_required", False):
            body["required"] = True
        return body
