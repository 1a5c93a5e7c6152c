"""The web application's key for the dialogue engine, shared by every channel adapter."""

from __future__ import annotations

from aiohttp import web

from bot.dialogue import DialogueEngine

DIALOGUE = web.AppKey("dialogue", DialogueEngine)
