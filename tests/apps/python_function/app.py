"""`PythonFunction` / `PythonLayerVersion` (aws-lambda-python-alpha): bundled with Docker by
`cdk deploy`, each with its own requirements.txt."""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_python_alpha as python


class SlugStack(cdk.Stack):
    def __init__(self, scope, id: str) -> None:
        super().__init__(scope, id)
        layer = python.PythonLayerVersion(
            self,
            "Common",
            entry="layers/common",
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
        )
        python.PythonFunction(
            self,
            "Slugify",
            entry="functions/slug",
            index="main.py",
            handler="handle",
            runtime=lambda_.Runtime.PYTHON_3_11,
            layers=[layer],
        )


app = cdk.App()
SlugStack(app, "slugs")
app.synth()
