"""Lambda's control and invoke API as boto3's `lambda` client sees it with `endpoint_url`:
Invoke (RequestResponse, Event, DryRun; LogType=Tail), GetFunction, ListFunctions and
GetFunctionUrlConfig. Requests are SigV4-checked like any AWS API (service `lambda`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, unquote

from relay.emulator import http, ids
from relay.emulator.credentials import CredentialStore
from relay.emulator.errors import aws_error
from relay.emulator.functions import Function, FunctionRegistry
from relay.emulator.sigv4 import SignatureError, verify_request

log = logging.getLogger("relay.emulator")

SYNC_REQUEST_LIMIT = 6 * 1024 * 1024  # 6291456, Lambda's synchronous payload quota
ASYNC_REQUEST_LIMIT = 1024 * 1024
SYNC_RESPONSE_LIMIT = 6291556  # the figure Lambda names in Function.ResponseSizeTooLarge
LOG_TAIL_BYTES = 4096


def _not_found(
    name: str, registry: FunctionRegistry, qualifier: str | None = None
) -> http.Response:
    arn = name if name.startswith("arn:") else registry.arn(name)
    if qualifier and not arn.endswith(f":{qualifier}"):
        arn = f"{arn}:{qualifier}"
    return aws_error(
        404, "ResourceNotFoundException", f"Function not found: {arn}", lambda_style=True
    )


class LambdaApi:
    """The HTTP front of the emulator's functions; one per emulator, on its own port."""

    def __init__(
        self,
        *,
        functions: FunctionRegistry,
        store: CredentialStore,
        calls: Counter[str],
        region: str,
    ) -> None:
        self.functions = functions
        self.store = store
        self.calls = calls
        self.region = region
        self._sock = http.bind()
        self._server: http.HttpServer | None = None
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await http.serve(self.handle, self._sock)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
        for task in list(self._background):
            task.cancel()

    async def handle(self, request: http.Request) -> http.Response:
        try:
            verify_request(request, service="lambda", region=self.region, store=self.store)
        except SignatureError as exc:
            return aws_error(exc.status, exc.error_type, exc.message)
        parts = [unquote(p) for p in request.path.split("/")]
        # ['', '2015-03-31', 'functions', NAME, 'invocations']
        if (
            len(parts) == 5
            and parts[1:3] == ["2015-03-31", "functions"]
            and parts[4] == "invocations"
            and request.method == "POST"
        ):
            return await self.invoke(parts[3], request)
        if parts[1:3] == ["2015-03-31", "functions"] and request.method == "GET":
            if len(parts) == 3 or (len(parts) == 4 and parts[3] == ""):
                return self.list_functions()
            if len(parts) == 4:
                return self.get_function(parts[3], request)
        if (
            len(parts) == 5
            and parts[1] == "2021-10-31"
            and parts[4] == "url"
            and request.method == "GET"
        ):
            return self.get_function_url_config(parts[3])
        return aws_error(
            404,
            "UnknownOperationException",
            f"relay's emulated Lambda does not serve {request.method} {request.path}; it serves "
            "Invoke, GetFunction, ListFunctions and GetFunctionUrlConfig.",
            lambda_style=True,
        )

    # -- Invoke ------------------------------------------------------------------------

    async def invoke(self, name: str, request: http.Request) -> http.Response:
        self.calls["Invoke"] += 1
        query = dict(parse_qsl(request.query))
        function, qualifier = self.functions.resolve(name)
        qualifier = query.get("Qualifier") or qualifier
        if function is None or qualifier not in (None, "$LATEST"):
            return _not_found(name, self.functions, qualifier)
        invocation_type = request.header("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            return aws_error(
                400,
                "InvalidParameterValueException",
                f"Unsupported InvocationType {invocation_type!r}: use RequestResponse, Event "
                "or DryRun.",
                lambda_style=True,
            )
        limit, operation = (
            (ASYNC_REQUEST_LIMIT, "InvokeAsync")
            if invocation_type == "Event"
            else (SYNC_REQUEST_LIMIT, "InvokeFunction")
        )
        if len(request.body) > limit:
            return aws_error(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for the {operation} operation",
                lambda_style=True,
            )
        payload = request.body or b"{}"
        try:
            json.loads(payload)
        except ValueError as exc:
            return aws_error(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
                lambda_style=True,
            )
        request_id = ids.request_id()
        if invocation_type == "DryRun":
            return http.Response(204, b"", [("x-amzn-RequestId", request_id)])
        client_context = request.header("X-Amz-Client-Context")
        if client_context is not None:
            try:
                client_context = base64.b64decode(client_context, validate=True).decode()
            except ValueError:
                return aws_error(
                    400,
                    "InvalidRequestContentException",
                    "Client context must be a valid Base64-encoded JSON object.",
                    lambda_style=True,
                )
        if invocation_type == "Event":
            task = asyncio.get_running_loop().create_task(
                self._run_event(function, payload, request_id, client_context)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return http.Response(202, b"", [("x-amzn-RequestId", request_id)])

        result = await self.functions.invoke(
            function, payload, request_id=request_id, client_context=client_context
        )
        body, function_error = result.payload, result.function_error
        if function_error is None and len(body) > SYNC_RESPONSE_LIMIT:
            body = json.dumps(
                {
                    "errorMessage": "Response payload size exceeded maximum allowed payload "
                    f"size ({SYNC_RESPONSE_LIMIT} bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            ).encode()
            function_error = "Unhandled"
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", result.request_id),
            ("X-Amz-Executed-Version", "$LATEST"),
        ]
        if function_error:
            headers.append(("X-Amz-Function-Error", function_error))
        if request.header("X-Amz-Log-Type") == "Tail":
            tail = result.logs.encode()[-LOG_TAIL_BYTES:]
            headers.append(("X-Amz-Log-Result", base64.b64encode(tail).decode()))
        return http.Response(200, body, headers)

    async def _run_event(
        self, function: Function, payload: bytes, request_id: str, client_context: str | None
    ) -> None:
        """An asynchronous invocation: queued, run once (no retries), errors logged."""
        try:
            result = await self.functions.invoke(
                function, payload, request_id=request_id, client_context=client_context
            )
        except Exception:
            log.exception("emulator: Event invocation %s of %s failed", request_id, function.name)
            return
        if result.function_error:
            log.warning(
                "emulator: Event invocation %s of %s returned an error: %s",
                request_id,
                function.name,
                result.payload[:1000].decode(errors="replace"),
            )

    # -- control plane -----------------------------------------------------------------

    def _configuration(self, function: Function) -> dict[str, Any]:
        config = function.config
        public_env = {
            k: v
            for k, v in config.environment.items()
            if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
        }
        return {
            "FunctionName": function.name,
            "FunctionArn": function.arn,
            "Runtime": "python3.11",
            "Role": f"arn:aws:iam::{self.functions.account_id}:role/{function.name}-role",
            "Handler": config.handler,
            "Timeout": int(config.timeout),
            "MemorySize": config.memory_mb,
            "Version": "$LATEST",
            "Environment": {"Variables": public_env},
            "State": "Active",
            "PackageType": "Zip",
            "Architectures": ["x86_64"],
        }

    def get_function(self, name: str, request: http.Request) -> http.Response:  # noqa: ARG002
        self.calls["GetFunction"] += 1
        function, _ = self.functions.resolve(name)
        if function is None:
            return _not_found(name, self.functions)
        return http.Response.json(
            200,
            {
                "Configuration": self._configuration(function),
                "Code": {"RepositoryType": "Local", "Location": str(function.config.code_dir)},
            },
        )

    def list_functions(self) -> http.Response:
        self.calls["ListFunctions"] += 1
        return http.Response.json(
            200, {"Functions": [self._configuration(f) for f in self.functions.all()]}
        )

    def get_function_url_config(self, name: str) -> http.Response:
        self.calls["GetFunctionUrlConfig"] += 1
        function, _ = self.functions.resolve(name)
        if function is None or function.function_url is None:
            return aws_error(
                404,
                "ResourceNotFoundException",
                f"The resource you requested does not exist: no function URL for {name}.",
                lambda_style=True,
            )
        return http.Response.json(
            200,
            {
                "FunctionUrl": function.function_url,
                "FunctionArn": function.arn,
                "AuthType": "NONE",
                "InvokeMode": "BUFFERED",
                "CreationTime": "2024-01-01T00:00:00.000+0000",
                "LastModifiedTime": "2024-01-01T00:00:00.000+0000",
            },
        )
