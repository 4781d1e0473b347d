"""`Emulator`: the embedded AWS on loopback (WebSocket APIs with `@connections`, Lambda
Invoke and function URLs, DynamoDB and S3 through moto's server).

It runs on an asyncio loop: its own, in a background thread, when used as a plain context
manager (`with Emulator() as emu:`), or the caller's with `async with`. Either way the
create_* methods are plain calls: sockets are bound at once (so URLs are known), and the
servers start on the loop before any connection to them is accepted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from relay import eventloop
from relay.emulator.control import ControlApi
from relay.emulator.credentials import (
    LOCAL_CREDENTIALS,
    Credentials,
    CredentialStore,
    local_principal_arn,
)
from relay.emulator.fronts.event_sources import EventSources
from relay.emulator.fronts.http_api import HttpApi, HttpApiSpec
from relay.emulator.fronts.rest_api import RestApi, RestApiSpec
from relay.emulator.function_urls import FunctionUrl
from relay.emulator.functions import (
    DEFAULT_CONCURRENCY,
    DirectInvoke,
    FunctionInfo,
    FunctionRegistry,
)
from relay.emulator.gateway import (
    IDLE_TIMEOUT,
    MAX_CONNECTION_DURATION,
    Route,
    WebSocketApi,
    WebSocketGateway,
)
from relay.emulator.lambda_api import LambdaApi

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

    from relay.runtime import FunctionConfig, LocalRuntime

log = logging.getLogger("relay.emulator")

#: Services moto's server answers for (boto3 service names); handlers reach them unchanged.
MOTO_SERVICES = (
    "dynamodb", "dynamodbstreams", "s3", "sqs", "sns", "events", "secretsmanager", "ssm",
    "stepfunctions", "sts", "iam", "kms", "logs", "cloudwatch", "kinesis", "scheduler",
    "cloudformation",
)  # fmt: skip


class Emulator:
    """The embedded AWS. All servers listen on 127.0.0.1, on free ports."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        moto: bool = True,
        function_concurrency: int = DEFAULT_CONCURRENCY,
        runtime_workers: int | None = None,
        runtime_spares: int = 1,
        watch: bool = False,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connection_duration: float = MAX_CONNECTION_DURATION,
        on_log: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.calls: Counter[str] = Counter()
        self.idle_timeout = idle_timeout
        self.max_connection_duration = max_connection_duration
        self._use_moto = moto
        self._concurrency = function_concurrency
        self._runtime_workers = runtime_workers or function_concurrency
        #: warm processes of the emulator's own runtime (its functions: the stub's); 0 when
        #: they are never invoked (relay start's direct mode hands invocations to its own)
        self._runtime_spares = runtime_spares
        self._watch = watch
        self._on_log = on_log
        self._store = CredentialStore(account_id)
        self._moto: ThreadedMotoServer | None = None
        self._moto_url = ""
        self._runtime: LocalRuntime | None = None
        self._functions: FunctionRegistry | None = None
        self._lambda: LambdaApi | None = None
        self._gateways: list[WebSocketGateway] = []
        self._urls: list[FunctionUrl] = []
        self._apis: list[RestApi | HttpApi] = []
        self._sources: EventSources | None = None
        self._control: ControlApi | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._owns_loop = False
        self._pending: set[asyncio.Future[Any]] = set()

    # -- public API --------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials:
        """The local developer credentials every emulated endpoint accepts (not a secret)."""
        return LOCAL_CREDENTIALS

    @property
    def local_principal_arn(self) -> str:
        """The ARN `requestContext.identity.userArn` carries for the local developer pair."""
        return local_principal_arn(self.account_id)

    @property
    def endpoints(self) -> dict[str, str]:
        """Service endpoint URLs for boto3's `endpoint_url` (moto serves all but Lambda)."""
        self._require_started()
        assert self._lambda is not None
        return {
            **{service: self._moto_url for service in MOTO_SERVICES},
            "lambda": self._lambda.url,
        }

    @property
    def endpoint_url(self) -> str:
        """The endpoint of every emulated AWS service except Lambda (moto's server)."""
        self._require_started()
        return self._moto_url

    @property
    def apis(self) -> list[RestApi | HttpApi]:
        return list(self._apis)

    @property
    def event_sources(self) -> EventSources:
        """SQS mappings, SNS/S3/EventBridge deliveries and schedules (needs moto)."""
        self._require_started()
        if self._sources is None:
            raise RuntimeError("event sources need moto: Emulator(moto=True)")
        return self._sources

    @property
    def control(self) -> ControlApi | None:
        """The control endpoint `relay trigger` calls (None without moto)."""
        return self._control

    def service_client(self, service: str) -> Any:
        """A boto3 client for an emulated service, signed with the local credentials."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoints[service],
            region_name=self.region,
            **self.credentials.boto3_kwargs(),
        )

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 120) -> Any:
        """Run a coroutine on the emulator's loop from another thread and return its result."""
        assert self._loop is not None and not self._in_loop_thread()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def lambda_endpoint(self) -> str:
        return self.endpoints["lambda"]

    @property
    def functions(self) -> list[FunctionInfo]:
        return [f.info() for f in self._registry().all()]

    def route(self, name: str, invoke: DirectInvoke | None) -> None:
        """Hand function `name`'s invocations from every front door to `invoke`, a coroutine
        function run on the emulator's loop (`relay start --local`: its own local runtime);
        None runs the function here again."""
        self._registry().route(name, invoke)

    def environment(self, name: str) -> dict[str, str]:
        """The environment the emulator gives function `name` (role credentials, endpoints)."""
        function = self._registry().get(name)
        if function is None:
            raise KeyError(f"no function {name!r} in the emulator")
        return dict(function.config.environment)

    @property
    def websocket_apis(self) -> list[WebSocketApi]:
        return [g.api for g in self._gateways]

    def issue_credentials(
        self, role_name: str, session_name: str = "relay", ttl: float = 12 * 3600
    ) -> Credentials:
        """Temporary credentials (with session token) that the emulator's APIs accept."""
        return self._store.issue(role_name, session_name, ttl)

    def create_websocket_api(
        self,
        name: str,
        routes: Mapping[str, str | Route],
        stage: str = "local",
        *,
        auth: str = "AWS_IAM",
    ) -> WebSocketApi:
        """A WebSocket API with one stage; `routes` maps route keys to function names.

        A route value may be a `Route(function, return_response=True)` for two-way routes.
        `auth` is "AWS_IAM" (SigV4 on `$connect`, as relay's debug stack sets it) or "NONE".
        """
        if auth not in ("AWS_IAM", "NONE"):
            raise ValueError(f"auth must be 'AWS_IAM' or 'NONE', not {auth!r}")
        gateway = WebSocketGateway(
            name=name,
            stage=stage,
            routes=routes,
            functions=self._registry(),
            store=self._store,
            calls=self.calls,
            region=self.region,
            auth=auth,
            idle_timeout=self.idle_timeout,
            max_duration=self.max_connection_duration,
        )
        self._gateways.append(gateway)
        self._on_loop(gateway.start())
        return gateway.api

    def create_rest_api(self, spec: RestApiSpec) -> RestApi:
        """Serve an API Gateway REST API stage on its own port (`api.url` ends in /stage/)."""
        api = RestApi(
            spec, self._registry(), self.calls, region=self.region, account_id=self.account_id
        )
        self._apis.append(api)
        self._on_loop(api.start())
        return api

    def create_http_api(self, spec: HttpApiSpec) -> HttpApi:
        """Serve an API Gateway HTTP API stage on its own port."""
        api = HttpApi(
            spec, self._registry(), self.calls, region=self.region, account_id=self.account_id
        )
        self._apis.append(api)
        self._on_loop(api.start())
        return api

    def create_function(
        self,
        config: FunctionConfig,
        *,
        url: bool = False,
        role_credentials: Credentials | None = None,
    ) -> FunctionInfo:
        """Create (or replace) a function; `url=True` also gives it a function URL.

        The function runs with temporary role credentials the emulator issues (or
        `role_credentials`), and boto3 inside it reaches the emulated DynamoDB, S3 and Lambda.
        """
        registry = self._registry()
        function = registry.prepare(config, role_credentials)
        runtime = self._runtime
        assert runtime is not None
        self._call(lambda: runtime.configure(function.config))
        if url and function.function_url is None:
            endpoint = FunctionUrl(function, registry, self.calls)
            function.function_url = endpoint.url
            self._urls.append(endpoint)
            self._on_loop(endpoint.start())
        return function.info()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Emulator:
        """Start on a private loop in a background thread (for synchronous callers)."""
        if self._loop is not None:
            raise RuntimeError("this Emulator is already started")
        loop = eventloop.new_event_loop()
        self._loop, self._owns_loop = loop, True
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="relay-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), loop).result()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every server, the functions' workers and moto; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or not self._owns_loop:
            return
        try:
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(self._aclose(), loop).result(timeout=60)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout=30)
            loop.close()
            self._loop = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Emulator:
        if self._loop is not None:
            raise RuntimeError("this Emulator is already started")
        self._loop, self._owns_loop = asyncio.get_running_loop(), False
        try:
            await self._astart()
        except BaseException:
            await self._aclose()
            self._loop = None
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._aclose()
        finally:
            self._loop = None

    # -- internals ---------------------------------------------------------------------

    async def _astart(self) -> None:
        from relay.runtime import LocalRuntime

        if self._use_moto:
            from moto.server import ThreadedMotoServer

            from relay.emulator import moto_fixes

            moto_fixes.apply()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            await asyncio.to_thread(server.start)
            self._moto = server
            host, port = server.get_host_and_port()
            self._moto_url = f"http://{host}:{port}"
        self._build_lambda_front()
        assert self._lambda is not None and self._functions is not None
        runtime = LocalRuntime(
            max_workers=self._runtime_workers,
            spares=self._runtime_spares,
            watch=self._watch,
            on_log=self._on_log,
        )
        await runtime.start()
        self._runtime = runtime
        self._functions.runtime = runtime
        await self._lambda.start()
        if self._moto_url:
            self._sources = EventSources(
                functions=self._functions,
                loop=asyncio.get_running_loop(),
                client=self.service_client,
                region=self.region,
                account_id=self.account_id,
            )
            self._sources.start()
            self._control = ControlApi(self._sources)
            await self._control.start()

    def _build_lambda_front(self) -> None:
        """Build the function registry and Lambda API once the service URLs are known."""
        service_env = {}
        if self._moto_url:
            # boto3 honours AWS_ENDPOINT_URL for every service; Lambda is overridden below.
            service_env["AWS_ENDPOINT_URL"] = self._moto_url
            service_env["AWS_ENDPOINT_URL_DYNAMODB"] = self._moto_url
            service_env["AWS_ENDPOINT_URL_S3"] = self._moto_url
        self._functions = FunctionRegistry(
            region=self.region,
            account_id=self.account_id,
            store=self._store,
            service_env=service_env,
            concurrency=self._concurrency,
        )
        self._lambda = LambdaApi(
            functions=self._functions, store=self._store, calls=self.calls, region=self.region
        )
        self._functions.service_env["AWS_ENDPOINT_URL_LAMBDA"] = self._lambda.url

    async def _aclose(self) -> None:
        for future in list(self._pending):
            if not future.done():
                await asyncio.wait([future], timeout=5)
        for gateway in self._gateways:
            await gateway.close()
        for endpoint in self._urls:
            await endpoint.close()
        for api in self._apis:
            await api.close()
        if self._control is not None:
            await self._control.close()
        if self._sources is not None:
            await self._sources.close()
            self._sources = None
        if self._lambda is not None:
            await self._lambda.close()
        if self._runtime is not None:
            await self._runtime.close()
            self._runtime = None
        if self._moto is not None:
            await asyncio.to_thread(self._moto.stop)
            self._moto = None

    def _require_started(self) -> None:
        if self._functions is None or self._runtime is None:
            raise RuntimeError(
                "the emulator is not started: use `with Emulator() as emu:` or `async with`"
            )

    def _registry(self) -> FunctionRegistry:
        self._require_started()
        assert self._functions is not None
        return self._functions

    def _in_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _call(self, fn: Callable[[], object]) -> None:
        """Run a synchronous step on the loop: now if we are on it, else wait for it."""
        assert self._loop is not None
        if self._in_loop_thread():
            fn()
            return

        async def step() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(step(), self._loop).result()

    def _on_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        """Start a server: awaited from other threads, scheduled when called on the loop.

        Scheduling is safe because the socket is already listening: connections queue in the
        backlog until the loop runs the task, which happens before it reads any of them.
        """
        assert self._loop is not None
        if self._in_loop_thread():
            task = self._loop.create_task(coro)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return
        asyncio.run_coroutine_threadsafe(coro, self._loop).result()
