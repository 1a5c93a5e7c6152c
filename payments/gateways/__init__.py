"""Online payment gateways behind one small interface (`base.Gateway`), chosen by
`payments.gateway`: `demo` (a local page, for `make run`) or `przelewy24`."""

from __future__ import annotations

import aiohttp

from kernel.clock import Clock
from kernel.settings import Settings
from payments.gateways.base import Gateway
from payments.gateways.demo import DemoGateway
from payments.gateways.przelewy24 import Przelewy24Gateway


def make_gateway(settings: Settings, http: aiohttp.ClientSession, clock: Clock) -> Gateway:
    chosen = settings.payments
    if chosen.gateway == "przelewy24":
        return Przelewy24Gateway(chosen.przelewy24, http)
    return DemoGateway(chosen.demo, settings.web.public_base_url, clock)
