"""Who is asking: the role and subject behind an API key, and what they may touch."""

from __future__ import annotations

from dataclasses import dataclass

from trustflow.accounts.models import Role


@dataclass(frozen=True)
class Principal:
    role: Role
    subject_id: int | None
    key_id: int | None = None

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR

    def is_(self, role: Role, subject_id: int | None) -> bool:
        return self.role is role and subject_id is not None and self.subject_id == subject_id

    @property
    def actor(self) -> str:
        """How the audit trail names this principal."""
        return (
            self.role.value if self.subject_id is None else f"{self.role.value}:{self.subject_id}"
        )


SYSTEM = Principal(Role.OPERATOR, None)
