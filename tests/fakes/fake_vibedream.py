"""A local stand-in for the hosted VibeDream text-to-image API (Z-Image Turbo).

It speaks the real protocol over HTTP on 127.0.0.1 (contract: shared/vibedream-api.md) and lets
tests script what the provider does: injected faults per route, planned outcomes per prediction,
a credit balance, and random faults for benchmarks. It records what clients did so tests can
assert on it.

Choices where the provider's page is silent:
- Validation is strict (types must match exactly, null is not "absent", strength must be a
  multiple of 0.1): a client that passes a strict fake also passes a lenient provider.
- Every created prediction is billed, failed ones included (the costlier reading).
- Poll responses carry an undocumented `progress` field, so clients prove they ignore extras.
- A completed prediction with `output="missing"` reports `outputs: []`.
- The download route needs no key: outputs are public asset links. They are served from the
  API's own origin, or with `assets_host="127.0.0.2"` from a second origin on that loopback
  address, as the provider serves them from its own assets host.
- Broken outputs a client must refuse: cut short ("truncated"), bytes flipped mid-file
  ("corrupt"), a decompression bomb (`bomb_image`: a tiny file declaring 12000*12000 pixels),
  a redirect to the real file ("redirect"), a link on a host the client does not trust
  ("foreign_host": localhost instead of 127.0.0.1, the same server, so a request to it would
  be counted).
- Random submit faults follow one model: a 429 or 5xx means the provider did not accept the
  request; a dropped connection, a slow answer or an unreadable one means it did, and billed it.

Run on its own (`python -m tests.fakes.fake_vibedream`) it serves until stopped and prints its
base URL; `GET /_fake/stats` then reports what it recorded, for benchmarks in another process.

Note for tests: aiohttp's client retries an idempotent request (GET) once when the server
disconnects, so one "drop" on the poll or download route is invisible to it; inject two.
"""

from __future__ import annotations

import argparse
import asyncio
import colorsys
import functools
import io
import json
import random
import signal
import struct
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from PIL import Image, ImageDraw

MODEL_ID = "z-image-turbo"
MODEL_NAME = "Z-Image Turbo"
MODERATION_ERROR = "Your request was flagged by content moderation. Please modify your prompt."
REFERENCE_ERROR = "Could not load the reference image."

SIZES = ("512*512", "768*768", "1024*1024", "1024*768", "768*1024", "1280*720", "720*1280")
FORMATS = ("jpeg", "png", "webp")
MAX_SEED = 2147483647
ROUTES = ("submit", "poll", "download")
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
OVERSIZED_BYTES = 65 * 1024 * 1024  # just over the 64 MiB a client should accept
REFERENCE_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}  # what the provider accepts as `image`

_OTHER_FORMAT = {"jpeg": "png", "png": "jpeg", "webp": "png"}
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {  # fastest encodes: images are placeholders
    "jpeg": {"quality": 85},
    "png": {"compress_level": 1},
    "webp": {"quality": 80, "method": 0},
}
_PALETTE = [tuple(round(c * 255) for c in colorsys.hsv_to_rgb(i / 16, 0.6, 0.9)) for i in range(16)]
_ZERO_CHUNK = bytes(256 * 1024)
_NOT_IMAGE = "<!doctype html><html><body><h1>Access denied</h1></body></html>"
_NOT_JSON = '{"id": "'  # truncated JSON, served with a JSON content type


@dataclass
class Fault:
    """One injected failure for the next request on a route ("submit", "poll" or "download").
    "truncated" serves the real output cut in half (on the other routes, like "malformed")."""

    kind: Literal["status", "drop", "hang", "malformed", "truncated"]
    status: int = 500  # for "status"
    retry_after: float | None = None  # sent as a Retry-After header, written as given ("0.2")
    body: str | None = None  # for "status"; default {"error": ...}; plain text is sent as such
    delay: float = 0.0  # for "hang": sleep this long, then answer normally
    # Submit only: create and bill the prediction before the fault strikes, so a client that
    # sees a timeout, drop or error may still have been charged.
    after_effect: bool = True


