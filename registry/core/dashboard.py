"""Dashboard tiles and charts. Each domain registers providers; the page shows what the role may see."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tile:
    label: object
    value: object
    url: str | None = None
    warn: bool = False
    hint: object = ""


@dataclass
class Panel:
    """A larger dashboard block rendered by a template partial (a chart, a list)."""

    title: object
    template: str
    context: dict = field(default_factory=dict)
    order: int = 100


# Callables (user) -> list[Tile] / list[Panel]; each decides what the user's role may see.
TILE_PROVIDERS: list = []
PANEL_PROVIDERS: list = []


def tiles_for(user) -> list[Tile]:
    out: list[Tile] = []
    for provider in TILE_PROVIDERS:
        out.extend(provider(user) or [])
    return out


def panels_for(user) -> list[Panel]:
    out: list[Panel] = []
    for provider in PANEL_PROVIDERS:
        out.extend(provider(user) or [])
    return sorted(out, key=lambda p: p.order)
