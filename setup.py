"""Build hook for the optional C extensions; metadata is in pyproject.toml.

* detectors/_hsscan.c, the match collector, needs a C compiler and the system hyperscan headers
  (Debian: gcc, libhyperscan-dev; deploy/install.sh installs them).
* detectors/_keyhash.c, the person-key HMAC loop, needs the OpenSSL headers (Debian: libssl-dev,
  also installed by deploy/install.sh).
* sensor/capture/_walk.c, the classic-pcap record walk and block header parser, and
  detectors/_kernels.c with _kernels_arrays.c and _kernels_hash.c, the dense-data validator, sort,
  hash and search loops,
  need only a C compiler and the Python headers.

``optional=True``: without them the install still succeeds and detectors/matcher.py falls back to the
python-hyperscan callback path, detectors/individuals.py to hashlib, the validators to their numpy
kernels, sensor/capture/walk.py and sensor/decode/headers.py to their Python and numpy versions.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "detectors._hsscan",
            sources=["detectors/_hsscan.c"],
            libraries=["hs"],
            optional=True,
        ),
        Extension(
            "detectors._keyhash",
            sources=["detectors/_keyhash.c"],
            libraries=["crypto"],
            optional=True,
        ),
        Extension(
            "sensor.capture._walk",
            sources=["sensor/capture/_walk.c"],
            optional=True,
        ),
        Extension(
            "detectors._kernels",
            sources=[
                "detectors/_kernels.c",
                "detectors/_kernels_arrays.c",
                "detectors/_kernels_hash.c",
            ],
            depends=["detectors/_kernels.h"],
            optional=True,
        ),
    ]
)
