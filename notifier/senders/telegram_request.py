"""python-telegram-bot's network layer on aiohttp, the HTTP client the process already runs.

PTB sends every Bot API call through one `BaseRequest`; its default (httpx) spends several
milliseconds of CPU per small request in its connection pool when many are in flight, which
caps the dispatcher far below the peer's speed (bench/results/dispatch.json). Errors keep PTB's
own types (`TimedOut`, `NetworkError`), so the sender maps them as it maps any PTB error, and
their messages never carry the URL (which holds the bot's token).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_DEFAULT: Any = BaseRequest.DEFAULT_NONE


class AiohttpRequest(BaseRequest):
    def __init__(self, *, pool_size: int = 64, timeout: float = 10.0) -> None:
        self._pool_size = pool_size
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _seconds(self, value: Any) -> float | None:
        return self._timeout if value is _DEFAULT else value

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = _DEFAULT,
        write_timeout: Any = _DEFAULT,
        connect_timeout: Any = _DEFAULT,
        pool_timeout: Any = _DEFAULT,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = aiohttp.ClientTimeout(
            connect=self._seconds(pool_timeout),
            sock_connect=self._seconds(connect_timeout),
            sock_read=self._seconds(read_timeout),
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # The class only, and not chained: some aiohttp errors quote the URL (a redirect
            # loop's, an invalid one's), and the URL holds the token; a traceback of the chain
            # would print it.
            raise NetworkError(f"aiohttp.{type(err).__name__}") from None


def _body(request_data: RequestData | None) -> Any:
    """A JSON body (the Bot API takes one; a fraction of form-encoding's CPU), multipart with
    the fields as PTB encodes them (JSON values as strings) when files go too."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return aiohttp.BytesPayload(
            orjson.dumps(request_data.parameters), content_type="application/json"
        )
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in files.items():
        filename, content, *rest = part
        form.add_field(name, content, filename=filename, content_type=rest[0] if rest else None)
    return form