@dataclass
class Outcome:
    """How the next submitted prediction will end."""

    status: Literal["completed", "failed"] = "completed"
    error: str | None = None  # for "failed"; default MODERATION_ERROR
    output: Literal[
        "ok",
        "missing",
        "oversized",
        "not_image",
        "wrong_size",
        "wrong_format",
        "truncated",
        "corrupt",
        "bomb",
        "redirect",
        "foreign_host",
    ] = "ok"
    unknown_status: str | None = None  # reported instead of "processing" while running
    generation_time: float | None = None  # overrides the server's for this prediction
    estimated_time: str | None = None  # overrides the server's estimatedTime string


@dataclass
class Prediction:
    """The fake's state for one prediction; `body` is the submit body with defaults filled in."""

    id: str
    body: dict[str, Any]
    outcome: Outcome
    seed: int  # the seed actually used (a random one when the body says -1)
    created: float  # time.monotonic()
    created_wall: datetime
    completes_at: float  # time.monotonic()
    cost_cents: int
    status: str = "processing"
    completed_at: float | None = None  # set when a poll first finds it done
    observed_at: float | None = None  # when a poll first told a client it was done
    polls: int = 0
    outputs: list[str] | None = None
    error: str | None = None
    reference_format: str | None = None  # Pillow's name for the fetched `image`, e.g. "PNG"
    reference_task: asyncio.Task[float] | None = field(default=None, repr=False)

    def wall(self, moment: float) -> datetime:
        """The wall-clock time of a monotonic `moment` of this prediction's life."""
        return self.created_wall + timedelta(seconds=moment - self.created)


