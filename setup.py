"""Build hook for the optional C match collector (detectors/_hsscan.c); metadata is in pyproject.toml.

The extension needs a C compiler and the system hyperscan headers (Debian: gcc, libhyperscan-dev,
which deploy/install.sh installs). ``optional=True``: without them the install still succeeds and
detectors/matcher.py falls back to the python-hyperscan callback path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "detectors._hsscan",
            sources=["detectors/_hsscan.c"],
            libraries=["hs"],
            optional=True,
        )
    ]
)
