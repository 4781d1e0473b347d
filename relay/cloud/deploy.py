"""Real AWS through the AWS CDK toolkit (the pinned npm ``aws-cdk`` CLI), never a home-made
CloudFormation deployer.

Going live: deploy the stage's debug stack once, read its outputs, synthesize the app in live
mode with them as plain strings, and deploy it with the toolkit's hotswap where it applies
(a stage that is already live takes seconds). The toolkit deploys the assembly relay
synthesized (``--app <cloud assembly>``), so what the emulator tests is what AWS gets.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from relay import session
from relay import stage as stages
from relay.cloud import preflight, synth
from relay.live_stage import LiveFunction, LiveStage
from relay.package_dirs import RELAY_ROOT
from relay.runtime.config import FunctionConfig

Progress = Callable[[str], None]
STRIPPED = {  # variables the live Aspect adds; the local runtime gets the function's own
    "RELAY_STAGE", "RELAY_WS_URL", "RELAY_CONNECTIONS_ENDPOINT", "RELAY_BUCKET",
    "RELAY_FUNCTION_PATH", "RELAY_ORIGINAL_HANDLER", "RELAY_REGION",
}  # fmt: skip


class DeployError(Exception):
    """A deploy step failed; the message says what happened and how to fix it."""


# --- the toolkit ---------------------------------------------------------------------------


def find_cdk_cli(project: Path) -> list[str]:
    """The pinned CLI: ``$RELAY_CDK_CLI``, the app's or relay's node_modules, else npx."""
    configured = os.environ.get("RELAY_CDK_CLI")
    if configured:
        return [configured]
    for root in (project, RELAY_ROOT):
        local = root / "node_modules" / ".bin" / "cdk"
        if local.is_file():
            return [str(local)]
    npx = shutil.which("npx")
    if npx:
        return [npx, "--yes", f"aws-cdk@{pinned_cli_version()}"]
    raise DeployError(
        "the AWS CDK CLI was not found and npx is missing: install Node.js 20+ "
        "(https://nodejs.org), then run `npm ci` in relay's folder or `npm i -D aws-cdk` in "
        "your app, or set RELAY_CDK_CLI to a cdk executable."
    )


def pinned_cli_version() -> str:
    """The version relay is tested with: ``package.json``'s pin, shipped as package data."""
    data = json.loads((Path(__file__).with_name("cdk_cli.json")).read_text())
    return str(data["aws-cdk"])


_KNOWN_ERRORS = [
    (
        ("SSO session", "Token has expired", "ExpiredToken", "token is expired"),
        "your AWS session has expired: run `aws sso login` (or refresh your MFA session) "
        "and run again.",
    ),
    (
        ("Unable to resolve AWS account", "Could not load credentials", "no credentials"),
        "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE.",
    ),
    (
        ("cdk bootstrap", "/cdk-bootstrap/", "toolkit stack must be deployed"),
        "this account/region is not bootstrapped for the CDK: run "
        "`npx cdk bootstrap aws://ACCOUNT/REGION` once, then run again.",
    ),
]


def explain_cli_failure(output: str) -> str | None:
    """Map the toolkit's known failures to one line that says what to do."""
    for needles, advice in _KNOWN_ERRORS:
        if any(n.lower() in output.lower() for n in needles):
            return advice
    return None


