"""relay's command line: each command parses its options and hands over to one module."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from relay.cloud.synth import silence_jsii_banners

# Before anything can import aws_cdk (jsii starts Node.js then, with this environment).
silence_jsii_banners(os.environ)

import typer  # noqa: E402

from relay import stage as stages  # noqa: E402


def _conventional_argument_help() -> None:
    """Show arguments that have a metavar as `relay run HANDLER`, as options already are.

    Typer (0.29) writes a required argument as `{handler}` in the usage line and adds its
    type (`HANDLER <str>`); for a reader these are noise. Arguments without a metavar keep
    Typer's rendering, and a Typer without these hooks is left alone.
    """
    from typer import core

    argument = getattr(core, "TyperArgument", None)
    usage = getattr(argument, "_usage_display_name", None)
    display_type = getattr(argument, "display_type", None)
    if argument is None or usage is None or display_type is None:
        return

    def usage_name(self: Any) -> str:
        if self.metavar is None:
            return usage(self)
        return self.metavar if self.required else f"[{self.metavar}]"

    def type_name(self: Any, ctx: Any) -> str:
        return "" if self.metavar is not None else display_type(self, ctx)

    argument._usage_display_name = usage_name
    argument.display_type = type_name


_conventional_argument_help()

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Run and debug the Lambda functions of a CDK app on this machine, live.",
)

StageOpt = Annotated[
    str | None,
    typer.Option(
        "--stage", "-s", metavar="NAME", help="Stage name (default: .relay/stage, asked once)."
    ),
]
AppOpt = Annotated[
    Path | None,
    typer.Option(
        "--app", metavar="DIR", help="Folder of the CDK app's cdk.json (default: nearest upwards)."
    ),
]
LayerDirOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--layer-dir",
        metavar="NAME=DIR",
        help="A layer the app references by ARN, as a local folder (NAME: its name or ARN; "
        "repeat).",
    ),
]


def _layer_dirs(values: list[str] | None) -> dict[str, Path]:
    from relay.runtime.layers import LayerError, parse_layer_dirs

    try:
        return parse_layer_dirs(values or [])
    except LayerError as exc:
        _fail(str(exc))
        raise


ObserveOpt = Annotated[
    bool,
    typer.Option(
        "--observe",
        help="The real code keeps serving; copies of its events run here too and are compared.",
    ),
]
SampleOpt = Annotated[
    float,
    typer.Option(
        "--sample", metavar="SHARE", help="--observe: the share of invocations copied (0-1]."
    ),
]


def _sample(share: float) -> float:
    if not 0 < share <= 1:
        _fail(f"--sample {share} is not a share: pass a number above 0 and at most 1 (0.1)")
    return share


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"relay: error: {message}", err=True)
    raise typer.Exit(code)


def _print_version(value: bool) -> None:
    if value:
        from relay import __version__

        typer.echo(f"relay {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print relay's version."
        ),
    ] = False,
) -> None:
    """Run and debug the Lambda functions of a CDK app on this machine, live."""


def _stage(explicit: str | None, project: Path) -> str:
    try:
        return stages.resolve(explicit, project)
    except stages.StageError as exc:
        _fail(str(exc))
        raise  # unreachable; keeps type checkers calm


def _project(app_dir: Path | None) -> Path:
    return (app_dir or stages.project_root()).resolve()


@app.command()
def run(
    handler: Annotated[
        str, typer.Argument(metavar="HANDLER", help="Handler, e.g. app.handler or pkg/mod.fn")
    ],
    event: Annotated[
        str | None,
        typer.Option("--event", "-e", metavar="FILE", help="Event JSON file, or - for stdin."),
    ] = None,
    code_dir: Annotated[
        Path, typer.Option("--code-dir", metavar="DIR", help="Function code folder.")
    ] = Path("."),
    env: Annotated[
        list[str] | None,
        typer.Option("--env", metavar="K=V", help="Environment variable K=V (repeat)."),
    ] = None,
    layer: Annotated[
        list[Path] | None,
        typer.Option("--layer", metavar="DIR", help="Local layer folder (repeat)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Timeout in seconds.")
    ] = 3.0,
    memory: Annotated[int, typer.Option("--memory", metavar="MB", help="Memory size in MB.")] = 128,
    watch: Annotated[bool, typer.Option("--watch", help="Re-run on every save.")] = False,
) -> None:
    """Run one handler locally, like `aws lambda invoke`."""
    from relay.commands.run import run_command

    code = run_command(
        handler=handler,
        event=event,
        code_dir=code_dir,
        env=env or [],
        layers=layer or [],
        timeout=timeout,
        memory=memory,
        watch=watch,
    )
    raise typer.Exit(code)


@app.command()
def start(
    stage: StageOpt = None,
    app_dir: AppOpt = None,
    local: Annotated[
        bool, typer.Option("--local", help="Use the embedded emulator instead of AWS.")
    ] = False,
    local_credentials: Annotated[
        bool,
        typer.Option(
            "--local-credentials", help="Run handlers with your credentials, not the role's."
        ),
    ] = False,
    increase_timeout: Annotated[
        bool, typer.Option("--increase-timeout", help="Raise stubbed timeouts to 900 s.")
    ] = False,
    layer_dir: LayerDirOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Run workers under debugpy.")] = False,
    debug_port: Annotated[
        int, typer.Option("--debug-port", metavar="PORT", help="debugpy port.")
    ] = 5678,
    wait_for_debugger: Annotated[
        bool, typer.Option("--wait-for-debugger", help="Hold invocations until attached.")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="Invoke the demo functions once ready (README).")
    ] = False,
    via_stub: Annotated[
        bool,
        typer.Option(
            "--via-stub",
            help="--local: relay through the stub and the WebSocket, as in AWS (default: the "
            "emulator calls the local runtime directly).",
        ),
    ] = False,
    record: Annotated[
        bool,
        typer.Option("--record/--no-record", help="Record invocations for relay replay."),
    ] = True,
    console: Annotated[
        bool, typer.Option("--console/--no-console", help="Serve the local web console.")
    ] = True,
    console_port: Annotated[
        int,
        typer.Option("--console-port", metavar="PORT", help="Web console port (0: a free one)."),
    ] = 0,
    observe: ObserveOpt = False,
    sample: SampleOpt = 1.0,
) -> None:
    """Go live: stub the app's functions and serve their invocations here."""
    from relay.commands.start import start_command

    project = _project(app_dir)
    raise typer.Exit(
        start_command(
            stage=_stage(stage, project),
            project=project,
            local=local,
            local_credentials=local_credentials,
            increase_timeout=increase_timeout,
            layer_dirs=_layer_dirs(layer_dir),
            debug=debug or wait_for_debugger,
            debug_port=debug_port,
            wait_for_debugger=wait_for_debugger,
            demo=demo,
            via_stub=via_stub,
            record=record,
            console=console,
            console_port=console_port,
            observe=_sample(sample) if observe else None,
        )
    )


