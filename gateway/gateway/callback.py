"""``GET /oauth/callback``: the page a browser lands on after the login, showing the authorization code.

Apps registered with their own redirect URI (``vn.motcua.app:/oauth/callback``, a loopback port) never see
it; it is for people trying the API from a browser and for the demo. Everything shown is HTML-escaped, and
the page keeps the code out of caches and out of the Referer of any later request."""

from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Một Cửa</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
code {{ display: block; padding: .6rem; background: #f3f3f3; border-radius: 4px; word-break: break-all; }}
.error {{ color: #a00; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


async def callback_page(request: Request) -> HTMLResponse:
    params = request.query_params
    code, state = params.get("code"), params.get("state")
    error = params.get("error")
    if error:
        title = "Đăng nhập không thành công"
        body = f'<p class="error">Mã lỗi: <strong>{escape(error)}</strong></p>'
        if params.get("error_description"):
            body += f"<p>{escape(params['error_description'])}</p>"
        body += "<p>Vui lòng quay lại ứng dụng và thử đăng nhập lại.</p>"
        status = 400
    elif code:
        title = "Đăng nhập thành công"
        body = (
            "<p>Mã ủy quyền (authorization code) của bạn:</p>"
            f'<code id="code">{escape(code)}</code>'
            f'<p>Tham số <em>state</em>:</p><code id="state">{escape(state or "")}</code>'
            "<p>Mã chỉ dùng được một lần và hết hạn sau 60 giây. Ứng dụng đổi mã này lấy access token tại "
            "<code>POST /oauth/token</code> (grant_type=authorization_code, kèm code_verifier của PKCE).</p>"
        )
        status = 200
    else:
        title = "Không có mã ủy quyền"
        body = "<p>Trang này nhận kết quả đăng nhập; địa chỉ không chứa mã ủy quyền (code).</p>"
        status = 400
    return HTMLResponse(PAGE.format(title=title, body=body), status_code=status, headers=HEADERS)