class FakeVibeDream:
    """An HTTP server on 127.0.0.1 that behaves like the VibeDream API, scriptable by tests."""

    def __init__(
        self,
        *,
        api_key: str = "test-api-key",
        generation_time: float | Callable[[dict[str, Any]], float] = 0.05,
        cost_cents: int = 1,
        estimated_time: str = "1-3s",
        credit_cents: int | None = None,
        fault_rate: float = 0.0,
        seed: int = 0,
        fetch_references: bool = True,
        submit_latency: float = 0.0,
        assets_host: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.assets_host = assets_host  # a second loopback address serving the outputs
        self.generation_time = generation_time
        self.cost_cents = cost_cents
        self.estimated_time = estimated_time
        self.credit_cents = credit_cents  # remaining balance; None means unlimited
        self.fault_rate = fault_rate
        self.fetch_references = fetch_references
        # Seconds between billing a submit (on arrival) and answering it.
        self.submit_latency = submit_latency
        self.submissions: list[dict[str, Any]] = []
        self.predictions: dict[str, Prediction] = {}
        self.billing: dict[str, int] = {}
        self.faults_injected: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._faults: dict[str, deque[Fault]] = {route: deque() for route in ROUTES}
        self._outcomes: deque[Outcome] = deque()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._origin = ""
        self._assets_origin = ""

    @property
    def base_url(self) -> str:
        """The API root clients should use, e.g. "http://127.0.0.1:PORT/api/v1"."""
        if not self._origin:
            raise RuntimeError("FakeVibeDream is not started")
        return f"{self._origin}/api/v1"

    @property
    def billed_cents(self) -> int:
        return sum(self.billing.values())

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"/api/v1/models/{MODEL_ID}/generate", self._submit)
        app.router.add_get("/api/v1/predictions/{id}", self._poll)
        app.router.add_get("/assets/outputs/{id}/{name}", self._download)
        app.router.add_get("/_fake/stats", self._stats)
        # handler_cancellation: a client that gives up on a hang also ends the handler, so a
        # hung submit without after_effect creates nothing, and streams stop at disconnect.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.1, access_log=None
        )
        await self._runner.setup()
        # A large backlog so hundreds of clients connecting at once are not refused.
        await web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024).start()
        self._origin = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._assets_origin = self._origin
        if self.assets_host is not None:
            await web.TCPSite(self._runner, self.assets_host, 0).start()
            self._assets_origin = f"http://{self.assets_host}:{self._runner.addresses[1][1]}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        fetches = [p.reference_task for p in self.predictions.values() if p.reference_task]
        for task in fetches:
            task.cancel()
        await asyncio.gather(*fetches, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FakeVibeDream:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def inject(self, route: str, *faults: Fault) -> None:
        """Queue faults for the next requests on `route`, one per request, in order."""
        if route not in ROUTES:
            raise ValueError(f"route must be one of {ROUTES}, not {route!r}")
        self._faults[route].extend(faults)

    def plan(self, *outcomes: Outcome) -> None:
        """Queue outcomes for the next created predictions, one per prediction, in order."""
        self._outcomes.extend(outcomes)

    # Handlers: each takes the route's next fault first, as trouble in front of the API would.

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        self.requests["submit"] += 1
        fault = self._take_fault("submit")
        body = _json_object(await request.read())
        if body is not None:
            self.submissions.append(body)
        if fault is None:
            response = self._accept(request, body)
            if self.submit_latency:
                await asyncio.sleep(self.submit_latency)
            return response
        if fault.after_effect:
            response = self._accept(request, body)
            faulted = await self._serve_fault(request, "submit", fault)
            return response if faulted is None else faulted
        faulted = await self._serve_fault(request, "submit", fault)
        return self._accept(request, body) if faulted is None else faulted

    async def _poll(self, request: web.Request) -> web.StreamResponse:
        self.requests["poll"] += 1
        fault = self._take_fault("poll")
        if fault is not None:
            faulted = await self._serve_fault(request, "poll", fault)
            if faulted is not None:
                return faulted
        if not self._authorized(request):
            return _error(401, "Invalid API key")
        prediction = self.predictions.get(request.match_info["id"])
        if prediction is None:
            return _error(404, "Prediction not found")
        prediction.polls += 1
        now = time.monotonic()
        self._settle(prediction, now)
        completed_at = prediction.completed_at
        if completed_at is not None and prediction.observed_at is None:
            prediction.observed_at = now
        running_status = prediction.outcome.unknown_status or "processing"
        span = prediction.completes_at - prediction.created
        return web.json_response(
            {
                "id": prediction.id,
                "modelId": MODEL_ID,
                "modelName": MODEL_NAME,
                "status": running_status if completed_at is None else prediction.status,
                "outputs": prediction.outputs,
                "error": prediction.error,
                "createdAt": _iso(prediction.created_wall),
                "completedAt": None
                if completed_at is None
                else _iso(prediction.wall(completed_at)),
                # Undocumented extra: clients must ignore fields they do not know.
                "progress": min((now - prediction.created) / span, 1.0) if span > 0 else 1.0,
            }
        )

    async def _download(self, request: web.Request) -> web.StreamResponse:
        self.requests["download"] += 1
        fault = self._take_fault("download")
        if fault is not None and fault.kind != "truncated":
            faulted = await self._serve_fault(request, "download", fault)
            if faulted is not None:
                return faulted
        prediction = self.predictions.get(request.match_info["id"])
        if prediction is None or not prediction.outputs:
            return web.Response(status=404, text="Not found")
        fmt = prediction.body["output_format"]
        width, height = (int(n) for n in prediction.body["size"].split("*"))
        colour = prediction.seed % len(_PALETTE)
        match prediction.outcome.output:
            case "not_image":
                return web.Response(text=_NOT_IMAGE, content_type="text/html")
            case "wrong_size":
                data = await _image(width // 2, height // 2, fmt, colour)
            case "wrong_format":
                data = await _image(width, height, _OTHER_FORMAT[fmt], colour)
            case "oversized":
                return await _stream_oversized(
                    request, CONTENT_TYPES[fmt], await _image(width, height, fmt, colour)
                )
            case "truncated":
                data = truncated(await _image(width, height, fmt, colour))
            case "corrupt":
                data = corrupted(await _image(width, height, fmt, colour))
            case "bomb":
                data = await asyncio.to_thread(bomb_image, fmt)
            case "redirect" if request.query.get("direct") != "1":
                return web.Response(status=302, headers={"Location": f"{request.url}?direct=1"})
            case _:
                data = await _image(width, height, fmt, colour)
        if fault is not None:  # a "truncated" fault: this one transfer is cut short
            self.faults_injected["download:truncated"] += 1
            data = truncated(data)
        return web.Response(body=data, content_type=CONTENT_TYPES[fmt])

    async def _stats(self, request: web.Request) -> web.Response:
        """What the fake recorded, for a benchmark running the bot in another process."""
        return web.json_response(
            {
                "predictions": {
                    prediction.id: {
                        "seed": prediction.body["seed"],
                        "prompt": prediction.body["prompt"],
                        "created": prediction.created,
                        "completes_at": prediction.completes_at,
                        "observed_at": prediction.observed_at,
                        "polls": prediction.polls,
                        "cost_cents": self.billing.get(prediction.id, 0),
                    }
                    for prediction in self.predictions.values()
                },
                "billed_cents": self.billed_cents,
                "submissions": len(self.submissions),
                "faults_injected": dict(self.faults_injected),
                "requests": dict(self.requests),
            }
        )

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    # Submit internals.

    def _accept(self, request: web.Request, body: dict[str, Any] | None) -> web.Response:
        """Answer a submit as the API would, creating and billing the prediction if valid."""
        if not self._authorized(request):
            return _error(401, "Invalid API key")
        if body is None:
            return _error(400, "Request body must be a JSON object")
        try:
            params = _validate(body)
        except ValueError as exc:
            return _error(400, str(exc))
        if self.credit_cents is not None and self.credit_cents < self.cost_cents:
            return _error(402, "Insufficient credits")
        prediction = self._create(params)
        return web.json_response(
            {
                "id": prediction.id,
                "status": "processing",
                "statusUrl": f"{self.base_url}/predictions/{prediction.id}",
                "estimatedTime": prediction.outcome.estimated_time or self.estimated_time,
                "costCents": prediction.cost_cents,
                "createdAt": _iso(prediction.created_wall),
            }
        )

    def _create(self, params: dict[str, Any]) -> Prediction:
        outcome = self._outcomes.popleft() if self._outcomes else self._default_outcome()
        if outcome.generation_time is not None:
            duration = outcome.generation_time
        elif callable(self.generation_time):
            duration = self.generation_time(params)
        else:
            duration = self.generation_time
        seed = params["seed"] if params["seed"] != -1 else self._rng.randint(0, MAX_SEED)
        now = time.monotonic()
        prediction = Prediction(
            id=str(uuid.uuid4()),
            body=params,
            outcome=outcome,
            seed=seed,
            created=now,
            created_wall=datetime.now(UTC),
            completes_at=now + duration,
            cost_cents=self.cost_cents,
        )
        if self.fetch_references and "image" in params:
            prediction.reference_task = asyncio.create_task(self._fetch_reference(prediction))
        self.predictions[prediction.id] = prediction
        self.billing[prediction.id] = self.cost_cents
        if self.credit_cents is not None:
            self.credit_cents -= self.cost_cents
        return prediction

    def _default_outcome(self) -> Outcome:
        if self.fault_rate and self._rng.random() < self.fault_rate:
            self.faults_injected["prediction:failed"] += 1
            return Outcome(status="failed")
        return Outcome()

    async def _fetch_reference(self, prediction: Prediction) -> float:
        """Fetch the `image` URL, record its format if usable; return when it finished."""
        assert self._session is not None
        try:
            async with self._session.get(prediction.body["image"], raise_for_status=True) as resp:
                data = await resp.read()
            with Image.open(io.BytesIO(data)) as image:
                if image.format in REFERENCE_FORMATS:
                    prediction.reference_format = image.format
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            pass  # reference_format stays None: the prediction fails with REFERENCE_ERROR
        return time.monotonic()

    # Poll internals.

    def _settle(self, prediction: Prediction, now: float) -> None:
        """Decide the prediction's end once it is due and its reference fetch has finished."""
        if prediction.completed_at is not None or now < prediction.completes_at:
            return
        done_at = prediction.completes_at
        task = prediction.reference_task
        if task is not None:
            if not task.done():
                return
            done_at = max(done_at, task.result())
        prediction.completed_at = done_at
        outcome = prediction.outcome
        if task is not None and prediction.reference_format is None:
            prediction.status, prediction.error = "failed", REFERENCE_ERROR
        elif outcome.status == "failed":
            prediction.status, prediction.error = "failed", outcome.error or MODERATION_ERROR
        else:
            prediction.status = "completed"
            millis = int(prediction.wall(done_at).timestamp() * 1000)
            origin = self._assets_origin
            if outcome.output == "foreign_host":
                origin = origin.replace("://127.0.0.1:", "://localhost:")
            url = f"{origin}/assets/outputs/{prediction.id}/{millis}-0."
            url += prediction.body["output_format"]
            prediction.outputs = [] if outcome.output == "missing" else [url]

    # Faults.

    def _take_fault(self, route: str) -> Fault | None:
        if self._faults[route]:
            return self._faults[route].popleft()
        if self.fault_rate and self._rng.random() < self.fault_rate:
            return self._random_fault()
        return None

    def _random_fault(self) -> Fault:
        rng = self._rng
        kind = rng.choice(("429", "500", "502", "503", "drop", "hang", "malformed"))
        if kind == "429":  # a rate limiter rejects before doing any work
            return Fault(
                "status", 429, retry_after=round(rng.uniform(0.1, 0.5), 2), after_effect=False
            )
        if kind == "hang":
            return Fault("hang", delay=rng.uniform(0.5, 2.0))
        if kind in ("drop", "malformed"):
            # A submit that reached the provider is processed; what gets lost is the answer.
            return Fault("drop" if kind == "drop" else "malformed", after_effect=True)
        # A 5xx is the provider (or its edge) failing before it accepted the request.
        return Fault("status", int(kind), after_effect=False)

    async def _serve_fault(
        self, request: web.Request, route: str, fault: Fault
    ) -> web.StreamResponse | None:
        """Serve `fault`; None means handle the request normally now (a hang that ended)."""
        key = f"{route}:{fault.kind}" + (f":{fault.status}" if fault.kind == "status" else "")
        self.faults_injected[key] += 1
        match fault.kind:
            case "hang":
                await asyncio.sleep(fault.delay)
                return None
            case "malformed" | "truncated":
                return web.Response(text=_NOT_JSON, content_type="application/json")
            case "drop":
                # Close without a byte of response; writing the returned one then fails quietly.
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
            case "status":
                headers = (
                    {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                )
                text = fault.body
                if text is None:
                    text = json.dumps({"error": f"Injected fault (HTTP {fault.status})"})
                content_type = (
                    "text/plain" if _json_object(text.encode()) is None else "application/json"
                )
                return web.Response(
                    status=fault.status, text=text, content_type=content_type, headers=headers
                )


def _validate(body: dict[str, Any]) -> dict[str, Any]:
    """Return the body with defaults filled in, or raise ValueError saying what is wrong."""
    params = {"size": "1024*1024", "strength": 0.6, "seed": -1, "output_format": "jpeg", **body}
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt is required and must be a non-empty string")
    if params["size"] not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}")
    if params["output_format"] not in FORMATS:
        raise ValueError(f"output_format must be one of {', '.join(FORMATS)}")
    strength = params["strength"]
    if (
        not isinstance(strength, int | float)
        or isinstance(strength, bool)
        or not 0 <= strength <= 1
        or abs(strength * 10 - round(strength * 10)) > 1e-9
    ):
        raise ValueError("strength must be a number from 0 to 1 in steps of 0.1")
    seed = params["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or not -1 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer from -1 to {MAX_SEED}")
    if "image" in params:
        url = params["image"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("image must be an http(s) URL")
    return params


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as the provider writes it."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=512)
def _render(width: int, height: int, fmt: str, colour: int) -> bytes:
    """A cheap real image: a solid colour with a contrasting disc and band."""
    image = Image.new("RGB", (width, height), _PALETTE[colour])
    draw = ImageDraw.Draw(image)
    accent = _PALETTE[(colour + len(_PALETTE) // 2) % len(_PALETTE)]
    draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=accent)
    draw.rectangle((0, height * 7 // 8, width, height), fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper(), **_SAVE_OPTIONS[fmt])
    return buffer.getvalue()


def truncated(data: bytes) -> bytes:
    """The first half of a file, as a transfer cut short would leave it."""
    return data[: len(data) // 2]


def corrupted(data: bytes) -> bytes:
    """The file with eight bytes in its middle flipped, as a bad disk or proxy would leave it."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 8]) + data[middle + 8 :]


@functools.lru_cache(maxsize=8)
def bomb_image(fmt: str, width: int = 12000, height: int = 12000) -> bytes:
    """A tiny file that declares `width`*`height` pixels. 12000*12000 is under Pillow's own
    refusal (2 * MAX_IMAGE_PIXELS), so a client that trusts Pillow alone allocates ~576 MB.
    The PNG is a real one (every row present, 410 KiB); the JPEG and WebP are small images
    whose headers were rewritten, which is all a header check sees."""
    if fmt == "png":
        return _png_bomb(width, height)
    small = _render(64, 64, fmt, 0) if fmt == "jpeg" else _lossless_webp(64, 64)
    if fmt == "jpeg":
        frame = _jpeg_frame_offset(small)
        return small[: frame + 3] + struct.pack(">HH", height, width) + small[frame + 7 :]
    bits = struct.unpack("<I", small[21:25])[0] & ~0x0FFFFFFF  # keep alpha and version bits
    bits |= (width - 1) | ((height - 1) << 14)
    return small[:21] + struct.pack("<I", bits) + small[25:]


def _png_bomb(width: int, height: int) -> bytes:
    """A valid RGB PNG of zeros. The zlib stream repeats one independently compressed block
    (a full flush resets the history), so making it takes milliseconds, not seconds."""
    raw_length = height * (1 + 3 * width)
    block_length = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(block_length)) + compressor.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(raw_length, block_length)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = compressor.compress(bytes(rest)) + compressor.flush(zlib.Z_FINISH)
    adler = ((raw_length % 65521) << 16) | 1  # Adler-32 of raw_length zero bytes
    idat = b"\x78\xda" + block * count + tail + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _lossless_webp(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), _PALETTE[0]).save(buffer, "WEBP", lossless=True)
    return buffer.getvalue()


def _jpeg_frame_offset(data: bytes) -> int:
    """Where the start-of-frame segment's length field starts."""
    position = 2
    while data[position] == 0xFF:
        marker = data[position + 1]
        if 0xC0 <= marker <= 0xC3:
            return position + 2
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    raise ValueError("no start of frame")


async def _image(width: int, height: int, fmt: str, colour: int) -> bytes:
    # Encoding off the event loop: a first encode of a large WebP takes tens of milliseconds.
    return await asyncio.to_thread(_render, width, height, fmt, colour)


async def _stream_oversized(
    request: web.Request, content_type: str, head: bytes
) -> web.StreamResponse:
    """A real image followed by padding past 64 MiB, chunked with no Content-Length."""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    try:
        await response.prepare(request)
        await response.write(head)
        for _ in range(0, OVERSIZED_BYTES, len(_ZERO_CHUNK)):
            await response.write(_ZERO_CHUNK)
        await response.write_eof()
    except ConnectionError:
        pass  # the client stopped reading, as a client with a byte cap should
    return response


async def _serve_until_stopped(fake: FakeVibeDream) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    async with fake:
        print(fake.base_url, flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake VibeDream API on 127.0.0.1.")
    parser.add_argument(
        "--generation", nargs=2, type=float, default=(0.6, 2.5), metavar=("MIN", "MAX")
    )
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--submit-latency", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    spread = random.Random(arguments.seed)
    low, high = arguments.generation
    fake = FakeVibeDream(
        generation_time=lambda _body: spread.uniform(low, high),
        fault_rate=arguments.fault_rate,
        submit_latency=arguments.submit_latency,
        seed=arguments.seed,
    )
    asyncio.run(_serve_until_stopped(fake))


if __name__ == "__main__":
    main()
