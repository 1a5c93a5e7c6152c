"""The staff panel under `/panel/`: server-rendered pages (aiohttp + Jinja2) for the tax office.

`app.setup_panel` mounts it (off unless `panel.enabled`); `auth` signs staff in and out and guards
every page by role; `csrf` refuses forged unsafe requests; `render` draws pages in Polish or
English; `audit` writes who viewed whose data. Each feature is a module of its own (`handoffs`,
`cases`, `broadcasts`, `money`, `delivery`) exposing `routes()` and `NAV`. docs/panel.md.
"""
