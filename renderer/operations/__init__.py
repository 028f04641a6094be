"""The operations: one module per command, each the whole of what the command does, returning models and
reports for the CLI (`renderer.cli`) and the GitHub Actions steps (`renderer.ci`) to print.

- `scope`: `Inputs`, loading the configuration (only the tenants in scope when narrowed) and lockfile,
  the tenant scope, and `refresh_scope`, the one place the lockfile and a scope become managed IDs,
  parents and names to look up for `renderer.refresh.refresh`;
- `plan`: `make_plan` -> `Planned`;
- `apply`: `apply_run` (lock, recover, plan, saved-plan comparison, the plan checks, confirm, apply);
- `drift`: `drift` -> `renderer.drift.DriftReport`;
- `status`: `status` -> `renderer.status.StatusRow`s;
- `import_`: `import_tenant` (adopt by name into the lockfile, then plan).

Nothing here prints or reads the command line; nothing below imports this package.
"""
