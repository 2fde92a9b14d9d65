"""Model pieces shared by the advisors' tests and benchmark."""

from __future__ import annotations

# The usual Supabase membership policy, as PostgreSQL deparses it: `auth.uid()` wrapped
# in a sub-select, so that it is evaluated once per statement, not per row.
MEMBER = (
    "(organization_id IN ( SELECT om.organization_id FROM organization_members om"
    " WHERE (om.user_id = ( SELECT auth.uid() AS uid))))"
)
