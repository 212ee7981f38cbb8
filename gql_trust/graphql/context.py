"""Per-request state that resolvers share."""

from __future__ import annotations

import time
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
    operation_named: bool = True  # did the request name its operation?
    started: float = field(default_factory=time.monotonic)
    policy: Any = None  # the PolicyEngine in force when the request began (reloads swap it)
    dry_run: Any = None  # DryRunNotes when the request asked for a dry run
    privacy: Any = None  # PrivacyReport of zCDP releases (extensions.privacy)

    def __post_init__(self) -> None:
        if self.policy is None:
            self.policy = self.trust.policy

    def remaining(self) -> float:
        """Seconds left before the request's deadline: no source call may outlive it."""
        deadline = self.started + self.trust.settings.limits.request_timeout_s
        return max(deadline - time.monotonic(), 0.001)
