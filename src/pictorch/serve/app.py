"""The FastAPI app over one gallery: people, photos, who, verify, calibrate, health, the web page.

Every answer is a :mod:`pictorch.tasks.identify.service` result's ``to_dict()``; this module only checks keys,
rate limits, validates uploads, writes the audit log and renames temporary upload paths back to the names the
client sent. All gallery work runs on one worker thread: the gallery's SQLite connection belongs to the thread
that opened it, and one writer at a time is what SQLite does anyway (enrolments are single transactions, so an
acknowledged enrolment survives a crash and a half-done one leaves nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as Path_
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException as StarletteHTTPException

from pictorch.errors import PictorchError
from pictorch.gallery.backends import display_name, gallery_exists, short_name, sidecar
from pictorch.serve.bodies import Calibrate64, Photo64, Photos64, Rename, Who64
from pictorch.serve.keys import Key, KeyStore, default_keys_path
from pictorch.serve.uploads import MAX_BYTES, MAX_PIXELS, Spool, Upload, from_base64

STATIC = Path(__file__).parent / "static"


@dataclass
class Settings:
    """How the service runs.

    Attributes:
        gallery: The gallery file (created on the first enrolment when ``model`` is given).
        model: The model for a new gallery (``dlib-face`` or a checkpoint); an existing one records its own.
        keys: The key file (default ``<gallery>.keys.json``).
        audit: The audit log (default ``<gallery>.audit.jsonl``).
        spool: The private folder uploads are checked in (default ``<gallery>.uploads``). A PostgreSQL
            gallery's keys, audit log and spool default to ``~/.pictorch/postgres/<database>-<schema>.*``.
        max_bytes: Per-photo upload limit.
        max_pixels: Per-photo pixel limit (checked from the header, before decoding).
        rate: Requests per minute per key (a token bucket of this size).
        max_files: Photos per request.
        max_request_bytes: A whole request body; multipart parts are held in memory up to it, so uploaded
            photos never land in the system's temporary folder.
    """

    gallery: str
    model: str | None = None
    keys: str | None = None
    audit: str | None = None
    spool: str | None = None
    max_bytes: int = MAX_BYTES
    max_pixels: int = MAX_PIXELS
    rate: float = 600.0
    max_files: int = 50
    max_request_bytes: int = 64 * 1024 * 1024


class ApiError(Exception):
    """An HTTP error with one message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    """A token bucket per key: ``rate`` requests a minute, bursts up to ``rate``."""

    rate: float
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, kid: str) -> float:
        """0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self.lock:
            b = self.buckets.setdefault(kid, _Bucket(self.rate, now))
            b.tokens = min(self.rate, b.tokens + (now - b.at) * self.rate / 60.0)
            b.at = now
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return 0.0
            return (1.0 - b.tokens) * 60.0 / self.rate


class Worker:
    """The one thread that owns the open gallery; :meth:`call` runs a function on it with the service."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pictorch-gallery")
        self.svc: Any = None
        self.closed = False
        if gallery_exists(settings.gallery):  # models and index loaded at start, not on the first request
            self.call(lambda svc: svc.gallery.index if svc is not None else None)

    def _open(self) -> Any:
        from pictorch.tasks.identify.service import GalleryService

        if self.svc is None and gallery_exists(self.settings.gallery):
            self.svc = GalleryService.open(self.settings.gallery, self.settings.model)
        return self.svc

    def call(self, fn: Any) -> Any:
        """``fn(service or None)`` on the gallery thread; its exceptions come back here."""
        return self.pool.submit(lambda: fn(self._open())).result()

    def close(self) -> None:
        """Close the gallery and stop the thread (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True

        def _close(svc: Any) -> None:
            if svc is not None:
                svc.close()
            self.svc = None
        try:
            self.call(_close)
        finally:
            self.pool.shutdown(wait=True)


class Audit:
    """Append-only JSON lines of who (key id) did what to whom, when; each line flushed and fsynced."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.lock = threading.Lock()

    def write(self, key: Key, action: str, **what: Any) -> None:
        """One line: time, key id, action and details (names and counts only, never photos or hashes)."""
        row = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "key": key.id, "action": action, **what}
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # ~/.pictorch/postgres/ for a shared gallery
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())


# the request bodies (base64 photos, who, calibrate, rename): serve/bodies.py
# ------------------------------------------------------------------------------------------ keys
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="A key from pictorch serve keys create")


