"""Code that runs in AWS in place of each function (see relay/stub_asset.py for the asset)."""
