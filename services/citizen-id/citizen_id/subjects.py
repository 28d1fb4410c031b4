"""The citizen's opaque subject id (``sub`` of their tokens): never the personal id itself.

``citizen_subject`` is the ONE definition: the identity provider puts it in tokens and the population registry
stores it (``citizens.subject``; the seed computes it in bulk with a faster equivalent that it checks against this
function), so other services can name a citizen without holding their personal id. It is deterministic (the same
person always gets the same subject under the same secret) and cannot be reversed or recomputed without the
secret: an HMAC-SHA256 of the personal id under ``settings.subject_secret`` (``CITIZEN_ID_SUBJECT_SECRET``), its
first 160 bits in lower-case base32 (32 characters, no padding), prefixed with a version tag ``vn1.``. Changing the
secret changes every subject: do not, once in use.
"""

import base64
import hashlib
import hmac

SUBJECT_PREFIX = "vn1."


def citizen_subject(personal_id: str, secret: str) -> str:
    if not secret:
        raise ValueError("the subject secret must not be empty")
    digest = hmac.new(secret.encode(), personal_id.encode(), hashlib.sha256).digest()
    return SUBJECT_PREFIX + base64.b32encode(digest[:20]).decode().lower()
