"""Places IP addresses in countries, for the cross-border decision in ``sensor.policy``.

The package owns:

* ``geoip/data/country.mmdb.xz``: the bundled country database, a MaxMind DB built from the
  IPFire Location data (CC BY-SA 4.0) shipped in Debian's ``tor-geoipdb``; see
  ``geoip/data/ATTRIBUTION.md`` for the source, the date and the licence.
* :mod:`geoip.reader`: :class:`CountryDatabase`, which opens the bundled database or any
  GeoLite2/DB-IP country MMDB (records are GeoLite2-shaped, so those are drop-ins).
* :mod:`geoip.builder`: turns tor's ``geoip``/``geoip6`` range files into the MMDB.
* :mod:`geoip.cli`: ``egress geoip lookup|info|build``.

Rebuild the bundled database after a ``tor-geoipdb`` update (needs ``egress[geoip-build]``,
takes a few minutes)::

    apt-get install tor-geoipdb && egress geoip build
"""

from geoip.reader import CountryDatabase, GeoIPError

__all__ = ["CountryDatabase", "GeoIPError"]
