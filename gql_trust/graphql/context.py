"""Per-request state that resolvers share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..disclosure import DisclosureTally
from ..identity import PUBLIC, Principal
from ..trust import RequestTrace, Trust


@dataclass
class RequestContext:
    trust: Trust
    trace: RequestTrace = field(default_factory=RequestTrace)
    loaders: dict[Any, Any] = field(default_factory=dict)  # batched nested dataset fields
    disclosure: DisclosureTally = field(default_factory=DisclosureTally)
    request: Any = None
    response: Any = None
    principal: Principal = PUBLIC
