"""The server's routes, one ``APIRouter`` per resource; ``ROUTERS`` in the order the app includes them."""

from __future__ import annotations

from . import animate, health, heads, jobs, preview

ROUTERS = (health.router, heads.router, animate.router, jobs.router, preview.router)
