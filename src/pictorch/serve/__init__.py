"""``pictorch serve``: the gallery over HTTP (FastAPI) and a web page, secure by default.

The HTTP layer adds no logic of its own: every answer comes from
:class:`pictorch.tasks.identify.service.GalleryService`, so the CLI and HTTP agree on the same photo.
"""
