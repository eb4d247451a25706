"""Which files the wheel carries: the one thing pyproject.toml cannot say (everything else is there).

conf/ stays at the top level of the repository, where the project's layout puts it, and ships
inside the wheel as ``argen/conf`` (packages ``argen.conf.*``, YAML only), so an installed argen
finds its configs from any directory (:data:`argen.config.CONF_DIR`). The bundled scenarios,
Rego policies, the heuristic judge's scope model and the learned judge's heads ship as data of their directories.
"""

from setuptools import find_namespace_packages, setup

SKIP = ["*.__pycache__", "*.__pycache__.*"]
CODE = find_namespace_packages(include=["argen", "argen.*"], exclude=SKIP)
CONF = ["argen.conf", *(f"argen.conf.{name}" for name in find_namespace_packages(where="conf", exclude=SKIP))]

setup(
    packages=[*CODE, *CONF],
    package_dir={"argen.conf": "conf"},
    package_data={
        "argen.data.scenarios": ["*.jsonl"],
        "argen.policy.rego": ["*.rego"],
        "argen.judges": ["*.npz"],  # the heuristic judge's scope model, the learned judge's heads
        **{name: ["*.yaml"] for name in CONF},
    },
)
