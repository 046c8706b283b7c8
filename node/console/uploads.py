"""Reading a JSON file uploaded through a console form: bounded, strict, never a 500."""

from __future__ import annotations

from flask import request

from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject, loads_object

__all__ = ["MAX_UPLOAD_BYTES", "MAX_UPLOAD_DEPTH", "UploadError", "json_upload"]

#: Largest JSON file a console form takes (a scan bundle or an assessment request is far
#: smaller). The node's request limit (``max_request_bytes``) also applies to the whole form.
MAX_UPLOAD_BYTES = 256 * 1024
#: Deepest nesting accepted (the documents uploaded here nest fewer than 16 levels).
MAX_UPLOAD_DEPTH = 32


class UploadError(Exception):
    """The upload cannot be read; the message says why, for the form."""


def json_upload(field: str) -> JSONObject:
    """The JSON object in the uploaded file ``field``.

    Raises:
        UploadError: No file, too large, not strict JSON (duplicate member names, NaN,
            nesting deeper than :data:`MAX_UPLOAD_DEPTH`...) or not an object.
    """
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise UploadError("Choose a JSON file to upload.")
    data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"The file is larger than {MAX_UPLOAD_BYTES // 1024} KiB; it cannot be what this "
            "form takes."
        )
    if not data.strip():
        raise UploadError("The file is empty.")
    try:
        return loads_object(data, max_bytes=MAX_UPLOAD_BYTES, max_depth=MAX_UPLOAD_DEPTH)
    except MalformedInputError as e:
        raise UploadError(f"The file is not a JSON object this node accepts: {e.message}") from e
