"""The browser app for running the trial: `create_app(STUDY)`, served by `nmmstrial serve`.

Needs the `web` extra (`pip install 'nmmstrial[web]'`): FastAPI, uvicorn, Jinja2 and
python-multipart. See docs/web.md.
"""

from .app import create_app
from .sessions import Settings

__all__ = ["Settings", "create_app"]
