"""Files of the repository that tests read."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SPEC = ROOT / "config" / "expected" / "phase3.yaml"
EXAMPLE_MIGRATIONS = ROOT / "examples" / "supabase" / "migrations"
BOOTSTRAP = ROOT / "monitor" / "postgres" / "sql" / "supabase_bootstrap.sql"
