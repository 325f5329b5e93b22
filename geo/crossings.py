"""Who can really get across the road: big roads are crossed only where a crossing exists.

(The walking network is built from the extract's walkable ways by :func:`walk_ways`.)
"""

from __future__ import annotations


def walk_ways(extract):
    """The walkable ways of ``extract`` as the network is built from them."""
    return extract.ways