@app.command()
def emulator(
    stage: StageOpt = None,
    app_dir: AppOpt = None,
    increase_timeout: Annotated[
        bool, typer.Option("--increase-timeout", help="Raise stubbed timeouts to 900 s.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Print every request and the stubs' own logs."),
    ] = False,
    layer_dir: LayerDirOpt = None,
    observe: ObserveOpt = False,
    sample: SampleOpt = 1.0,
) -> None:
    """Run the embedded AWS emulator on its own (relay start --local attaches to it)."""
    from relay.emulator.command import emulator_command

    project = _project(app_dir)
    raise typer.Exit(
        emulator_command(
            stage=_stage(stage, project),
            project=project,
            increase_timeout=increase_timeout,
            verbose=verbose,
            layer_dirs=_layer_dirs(layer_dir),
            observe=_sample(sample) if observe else None,
        )
    )


@app.command()
def invoke(
    function: Annotated[
        str, typer.Argument(metavar="FUNCTION", help="Function name or construct path.")
    ],
    event: Annotated[
        str | None,
        typer.Option("--event", "-e", metavar="FILE", help="Event JSON file, or - for stdin."),
    ] = None,
    stage: StageOpt = None,
    app_dir: AppOpt = None,
) -> None:
    """Invoke a live (stubbed) function through the Lambda Invoke API."""
    from relay.commands.invoke import invoke_command

    project = _project(app_dir)
    raise typer.Exit(
        invoke_command(
            function=function, event=event, stage=_stage(stage, project), project=project
        )
    )


