"""Going live on AWS: deploy the stage's debug stack once, read its outputs, synthesize the
app in live mode with them as plain strings, and deploy it with the toolkit's hotswap where it
applies (a stage that is already live takes seconds). The toolkit deploys the assembly relay
synthesized (``--app <cloud assembly>``), so what the emulator tests is what AWS gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relay import session
from relay import stage as stages
from relay.cloud import preflight, synth
from relay.cloud.assembly import Assembly
from relay.cloud.aws_checks import (
    aws_caller,
    aws_errors,
    require_bootstrap,
    require_stage_dependent_names,
    stack_outputs,
)
from relay.cloud.cdk_cli import DeployError, Progress, run_cdk
from relay.live_stage import LiveFunction, LiveStage
from relay.runtime.config import FunctionConfig

STRIPPED = {  # variables the live Aspect adds; the local runtime gets the function's own
    "RELAY_STAGE", "RELAY_WS_URL", "RELAY_CONNECTIONS_ENDPOINT", "RELAY_BUCKET",
    "RELAY_FUNCTION_PATH", "RELAY_ORIGINAL_HANDLER", "RELAY_REGION",
}  # fmt: skip


def stage_path(project: Path, stage: str, name: str) -> Path:
    return session.stage_dir(project, stage) / name


def observe_settings(observe: float | None) -> dict[str, Any]:
    """Observe mode's part of the live config: the share copied and the wrapper's layer."""
    if observe is None:
        return {}
    from relay.observe.layer import build_observe_layer

    return {"observe": observe, "observe_layer_dir": str(build_observe_layer())}


def stub_asset_dir() -> Path:
    from relay.cloud.stub_asset import build_stub_asset

    return build_stub_asset()


def live_targets(stage: str, outputs: dict[str, str]) -> Any:
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
) -> Assembly:
    """The stage's debug stack for ``account``/``region``, owned by ``principal``."""
    from relay.cdk.debug_stack import CLIENT_PRINCIPAL_ENV

    env = {
        "CDK_DEFAULT_ACCOUNT": account,
        "CDK_DEFAULT_REGION": region,
        CLIENT_PRINCIPAL_ENV: principal,
    }
    out = stage_path(project, stage, "cdk.out.debug")
    return synth.synthesize_debug(project, stage, stub_dir=stub_asset_dir(), out_dir=out, env=env)


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
    marker = stage_path(project, stage, "debug-deployed")
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
        stage=stage, stub_dir=str(stub_asset_dir()), targets=live_targets(stage, outputs),
        increase_timeout=increase_timeout, **observe_settings(observe),
    )  # fmt: skip
    say("synthesizing the app in live mode")
    try:
        assembly = synthesize_live(project, stage, live, env, say)
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


def synthesize_live(
    project: Path, stage: str, live: Any, env: dict[str, str], say: Progress
) -> Assembly:
    """Live synthesis skips bundling (stubs replace the code); a function deployed unchanged
    from bundled code needs its stack bundled, so those stacks are synthesized again with
    bundling on (CDK bundles per stack)."""
    out = stage_path(project, stage, "cdk.out.live")
    assembly = synth.synthesize(project, stage, out_dir=out, live=live, env=env)
    wanted = (assembly.live_record() or {}).get("bundle") or {}
    if not wanted:
        return assembly
    for stack, paths in sorted(wanted.items()):
        say(f"bundling {stack}: deployed unchanged there: {', '.join(paths)}")
    return synth.synthesize(project, stage, out_dir=out, live=live, env=env, bundle=sorted(wanted))


def _live_function(
    record: dict[str, Any], assembly: Assembly, region: str, layer_dirs: dict[str, Path]
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
