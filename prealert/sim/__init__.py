"""``prealert simulate``: a living city from real data. Ambulances from stations drive real shortest paths on the
region's road graph, incidents arrive as a Poisson process, patients' vitals replay real monitor series shaped by
their condition, the hospitals' ED status drifts, and every message goes over the real protocol.

``stations``, ``city`` and ``patients`` are pure (an injected ``random.Random``, times as numbers); ``runner`` drives
a running service; ``summary`` turns a run into the figures it prints.
"""
