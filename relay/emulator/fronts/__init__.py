"""The app's front doors in the emulator: API Gateway REST and HTTP APIs, event sources
(SQS, SNS, S3 notifications, EventBridge rules and schedules). Each invokes functions only
through `FunctionRegistry.invoke`, the one door the Lambda API and function URLs use too."""
