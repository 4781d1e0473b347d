"""CDK constructs relay deploys: the per-stage DebugStack, the live Aspect, the demo app."""
