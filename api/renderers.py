from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer


class DataclassJSONRenderer(JSONRenderer):
    """JSON through orjson, which serialises dataclasses natively and about ten times faster
    than the standard library: for genealogy responses of many thousand nodes and edges."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data)
