"""Opaque, stable subject ids for citizens: the `sub` of their tokens and the reference other services keep,
never the personal id number itself."""
import base64, hashlib, hmac

def citizen_subject(personal_id: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), personal_id.encode(), hashlib.sha256).digest()
    return "vn1." + base64.b32encode(digest[:20]).decode().lower()