def run_cdk(
    args: list[str],
    project: Path,
    *,
    env: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> str:
    """Run the toolkit, streaming its lines to ``progress``; raise a DeployError on failure."""
    try:
        run_env = synth.node_env()
    except synth.SynthError as exc:
        raise DeployError(str(exc)) from None
    run_env.update(env or {})
    command = [*find_cdk_cli(project), *args]
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            command, cwd=project, env=run_env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
    except OSError as exc:
        raise DeployError(f"could not run the CDK CLI ({command[0]}): {exc}") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        if progress is not None and line.strip():
            progress(line)
    code = proc.wait()
    output = "\n".join(lines)
    if code != 0:
        advice = explain_cli_failure(output) or "see the CDK output above."
        tail = "\n".join(lines[-25:])
        raise DeployError(f"`cdk {' '.join(args[:2])}` failed (exit {code}): {advice}\n{tail}")
    return output


# --- AWS identity and preconditions -------------------------------------------------------


def aws_identity() -> tuple[str, str]:
    """(account, region) of the developer's credentials, or a DeployError with the fix."""
    account, region, _ = aws_caller()
    return account, region


def aws_caller(session_: Any = None) -> tuple[str, str, str]:
    """(account, region, principal ARN) of the developer's credentials; the ARN is the one
    identity that may connect as the stage's client."""
    import boto3
    import botocore.exceptions as errors

    session_ = session_ or boto3.Session()
    region = session_.region_name or os.environ.get("AWS_REGION")  # the CDK's variable too
    if not region:
        raise DeployError(
            "no AWS region configured: set AWS_REGION (or a region in your AWS profile)."
        )
    try:
        identity = session_.client("sts", region_name=region).get_caller_identity()
    except errors.NoCredentialsError:
        raise DeployError(_KNOWN_ERRORS[1][1]) from None
    except (errors.TokenRetrievalError, errors.SSOTokenLoadError, errors.UnauthorizedSSOTokenError):
        raise DeployError(_KNOWN_ERRORS[0][1]) from None
    except errors.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "Expired" in code:
            raise DeployError(_KNOWN_ERRORS[0][1]) from None
        raise DeployError(f"AWS rejected your credentials ({code}): {exc}") from None
    return identity["Account"], region, identity["Arn"]


def require_bootstrap(targets: list[preflight.StackTarget], account: str) -> None:
    """The toolkit needs its bootstrap stack in each stack's region, with the qualifier the
    app synthesized with; say so before a long deploy fails."""
    import boto3
    import botocore.exceptions as errors

    checked: set[tuple[str, str]] = set()
    for target in targets:
        key = (target.region, target.bootstrap_parameter)
        if target.account != account or key in checked:
            continue  # another account's bootstrap is the toolkit's to check (its roles)
        checked.add(key)
        try:
            boto3.client("ssm", region_name=target.region).get_parameter(
                Name=target.bootstrap_parameter
            )
        except errors.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                raise DeployError(preflight.bootstrap_advice(target)) from None
            raise


@contextlib.contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Any AWS error while ``doing`` becomes a DeployError of one clear line."""
    import botocore.exceptions as errors

    try:
        yield
    except (errors.BotoCoreError, errors.ClientError) as exc:
        raise DeployError(preflight.describe_aws_error(exc, doing)) from None


def require_stage_dependent_names(
    project: Path, stage: str, live: synth.Assembly, env: dict[str, str]
) -> None:
    """Refuse an app whose stacks are named the same for every stage: going live would
    swap shared (maybe production) stacks for stubs, and `remove --all` would delete them."""
    probe = preflight.probe_stage(stage)
    try:
        other = synth.synthesize(  # names only: no bundling (Docker), no validation
            project, probe, out_dir=_dir(project, stage, "cdk.out.stage-probe"), env=env,
            validation=False, context={synth.BUNDLING_STACKS: []},
        )  # fmt: skip
        shared = preflight.shared_stack_names(live, other)
    except synth.SynthError:  # the app accepts only some stages: the names must show it
        shared = preflight.names_without_stage(live, stage)
    if shared:
        raise DeployError(preflight.shared_stacks_problem(stage, shared))


def stack_outputs(stack_name: str, region: str) -> dict[str, str] | None:
    import boto3
    import botocore.exceptions as errors

    try:
        stacks = boto3.client("cloudformation", region_name=region).describe_stacks(
            StackName=stack_name
        )["Stacks"]
    except errors.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    if not stacks or stacks[0]["StackStatus"].endswith(("FAILED", "ROLLBACK_COMPLETE")):
        return None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


# --- commands ------------------------------------------------------------------------------


def _dir(project: Path, stage: str, name: str) -> Path:
    return session.stage_dir(project, stage) / name


def _observe_settings(observe: float | None) -> dict[str, Any]:
    """Observe mode's part of the live config: the share copied and the wrapper's layer."""
    if observe is None:
        return {}
    from relay.observe.layer import build_observe_layer

    return {"observe": observe, "observe_layer_dir": str(build_observe_layer())}


def _stub_dir() -> Path:
    from relay.cloud.stub_asset import build_stub_asset

    return build_stub_asset()


def _targets(stage: str, outputs: dict[str, str]) -> Any:
    from relay.cdk import debug_stack as ds
    from relay.cdk.live import LiveTargets

    return LiveTargets(
        websocket_url=outputs[ds.OUTPUT_WEBSOCKET_URL],
        connections_endpoint=outputs[ds.OUTPUT_CONNECTIONS_ENDPOINT],
        bucket=outputs[ds.OUTPUT_BUCKET],
        execute_api_arn=outputs[ds.OUTPUT_EXECUTE_API_ARN],
        api_stage=stage,
    )


def synthesize_debug_stack(
    stage: str, project: Path, account: str, region: str, principal: str
) -> synth.Assembly:
    """The stage's debug stack for ``account``/``region``, owned by ``principal``."""
    from relay.cdk.debug_stack import CLIENT_PRINCIPAL_ENV

    env = {
        "CDK_DEFAULT_ACCOUNT": account,
        "CDK_DEFAULT_REGION": region,
        CLIENT_PRINCIPAL_ENV: principal,
    }
    out = _dir(project, stage, "cdk.out.debug")
    return synth.synthesize_debug(project, stage, stub_dir=_stub_dir(), out_dir=out, env=env)


def deploy_debug_stack(
    stage: str, project: Path, account: str, region: str, principal: str, progress: Progress
) -> dict[str, str]:
    """Deploy the stage's debug stack when it is missing or changed; return its outputs.

    ``principal`` (the developer's ARN) is recorded in it: only it may connect as the client.
    """
    from relay.cdk.debug_stack import debug_stack_name

    env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
    assembly = synthesize_debug_stack(stage, project, account, region, principal)
    name = debug_stack_name(stage)
    marker = _dir(project, stage, "debug-deployed")
    deployed_key = f"{account}/{region}/{(assembly.directory / synth.CACHE_KEY_FILE).read_text()}"
    outputs = stack_outputs(name, region)
    if outputs and marker.is_file() and marker.read_text() == deployed_key:
        progress(f"debug stack {name} is up to date")
        return outputs
    progress(f"deploying debug stack {name} (once per stage)")
    run_cdk(
        ["deploy", "--app", str(assembly.directory), name, "--require-approval", "never"],
        project, env=env, progress=progress,
    )  # fmt: skip
    outputs = stack_outputs(name, region)
    if not outputs:
        raise DeployError(f"{name} deployed but has no outputs; run `relay remove` and retry")
    marker.write_text(deployed_key)
    return outputs


def go_live(
    stage: str,
    project: Path,
    *,
    increase_timeout: bool = False,
    layer_dirs: dict[str, Path] | None = None,
    progress: Progress | None = None,
    observe: float | None = None,
) -> LiveStage:
    """Debug stack once, then the app in live mode (hotswap where it applies).

    Layers the app references by ARN run from ``layer_dirs`` when given there, else they
    are fetched once with GetLayerVersionByArn (relay/runtime/layers.py).
    """
    stages.validate(stage)  # before anything slow: names end up in stacks and resources

    import boto3

    say = progress or (lambda _line: None)
    project = Path(project).resolve()
    developer = boto3.Session()  # one session: its identity is recorded and signs the client
    account, region, principal = aws_caller(developer)
    with aws_errors("going live"):
        live = _go_live(
            stage, project, account, region, principal, increase_timeout, layer_dirs, say,
            observe,
        )  # fmt: skip
    live.session = developer
    return live


def _go_live(
    stage: str, project: Path, account: str, region: str, principal: str,
    increase_timeout: bool, layer_dirs: dict[str, Path] | None, say: Progress,
    observe: float | None = None,
) -> LiveStage:  # fmt: skip
    from relay.cdk import debug_stack as ds
    from relay.cdk.live import LiveConfig

    debug = synthesize_debug_stack(stage, project, account, region, principal)
    require_bootstrap(preflight.stack_targets(debug, account, region), account)
    outputs = deploy_debug_stack(stage, project, account, region, principal, say)
    env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
    live = LiveConfig(
        stage=stage, stub_dir=str(_stub_dir()), targets=_targets(stage, outputs),
        increase_timeout=increase_timeout, **_observe_settings(observe),
    )  # fmt: skip
    say("synthesizing the app in live mode")
    try:
        assembly = _synthesize_live(project, stage, live, env, say)
        records = synth.write_functions(project, stage, assembly)
        require_stage_dependent_names(project, stage, assembly, env)
    except synth.SynthError as exc:
        raise DeployError(str(exc)) from None
    targets = preflight.stack_targets(assembly, account, region)
    require_bootstrap(targets, account)
    for record in records:
        for warning in record.get("warnings") or []:
            say(f"warning: {record['path']}: {warning}")
    relayed = [r for r in records if r["relayed"]]
    if not relayed:
        reasons = "; ".join(f"{r['path']}: {r['reason']}" for r in records) or "no functions"
        raise DeployError(f"no function of the app can run locally ({reasons}).")
    say(f"deploying {len(relayed)} stubbed function(s) (hotswap where possible)")
    run_cdk(
        ["deploy", "--app", str(assembly.directory), "--all", "--require-approval", "never",
         "--hotswap-fallback"],
        project, env=env, progress=say,
    )  # fmt: skip
    regions = {t.key: t.region for t in targets}
    functions = [
        _live_function(r, assembly, regions.get(r["stack"], region), layer_dirs or {})
        for r in relayed
    ]
    return LiveStage(
        stage=stage,
        websocket_url=outputs[ds.OUTPUT_WEBSOCKET_URL],
        connections_endpoint=outputs[ds.OUTPUT_CONNECTIONS_ENDPOINT],
        region=region,
        bucket=outputs[ds.OUTPUT_BUCKET],
        table=outputs[ds.OUTPUT_TABLE],
        functions=functions,
        not_relayed=[(r["path"], r["reason"]) for r in records if not r["relayed"]],
        notes=[f"{r['path']}: {r['note']}" for r in relayed if r.get("note")],
    )


def _synthesize_live(
    project: Path, stage: str, live: Any, env: dict[str, str], say: Progress
) -> synth.Assembly:
    """Live synthesis skips bundling (stubs replace the code); a function deployed unchanged
    from bundled code needs its stack bundled, so those stacks are synthesized again with
    bundling on (CDK bundles per stack)."""
    out = _dir(project, stage, "cdk.out.live")
    assembly = synth.synthesize(project, stage, out_dir=out, live=live, env=env)
    wanted = (assembly.live_record() or {}).get("bundle") or {}
    if not wanted:
        return assembly
    for stack, paths in sorted(wanted.items()):
        say(f"bundling {stack}: deployed unchanged there: {', '.join(paths)}")
    return synth.synthesize(project, stage, out_dir=out, live=live, env=env, bundle=sorted(wanted))


def _live_function(
    record: dict[str, Any], assembly: synth.Assembly, region: str, layer_dirs: dict[str, Path]
) -> LiveFunction:
    """Physical name, URL and resolved environment from the deployed stack, in the stack's
    own region (the local runtime gets that region too)."""
    import boto3

    from relay.runtime.layers import LayerError, fetch_layer, local_layer

    stack = assembly.stacks()[record["stack"]]["stack_name"]
    cfn = boto3.client("cloudformation", region_name=region)
    # A NestedStack's function: through each nested stack resource to the nested stack's ARN.
    for logical_id in [*record.get("nested", []), record["logical_id"]]:
        stack = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
    name = stack
    lam = boto3.client("lambda", region_name=region)
    conf = lam.get_function_configuration(FunctionName=name)
    variables = (conf.get("Environment") or {}).get("Variables") or {}
    environment = {k: v for k, v in variables.items() if k not in STRIPPED}
    try:
        url = lam.get_function_url_config(FunctionName=name)["FunctionUrl"]
    except lam.exceptions.ResourceNotFoundException:
        url = None
    remote = []
    for arn in record.get("remote_layers", []):
        try:
            remote.append(local_layer(arn, layer_dirs) or fetch_layer(arn, lam))
        except LayerError as exc:
            raise DeployError(f"{record['path']}: {exc}") from None
    config = FunctionConfig.from_record(
        record,
        name=name,
        region=region,
        account_id=conf["FunctionArn"].split(":")[4],
        environment=environment,
        extra_layers=tuple(remote),
    )
    return LiveFunction(
        path=record["path"],
        function_name=name,
        function_url=url,
        handler=record["handler"],
        code_dir=record["code_dir"],
        config=config,
    )


def _echo(line: str) -> None:
    print(line, file=sys.stderr)


def synth_command(stage: str, project: Path) -> int:
    """``relay synth``: the debug stack's assembly, then the app's live-mode assembly (the
    last line on stdout): everything relay deploys, to review, lint or cdk-nag beforehand.

    With credentials and a deployed debug stack the stubs point at it; otherwise at
    placeholders the emulator replaces (said on stderr).
    """
    from relay.cdk.debug_stack import CLIENT_PRINCIPAL_ENV
    from relay.cdk.live import LiveConfig, LiveTargets
    from relay.emulator.credentials import local_principal_arn

    project = Path(project).resolve()
    targets = None
    env: dict[str, str] = {}
    principal = local_principal_arn("123456789012")  # the emulator's developer, as a stand-in
    try:
        account, region, principal = aws_caller()
        from relay.cdk.debug_stack import debug_stack_name

        outputs = stack_outputs(debug_stack_name(stage), region)
        if outputs:
            targets = _targets(stage, outputs)
            env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
    except Exception as exc:  # no account is fine for synth: placeholders instead
        _echo(f"relay: no deployed debug stack used ({str(exc).splitlines()[0]})")
    if targets is None:
        _echo("relay: stubs point at placeholders (the emulator fills them in)")
        targets = LiveTargets.placeholders(stage)
    stub = _stub_dir()
    live = LiveConfig(stage=stage, stub_dir=str(stub), targets=targets)
    try:
        debug = synth.synthesize_debug(
            project, stage, stub_dir=stub, out_dir=_dir(project, stage, "cdk.out.debug"),
            env={**env, CLIENT_PRINCIPAL_ENV: principal},
        )  # fmt: skip
        if env:  # stubs for the deployed debug stack: the assembly AWS would get
            assembly = _synthesize_live(project, stage, live, env, lambda m: _echo(f"relay: {m}"))
        else:
            out = _dir(project, stage, "cdk.out.live")
            assembly = synth.synthesize(project, stage, out_dir=out, live=live, env=env)
        records = synth.write_functions(project, stage, assembly)
    except synth.SynthError as exc:
        _echo(f"relay: {exc}")
        return 1
    for record in records:
        if not record["relayed"]:
            _echo(f"relay: not relayed: {record['path']} ({record['reason']})")
        for warning in record.get("warnings") or []:
            _echo(f"relay: warning: {record['path']}: {warning}")
    print(debug.directory)
    print(assembly.directory)
    return 0


def deploy_command(stage: str, project: Path) -> int:
    """``relay deploy``: the real code back (a full deploy, no hotswap: no drift is left)."""
    project = Path(project).resolve()
    try:
        account, region = aws_identity()
        env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
        with aws_errors(f"deploying the real code of stage {stage}"):
            assembly = synth.synthesize(
                project, stage, out_dir=_dir(project, stage, "cdk.out.real"), env=env
            )
            require_bootstrap(preflight.stack_targets(assembly, account, region), account)
            run_cdk(
                ["deploy", "--app", str(assembly.directory), "--all", "--require-approval",
                 "never"],
                project, env=env, progress=_echo,
            )  # fmt: skip
    except (DeployError, synth.SynthError) as exc:
        _echo(f"relay: {exc}")
        return 1
    _echo(f"relay: stage {stage} runs its real code again (the debug stack stays; "
          f"`relay remove --stage {stage}` deletes it)")  # fmt: skip
    return 0


def remove_command(stage: str, project: Path, all_stacks: bool = False) -> int:
    """``relay remove``: the debug stack, and with ``--all`` the stage's own stacks."""
    from relay.cdk.debug_stack import debug_stack_name

    project = Path(project).resolve()
    try:
        account, region, principal = aws_caller()
        env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
        with aws_errors(f"removing stage {stage}"):
            if all_stacks:
                app = synth.synthesize(
                    project, stage, out_dir=_dir(project, stage, "cdk.out.real"), env=env
                )
                require_stage_dependent_names(project, stage, app, env)  # never shared stacks
                run_cdk(["destroy", "--app", str(app.directory), "--all", "--force"], project,
                        env=env, progress=_echo)  # fmt: skip
            debug = synthesize_debug_stack(stage, project, account, region, principal)
            run_cdk(
                ["destroy", "--app", str(debug.directory), debug_stack_name(stage), "--force"],
                project, env=env, progress=_echo,
            )  # fmt: skip
            _delete_log_groups(f"/aws/lambda/{debug_stack_name(stage)}-", region)
    except (DeployError, synth.SynthError) as exc:
        _echo(f"relay: {exc}")
        return 1
    shutil.rmtree(session.stage_dir(project, stage), ignore_errors=True)
    if not all_stacks:
        _echo(
            f"relay: removed the debug stack of {stage}. If the app is still live its "
            f"functions run the stub: `relay deploy --stage {stage}` puts the real code back."
        )
    return 0


def _delete_log_groups(prefix: str, region: str) -> None:
    """Lambda creates its functions' log groups itself; the debug stack's ones (the
    auto-delete provider's) outlive the stack unless relay deletes them."""
    import boto3

    logs = boto3.client("logs", region_name=region)
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        for group in page.get("logGroups", []):
            logs.delete_log_group(logGroupName=group["logGroupName"])
            _echo(f"relay: deleted log group {group['logGroupName']}")


# --- infrastructure watching for `relay start` ---------------------------------------------


def infra_filter(code_dirs: list[Path]) -> Callable[[Any, str], bool]:
    """A watchfiles filter for the app's infrastructure code (not function code or output)."""
    from watchfiles import PythonFilter

    base = PythonFilter(extra_extensions=(".json", ".yaml", ".yml", ".ts", ".js"))
    code = [Path(d).resolve() for d in code_dirs]
    skip = {".relay", "cdk.out", "node_modules", ".git", ".venv", "__pycache__"}

    def accept(change: Any, path: str) -> bool:
        p = Path(path)
        if not base(change, path) or skip & set(p.parts):
            return False
        return not any(p.is_relative_to(d) for d in code)

    return accept


def diff_live(
    stage: str, project: Path, *, increase_timeout: bool = False, observe: float | None = None
) -> tuple[str, synth.Assembly]:
    """Synthesize the changed app in live mode and the toolkit's template diff against AWS."""
    from relay.cdk.debug_stack import debug_stack_name
    from relay.cdk.live import LiveConfig

    project = Path(project).resolve()
    account, region = aws_identity()
    outputs = stack_outputs(debug_stack_name(stage), region)
    if not outputs:
        raise DeployError(f"stage {stage} is not live: run `relay start --stage {stage}`")
    env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
    live = LiveConfig(stage=stage, stub_dir=str(_stub_dir()), targets=_targets(stage, outputs),
                      increase_timeout=increase_timeout, **_observe_settings(observe))  # fmt: skip
    assembly = _synthesize_live(project, stage, live, env, lambda _line: None)
    synth.write_functions(project, stage, assembly)
    text = run_cdk(["diff", "--app", str(assembly.directory), "--all"], project, env=env)
    return text, assembly


def apply_live(project: Path, assembly: synth.Assembly, progress: Progress) -> None:
    """Deploy an assembly from :func:`diff_live` (after the developer pressed ENTER)."""
    account, region = aws_identity()
    env = {"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region}
    run_cdk(
        ["deploy", "--app", str(assembly.directory), "--all", "--require-approval", "never",
         "--hotswap-fallback"],
        Path(project), env=env, progress=progress,
    )  # fmt: skip
