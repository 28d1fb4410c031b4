"""``python -m processing``: serve the app on the configured host and port."""

import uvicorn

from .main import create_app
from .settings import Settings

if __name__ == "__main__":
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
