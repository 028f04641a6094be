"""The `renderer` entry point: the command group and the one place errors become exit codes.

Exit codes: 0 success; 1 any error (a user mistake, a usage error, a refused or failed API call, a
cancelled apply, a failed deploy); `plan --detailed-exitcode` adds 2 (changes) and 3 (changes that
delete or replace); `drift --detailed-exitcode` adds 2 (drift); `apply` returns 4 when it stopped early
with work left (its `ApplyReport` computes the code).
A `RendererError` prints its message and hint, never a traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from renderer.cli import apply as apply_cmd
from renderer.cli import ci as ci_cmd
from renderer.cli import doctor as doctor_cmd
from renderer.cli import drift as drift_cmd
from renderer.cli import import_ as import_cmd
from renderer.cli import plan as plan_cmd
from renderer.cli import render as render_cmd
from renderer.cli import schema as schema_cmd
from renderer.cli import sim as sim_cmd
from renderer.cli import status as status_cmd
from renderer.cli import validate as validate_cmd
from renderer.errors import ExitCode, RendererError
from renderer.render_api.client import client_options
from renderer.render_api.limits import RateLimits


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
@click.option("--parallelism", type=click.IntRange(min=1), default=None, metavar="N",
              help="Render API requests in flight at once (default: $RENDERER_PARALLELISM, else 8).")
@click.option("--rate-limits", default=None, metavar="SPEC",
              help="Client-side rate limits: `off`, `scale=N` or `BUCKET=N/WINDOW,...` (default: "
                   "$RENDERER_RATE_LIMITS, else Render's published limits).")
def cli(verbose: int, parallelism: int | None, rate_limits: str | None) -> None:
    """Provision one isolated Render stack per tenant from tenant files and blueprint templates.

    \b
    Typical flow:
      renderer validate            check every tenant file and its rendered blueprint
      renderer plan                show what would change on Render
      renderer apply               make those changes and update render.lock.json
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="renderer: %(levelname)s: %(message)s", stream=sys.stderr, force=True)
    # httpx logs request URLs at INFO; ours already log method, path and status at DEBUG.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    limits = RateLimits.parse(rate_limits, origin="--rate-limits") if rate_limits else None
    click.get_current_context().with_resource(client_options(rate_limits=limits, parallelism=parallelism))


cli.add_command(validate_cmd.validate)
cli.add_command(plan_cmd.plan)
cli.add_command(apply_cmd.apply)
cli.add_command(render_cmd.render)
cli.add_command(schema_cmd.schema)
cli.add_command(sim_cmd.sim)
cli.add_command(status_cmd.status)
cli.add_command(drift_cmd.drift)
cli.add_command(import_cmd.import_)
cli.add_command(ci_cmd.ci)
cli.add_command(doctor_cmd.doctor)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with its code. Every error, a usage error included, exits 1."""
    try:
        result = cli.main(args=argv, prog_name="renderer", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.ERROR)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.ERROR)
    except RendererError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(ExitCode.ERROR)
    sys.exit(result if isinstance(result, int) else ExitCode.OK)


if __name__ == "__main__":
    main()