@dataclass
class _Auth:
    keys: KeyStore
    limiter: RateLimiter
    rate: float

    def key(self, request: Request, api_key: str | None) -> Key:
        secret = api_key
        auth = request.headers.get("authorization", "")
        if not secret and auth.lower().startswith("bearer "):
            secret = auth[7:].strip()
        if not secret:
            raise ApiError(401, "missing API key: send X-API-Key (pictorch serve keys create)",
                           {"WWW-Authenticate": "ApiKey"})
        key = self.keys.check(secret)
        if key is None:
            raise ApiError(401, "unknown API key", {"WWW-Authenticate": "ApiKey"})
        wait = self.limiter.take(key.id)
        if wait > 0:
            raise ApiError(429, f"rate limit of {self.rate:g} requests a minute reached; retry in {wait:.1f} s",
                           {"Retry-After": str(max(1, round(wait)))})
        return key


def reader(request: Request, api_key: Annotated[str | None, Depends(_HEADER)] = None) -> Key:
    """A valid key of any scope (401 without one, 429 over its rate)."""
    return request.app.state.auth.key(request, api_key)


def writer(request: Request, api_key: Annotated[str | None, Depends(_HEADER)] = None) -> Key:
    """A valid ``write`` key (403 for a read key)."""
    key = request.app.state.auth.key(request, api_key)
    if not key.allows("write"):
        raise ApiError(403, "this key may only read (who, verify, lists); enrolling, deleting and "
                            "calibrating need a write key")
    return key


Read = Annotated[Key, Depends(reader)]
Write = Annotated[Key, Depends(writer)]


