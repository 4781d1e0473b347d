"""bench/bench_apps.py's app: three functions, each with its own requirements.txt, bundled
the way PythonFunction bundles (pip install -r requirements.txt into the asset), here by a
local bundler so that `cdk synth` can bundle without Docker."""

import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_


@jsii.implements(cdk.ILocalBundling)
class PipInstall:
    def __init__(self, source: Path) -> None:
        self.source = source

    def try_bundle(self, output_dir: str, *args, **kwargs) -> bool:
        requirements = str(self.source / "requirements.txt")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-r", requirements, "-t", output_dir],
            check=True,
        )  # fmt: skip
        shutil.copytree(self.source, output_dir, dirs_exist_ok=True)
        return True


class ThreeStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        for name in ("dates", "slugs", "tables"):
            source = Path("functions", name).resolve()
            code = lambda_.Code.from_asset(
                str(source),
                bundling=cdk.BundlingOptions(
                    image=lambda_.Runtime.PYTHON_3_11.bundling_image,
                    local=PipInstall(source),
                ),
            )
            lambda_.Function(
                self,
                name.title(),
                runtime=lambda_.Runtime.PYTHON_3_11,
                handler="main.handler",
                code=code,
            )


app = cdk.App()
ThreeStack(app, "three")
app.synth()
