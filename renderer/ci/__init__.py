"""GitOps in GitHub Actions: `renderer ci plan` on pull requests, `renderer ci apply` on merge.

One module per concern, all below the CLI and above the pipeline (they call `renderer.operations`,
`renderer.apply` and `renderer.lockfile`, never the other way round):

- `context`: the GitHub Actions environment and the event that triggered the run;
- `github`: GitHub's REST API (issue comments, pull requests, issues), httpx with tenacity retries;
- `affected`: which tenants a pull request can change, and which rule selected each (gitpython diff);
- `comments`: the plan as PR comments, split at tenant boundaries, found by a hidden marker, edited
  in place;
- `tenant_secrets`: the one-JSON-secret convention that brings tenant secrets into the environment;
- `allow`: whether a merged change explicitly allows a destructive plan (label or commit trailer);
- `lockcommit`: committing `render.lock.json` back to main (rebase and retry), or through a bot PR;
- `pr_plan` and `deploy`: the two runs, wiring the above together.
"""