@app.command()
def events(
    stage: StageOpt = None,
    app_dir: AppOpt = None,
    function: Annotated[
        str | None,
        typer.Option(
            "--function", "-f", metavar="FUNCTION", help="Only this function (name or path)."
        ),
    ] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Only failed invocations.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="Show the newest N (0: all).")
    ] = 50,
) -> None:
    """List the stage's recorded invocations (newest last)."""
    from relay.record.listing import events_command

    project = _project(app_dir)
    raise typer.Exit(
        events_command(
            project=project,
            stage=_stage(stage, project),
            function=function,
            errors=errors,
            limit=limit,
        )
    )


@app.command()
def replay(
    record_id: Annotated[
        str, typer.Argument(metavar="RECORDING", help="Recording id (relay events), or last.")
    ],
    stage: StageOpt = None,
    app_dir: AppOpt = None,
    watch: Annotated[bool, typer.Option("--watch", help="Replay again on every save.")] = False,
    as_test: Annotated[
        Path | None,
        typer.Option("--as-test", metavar="FILE", help="Write a pytest case to this file instead."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env",
            metavar="K=V",
            help="Environment variable K=V for the handler (never recorded).",
        ),
    ] = None,
) -> None:
    """Re-run a recorded invocation locally (no cloud), or turn it into a pytest case."""
    from relay.record.replay import replay_command

    project = _project(app_dir)
    raise typer.Exit(
        replay_command(
            project=project,
            stage=_stage(stage, project),
            record_id=record_id,
            watch=watch,
            as_test=as_test,
            env=env or [],
        )
    )


@app.command()
def trigger(
    rule: Annotated[
        str | None, typer.Argument(help="Schedule rule: construct path, its last part, or name.")
    ] = None,
    after: Annotated[
        float | None,
        typer.Option(
            "--after", metavar="SECONDS", help="Instead: move the emulator's clock SECONDS forward."
        ),
    ] = None,
    stage: StageOpt = None,
    app_dir: AppOpt = None,
) -> None:
    """Fire a schedule rule now on the local emulator (relay start --local)."""
    from relay.commands.trigger import trigger_command

    project = _project(app_dir)
    raise typer.Exit(
        trigger_command(rule, stage=_stage(stage, project), project=project, after=after)
    )


@app.command()
def synth(stage: StageOpt = None, app_dir: AppOpt = None) -> None:
    """Synthesize the app in live mode; prints the cloud assembly folder last."""
    from relay.cloud.commands import synth_command

    project = _project(app_dir)
    raise typer.Exit(synth_command(stage=_stage(stage, project), project=project))


@app.command()
def deploy(stage: StageOpt = None, app_dir: AppOpt = None) -> None:
    """Deploy the real code again (no stub) for the stage."""
    from relay.cloud.commands import deploy_command

    project = _project(app_dir)
    raise typer.Exit(deploy_command(stage=_stage(stage, project), project=project))


@app.command()
def remove(
    stage: StageOpt = None,
    app_dir: AppOpt = None,
    all_stacks: Annotated[
        bool, typer.Option("--all", help="Also remove the stage's own stacks.")
    ] = False,
) -> None:
    """Remove the stage's debug stack (and with --all its stacks)."""
    from relay.cloud.commands import remove_command

    project = _project(app_dir)
    raise typer.Exit(
        remove_command(stage=_stage(stage, project), project=project, all_stacks=all_stacks)
    )


@app.command()
def init(
    what: Annotated[str, typer.Argument(metavar="WHAT", help="What to set up: vscode")],
    app_dir: AppOpt = None,
) -> None:
    """Write editor integration (VS Code launch configurations) into the project."""
    if what != "vscode":
        _fail(f"unknown target '{what}': the only one is 'vscode' (relay init vscode).")
    from relay.debug.vscode import init_vscode

    raise typer.Exit(init_vscode(_project(app_dir)))


def main() -> None:
    """Console-script entry point."""
    from relay.ui.logs import configure_logging

    configure_logging()
    app(prog_name="relay")


if __name__ == "__main__":
    main()
