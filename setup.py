"""setuptools' package list (pyproject.toml holds everything else).

The repository keeps ``infra/`` and ``stub_lambda/`` at the top level, but they are installed
under relay's name, as ``relay.cdk`` and ``relay.stub_lambda``, so that an app with its own
``infra`` package neither shadows relay's nor is shadowed by it. pyproject's
``[tool.setuptools]`` cannot combine package discovery with such renames, hence this file.
"""

from setuptools import find_packages, setup

RENAMED = {"relay.cdk": "infra", "relay.stub_lambda": "stub_lambda"}

setup(
    packages=[
        *find_packages(include=["relay", "relay.*"]),
        *(
            f"{name}.{sub}" if sub else name
            for name, folder in RENAMED.items()
            for sub in ["", *find_packages(folder)]
        ),
    ],
    package_dir=RENAMED,
)