# ------------------------------------------------------------------------------------------ the app
def create_app(settings: Settings) -> FastAPI:
    """The service for one gallery (opened, with its model and index loaded, before the first request)."""
    keys = KeyStore(settings.keys or default_keys_path(settings.gallery))
    audit = Audit(settings.audit or sidecar(settings.gallery, ".audit.jsonl"))
    limiter = RateLimiter(float(settings.rate))
    spool = Spool(settings.gallery, settings.spool)
    worker = Worker(settings)
    gallery_name = short_name(settings.gallery)
    _warm_up(worker, spool, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        worker.close()

    app = FastAPI(title="pictorch gallery", version="1", lifespan=lifespan,
                  description="Who is on this photo? Open-set face/object identification over one gallery. "
                              "Send an API key in X-API-Key (pictorch serve keys create --scope read|write).")
    app.state.worker, app.state.keys, app.state.settings = worker, keys, settings

    # Starlette spools multipart parts over 1 MB to the system's temp folder: keep them in memory instead
    # (bounded by the request cap below), so photos are written nowhere but <gallery>.uploads/.
    from starlette.formparsers import MultiPartParser

    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, settings.max_request_bytes)

    @app.middleware("http")
    async def _request_cap(request: Request, call_next: Any) -> Any:
        if request.method in ("POST", "PUT", "PATCH"):
            size = request.headers.get("content-length")
            if size is None or not size.isdigit():
                return JSONResponse({"error": "send a Content-Length header"}, 411)
            if int(size) > settings.max_request_bytes:
                return JSONResponse({"error": f"request of {size} bytes is larger than the "
                                              f"{settings.max_request_bytes} byte limit"}, 413)
        return await call_next(request)

    # -- errors: one JSON message, never a traceback
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return JSONResponse({"error": e.message}, e.status, headers=e.headers)

    @app.exception_handler(PictorchError)
    async def _pictorch_error(_: Request, e: PictorchError) -> JSONResponse:
        msg = _public(str(e), settings.gallery, gallery_name)
        status = getattr(e, "status", None) or (404 if "is not enrolled" in msg else 400)
        return JSONResponse({"error": msg}, status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        errs = e.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(e.detail)}, e.status_code, headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(_: Request, e: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error ({type(e).__name__}); see the server log"}, 500)

    app.state.auth = _Auth(keys, limiter, settings.rate)

    def svc_or_404(svc: Any) -> Any:
        if svc is None:
            raise ApiError(404, f"gallery {gallery_name} is empty: enrol someone first")
        return svc

    async def read_files(files: list[UploadFile]) -> list[Upload]:
        if len(files) > settings.max_files:
            raise ApiError(413, f"{len(files)} photos in one request; at most {settings.max_files}")
        out = []
        for f in files:
            data = await f.read(settings.max_bytes + 1)
            if len(data) > settings.max_bytes:
                raise ApiError(413, f"{f.filename}: larger than the {settings.max_bytes} byte upload limit")
            out.append(Upload(f.filename or "photo", data))
        return out

    def b64(photos: list[Photo64]) -> list[Upload]:
        if len(photos) > settings.max_files:
            raise ApiError(413, f"{len(photos)} photos in one request; at most {settings.max_files}")
        return [from_base64(p.name, p.data, settings.max_bytes) for p in photos]

    def answer(result: Any, names: dict[str, str]) -> dict[str, Any]:
        return _rename(result.to_dict(), {**names, settings.gallery: gallery_name,
                                          display_name(settings.gallery): gallery_name})

    # -- use cases
    def enrol(key: Key, name: str, ups: list[Upload]) -> dict[str, Any]:
        with spool.files(ups, settings.max_bytes, settings.max_pixels) as (paths, names):
            def run(svc: Any) -> Any:
                if svc is None:
                    from pictorch.tasks.identify import service

                    return service.enroll(settings.gallery, name, paths, model=settings.model)
                return svc.enroll(name, paths)
            if worker.svc is None and not gallery_exists(settings.gallery) and not settings.model:
                raise ApiError(409, f"gallery {gallery_name} does not exist; start the server with --model to "
                                    "create it on the first enrolment")
            res = worker.call(run)
            audit.write(key, "enrol", person=name, photos=res.enrolled, skipped=len(res.skipped))
            return answer(res, names)

    def who(ups: list[Upload], top_k: int, threshold: float | None, largest_face: bool) -> dict[str, Any]:
        with spool.files(ups, settings.max_bytes, settings.max_pixels) as (paths, names):
            res = worker.call(lambda svc: svc_or_404(svc).who(paths, top_k=top_k, threshold=threshold,
                                                              largest_face=largest_face))
            return answer(res, names)

    @app.get("/api/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Alive, and what the gallery holds (no key needed; names are not shown)."""
        def run(svc: Any) -> dict[str, Any]:
            if svc is None:
                return {"status": "ok", "gallery": gallery_name, "people": 0, "embeddings": 0, "calibrated": False}
            g = svc.gallery
            return {"status": "ok", "gallery": gallery_name, "people": len(g.people()), "embeddings": len(g),
                    "calibrated": bool(g.calibration)}
        return worker.call(run)

    @app.get("/api/gallery", tags=["service"])
    def gallery_info(key: Read) -> dict[str, Any]:
        """The model, metric, threshold (calibrated or not) and calibration report."""
        res = worker.call(lambda svc: svc_or_404(svc).info())
        d = answer(res, {})
        d.pop("people", None)
        d["note"] = worker.call(lambda svc: svc.threshold_note())
        return d

    @app.get("/api/people", tags=["people"])
    def people(key: Read, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        """Enrolled people with their photo counts, by name, one page at a time."""
        everyone = worker.call(lambda svc: {} if svc is None else svc.gallery.people())
        rows = [{"name": n, "photos": c} for n, c in sorted(everyone.items())]
        return {"total": len(rows), "offset": offset, "limit": limit, "people": rows[offset:offset + limit]}

    @app.post("/api/people", tags=["people"], status_code=201)
    async def create_person(key: Write, name: Annotated[str, Form(min_length=1, max_length=200)],
                            files: Annotated[list[UploadFile], File(description="Photos of the person")]
                            ) -> dict[str, Any]:
        """Enrol a new person (or more photos of one) from uploaded photos."""
        return enrol(key, name, await read_files(files))

    @app.patch("/api/people/{name}", tags=["people"])
    def rename_person(key: Write, name: str, body: Rename) -> dict[str, Any]:
        """Rename a person (``merge`` into an enrolled one)."""
        res = worker.call(lambda svc: svc_or_404(svc).rename(name, body.name, merge=body.merge))
        audit.write(key, "rename", person=name, to=body.name, merged=res.merged)
        return res.to_dict()

    @app.delete("/api/people/{name}", tags=["people"])
    def delete_person(key: Write, name: str) -> dict[str, Any]:
        """Remove a person: their embeddings and their photos' hashes go with them."""
        res = worker.call(lambda svc: svc_or_404(svc).remove(name))
        audit.write(key, "delete", person=name, embeddings=res.removed)
        return res.to_dict()

    @app.get("/api/people/{name}/photos", tags=["photos"])
    def list_photos(key: Read, name: str) -> dict[str, Any]:
        """A person's enrolled photos (id, content hash, when added)."""
        return {"name": name, "photos": worker.call(lambda svc: svc_or_404(svc).photos(name))}

    @app.delete("/api/people/{name}/photos/{photo_id}", tags=["photos"])
    def delete_photo(key: Write, name: str, photo_id: Annotated[int, Path_(ge=1, le=2**62)]) -> dict[str, Any]:
        """Remove one photo of a person (its embedding and hash); removing the last removes the person."""
        res = worker.call(lambda svc: svc_or_404(svc).remove_photo(name, photo_id))
        audit.write(key, "delete-photo", person=name, photo=photo_id, embeddings=res.removed)
        return res.to_dict()

    @app.post("/api/people/{name}/photos", tags=["photos"], status_code=201)
    async def add_photos(key: Write, name: str, files: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
        """Add photos of a person (multipart); a new name enrols a new person."""
        return enrol(key, name, await read_files(files))

    @app.post("/api/people/{name}/photos/base64", tags=["photos"], status_code=201)
    def add_photos64(key: Write, name: str, body: Photos64) -> dict[str, Any]:
        """Add photos of a person sent as base64 JSON."""
        return enrol(key, name, b64(body.photos))

    @app.post("/api/who", tags=["identify"])
    async def who_files(key: Read, files: Annotated[list[UploadFile], File()],
                        top_k: Annotated[int, Query(ge=1, le=100)] = 3,
                        threshold: Annotated[float | None, Query(allow_inf_nan=False)] = None,
                        largest_face: bool = False) -> dict[str, Any]:
        """Who is on each photo: every face, its box, name or ``unknown``, score, top-k, and the threshold
        with whether it was calibrated (an uncalibrated gallery says so in ``notes``)."""
        return who(await read_files(files), top_k, threshold, largest_face)

    @app.post("/api/who/base64", tags=["identify"])
    def who64(key: Read, body: Who64) -> dict[str, Any]:
        """``who`` on base64 photos."""
        return who(b64(body.photos), body.top_k, body.threshold, body.largest_face)

    @app.post("/api/verify", tags=["identify"])
    async def verify(key: Read, a: Annotated[UploadFile, File()], b: Annotated[UploadFile, File()],
                     threshold: Annotated[float | None, Query(allow_inf_nan=False)] = None) -> dict[str, Any]:
        """Are the two photos of the same person (the largest face of each)?"""
        from pictorch.tasks.identify import service

        ups = await read_files([a, b])
        with spool.files(ups, settings.max_bytes, settings.max_pixels) as (paths, names):
            def run(svc: Any) -> Any:
                svc_or_404(svc)
                return service.verify(paths[0], paths[1], gallery=settings.gallery, threshold=threshold)
            return answer(worker.call(run), names)

    @app.post("/api/people/{name}/verify", tags=["identify"])
    async def verify_person(key: Read, name: str, photo: Annotated[UploadFile, File()],
                            threshold: Annotated[float | None, Query(allow_inf_nan=False)] = None) -> dict[str, Any]:
        """Is the photo (its largest face) of this enrolled person? Scored as ``who`` scores them; ``same``
        at the typed threshold, else the gallery's (``calibrated`` and ``notes`` say whether it was calibrated);
        404 for a name not enrolled."""
        from pictorch.tasks.identify import service

        ups = await read_files([photo])
        with spool.files(ups, settings.max_bytes, settings.max_pixels) as (paths, names):
            res = worker.call(lambda svc: service.verify_person_with(svc_or_404(svc), paths[0], name, threshold))
            return answer(res, names)

    @app.post("/api/calibrate", tags=["identify"])
    def calibrate(key: Write, body: Calibrate64) -> dict[str, Any]:
        """Choose and store the threshold for ``target_far`` from labelled photos not used to enrol."""
        ups = b64(body.photos)
        with spool.files(ups, settings.max_bytes, settings.max_pixels) as (paths, names):
            labelled = [(p, ph.person) for p, ph in zip(paths, body.photos, strict=True)]
            res = worker.call(lambda svc: svc_or_404(svc).calibrate(labelled, body.target_far))
            audit.write(key, "calibrate", target_far=body.target_far, threshold=res.threshold,
                        photos=len(labelled))
            return answer(res, names)

    # -- the web page
    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app


def _warm_up(worker: Worker, spool: Spool, settings: Settings) -> None:
    """One ``who`` on a blank photo at start, so the first real request finds image plugins, preprocessing and
    the model warm (measured: the first request took 10x the steady 2 ms without this; bench/serve_who.py)."""
    import io

    import starlette.formparsers  # noqa: F401  (multipart parsing loads on the first upload otherwise)
    from PIL import Image

    if worker.svc is None:
        return
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (128, 128, 128)).save(buf, "PNG")
    try:
        with spool.files([Upload("warm-up.png", buf.getvalue())], settings.max_bytes, settings.max_pixels) as (p, _):
            worker.call(lambda svc: svc.who(p))
    except PictorchError:  # e.g. no face on a blank photo: the work up to there is what warms
        pass


def _public(msg: str, gallery: str, name: str) -> str:
    """A message without the server's folders (the gallery by name; uploads by their temp file name)."""
    import re

    msg = msg.replace(str(gallery), name).replace(display_name(gallery), name)
    return re.sub(r"\S*\.uploads/[^/\s]+/\d{3}_", "", msg)


def _rename(obj: Any, names: dict[str, str]) -> Any:
    """Temporary upload paths (and the gallery's path) replaced by the names the client knows."""
    if isinstance(obj, str):
        if obj in names:
            return names[obj]
        for k, v in names.items():
            if k in obj:
                obj = obj.replace(k, v)
        return obj
    if isinstance(obj, dict):
        return {k: _rename(v, names) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rename(v, names) for v in obj]
    return obj

